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

import base64
import io
from typing import TYPE_CHECKING

from tools.base import DerivedImage
from tools.errors import ToolInputError

if TYPE_CHECKING:
    from PIL.Image import Image

    from vlm.types import ChatBackend

__all__ = ["SimpleToolContext"]

CropBox = tuple[int, int, int, int]


class SimpleToolContext:
    """Images by id, an optional model backend, and where each crop came from."""

    def __init__(
        self,
        images: dict[str, Image] | None = None,
        backend: ChatBackend | None = None,
        crops: dict[str, tuple[str, CropBox]] | None = None,
    ) -> None:
        self._images: dict[str, Image] = {}
        self._crops: dict[str, tuple[str, CropBox]] = dict(crops or {})
        self._urls: dict[str, str] = {}
        self._backend = backend
        for image_id, image in (images or {}).items():
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
            self._urls[image_id] = png_data_url(self.image(image_id))
        return self._urls[image_id]

    def crop_of(self, image_id: str) -> tuple[str, CropBox] | None:
        self.image(image_id)
        return self._crops.get(image_id)

    def add(self, derived: DerivedImage | Image) -> str:
        """Register an image as the next ``image_N`` and return its id."""
        image_id = f"image_{len(self._images) + 1}"
        if isinstance(derived, DerivedImage):
            self._images[image_id] = _rgb(derived.image)
            if derived.parent is not None and derived.crop_px is not None:
                self._crops[image_id] = (derived.parent, derived.crop_px)
        else:
            self._images[image_id] = _rgb(derived)
        return image_id


def _rgb(image: Image) -> Image:
    return image if image.mode == "RGB" else image.convert("RGB")


def png_data_url(image: Image) -> str:
    """``data:image/png;base64,...``: lossless, and byte-identical for the same pixels."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
