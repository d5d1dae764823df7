"""A small :class:`~tools.base.ToolContext` over a dict of images.

The agent has its own context (its image registry); this one is for running tools outside a
conversation: the direct commands (``kanjian ocr``, ``kanjian ground``), ``kanjian tools run``,
tests, and plugin authors trying a tool from Python::

    ctx = SimpleToolContext({"image_1": Image.open("receipt.png")})
    output = await registry.get("ocr").run({"image": "image_1"}, ctx)

Images that tools make can be added back with :meth:`SimpleToolContext.add`, which names them
``image_N`` the way the agent does and remembers crops so that boxes map back.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from kanjian.tools.base import DerivedImage
from kanjian.tools.errors import ToolInputError

if TYPE_CHECKING:
    from PIL.Image import Image

    from kanjian.vlm.images import LoadedImage
    from kanjian.vlm.types import ChatBackend

__all__ = ["SimpleToolContext"]

CropBox = tuple[int, int, int, int]


class SimpleToolContext:
    """Images by id, an optional model backend, and where each crop came from."""

    def __init__(
        self,
        images: dict[str, Image | LoadedImage] | None = None,
        backend: ChatBackend | None = None,
        crops: dict[str, tuple[str, CropBox]] | None = None,
    ) -> None:
        self._images: dict[str, Image] = {}
        # Images loaded from files keep their original bytes, which may go out as they are.
        self._loaded: dict[str, LoadedImage] = {}
        self._crops: dict[str, tuple[str, CropBox]] = dict(crops or {})
        self._urls: dict[str, str] = {}
        self._backend = backend
        for image_id, image in (images or {}).items():
            self._put(image_id, image)

    def _put(self, image_id: str, image: Image | LoadedImage) -> None:
        from kanjian.vlm.images import LoadedImage

        if isinstance(image, LoadedImage):
            self._loaded[image_id] = image
            image = image.image
        self._images[image_id] = _rgb(image)

    @property
    def backend(self) -> ChatBackend | None:
        return self._backend

    def image(self, image_id: str) -> Image:
        try:
            return self._images[image_id]
        except KeyError:
            known = ", ".join(self._images) or "none"
            raise ToolInputError(
                f"Image {image_id!r} does not exist; the images are: {known}."
            ) from None

    def image_ids(self) -> list[str]:
        return list(self._images)

    def wire_url(self, image_id: str) -> str:
        # Cached so that the same image is sent as the same bytes (the server's prefix cache).
        if image_id not in self._urls:
            self._urls[image_id] = self._wire(image_id)
        return self._urls[image_id]

    def _wire(self, image_id: str) -> str:
        from kanjian.vlm.images import load_image
        from kanjian.vlm.wire import prepare_for_wire

        loaded = self._loaded.get(image_id)
        if loaded is None:
            loaded = load_image(png_bytes(self.image(image_id)), name=image_id)
        # Sized to the tile grid the server uses, so no byte is sent that it would discard.
        return prepare_for_wire(loaded).data_url

    def crop_of(self, image_id: str) -> tuple[str, CropBox] | None:
        self.image(image_id)
        return self._crops.get(image_id)

    def add(self, image: DerivedImage | Image | LoadedImage) -> str:
        """Register an image as the next ``image_N`` and return its id."""
        image_id = f"image_{len(self._images) + 1}"
        if isinstance(image, DerivedImage):
            self._put(image_id, image.image)
            if image.parent is not None and image.crop_px is not None:
                self._crops[image_id] = (image.parent, image.crop_px)
        else:
            self._put(image_id, image)
        return image_id


def _rgb(image: Image) -> Image:
    return image if image.mode == "RGB" else image.convert("RGB")


def png_bytes(image: Image) -> bytes:
    """Lossless, and byte-identical for the same pixels (no metadata written)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
