"""The image registry of a conversation: ``image_1``, ``image_2``, … in order of entry.

User attachments and images that tools make (zoom crops, box overlays) share one
numbering, kept across turns, because that is how the model refers to them. Each entry
keeps the loaded image, where it came from, its parent and crop box (so boxes found in a
crop map back), and its wire data URL, computed once so the model is sent the same bytes
every time (SGLang's prefix cache keys on them).

Together with a model backend the registry is the :class:`tools.base.ToolContext` the
tools run with. It serialises to JSON with image bytes referenced by sha256; the bytes
live in an :class:`ImageStore` (by default files under ``$KANJIAN_HOME/images/``), so a
session can be resumed in another process.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kanjian.memory.images import atomic_write
from kanjian.tools.errors import ToolInputError

if TYPE_CHECKING:
    from PIL.Image import Image

    from kanjian.tools.base import DerivedImage
    from kanjian.vlm.images import LoadedImage
    from kanjian.vlm.tiling import TileRule
    from kanjian.vlm.types import ChatBackend

__all__ = [
    "DEFAULT_CONTEXT_TOKENS",
    "FileImageStore",
    "ImageEntry",
    "ImageRegistry",
    "ImageStore",
    "check_image_budget",
    "default_store",
]

CropBox = tuple[int, int, int, int]
# InternVL's context when the server does not say (SGLang serves InternVL 1.5 at 32k).
DEFAULT_CONTEXT_TOKENS = 32768
# What /model_info (SGLang) or a /v1/models card (vLLM and others) calls the context length.
_CONTEXT_KEYS = ("context_length", "max_model_len", "max_context_length", "max_total_num_tokens")
_EXTENSIONS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}


class ImageStore(Protocol):
    """Where image bytes live, by content hash (memory may supply its own)."""

    def put(self, data: bytes, sha256: str, fmt: str) -> str:
        """Store ``data`` once; return where it is (a path or other locator)."""
        ...

    def get(self, sha256: str) -> bytes:
        """The bytes stored under ``sha256``; raises ``FileNotFoundError`` if none."""
        ...


class FileImageStore:
    """``<root>/<sha256>.<ext>``, written atomically, each content once.

    When ``root`` cannot be written (a read-only ``KANJIAN_HOME``), images are kept in this
    process's memory instead: the question can still be answered, only not resumed later.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._kept: dict[str, bytes] = {}

    def put(self, data: bytes, sha256: str, fmt: str) -> str:
        path = self.root / f"{sha256}.{_EXTENSIONS.get(fmt.upper(), fmt.lower() or 'bin')}"
        try:
            if not path.exists():
                atomic_write(path, data, durable=False)
        except OSError:
            self._kept[sha256] = data
            return ""  # nowhere on disk; ImageEntry.path "" means "in memory only"
        return str(path)

    def get(self, sha256: str) -> bytes:
        if sha256 in self._kept:
            return self._kept[sha256]
        for path in self.root.glob(f"{sha256}.*"):
            return path.read_bytes()
        raise FileNotFoundError(f"No stored image with sha256 {sha256!r} under {self.root}.")


def default_store() -> FileImageStore:
    from kanjian.agent.config import data_dir

    return FileImageStore(data_dir() / "images")


@dataclass(slots=True)
class ImageEntry:
    id: str
    sha256: str
    format: str
    origin: str
    width: int
    height: int
    parent: str | None = None
    crop_px: CropBox | None = None
    # Where the bytes are stored (for display, and ``images`` in ``ask --json``).
    path: str | None = None
    # Loaded on first use when the entry was read back from JSON.
    loaded: LoadedImage | None = None
    wire_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sha256": self.sha256,
            "format": self.format,
            "origin": self.origin,
            "width": self.width,
            "height": self.height,
            "parent": self.parent,
            "crop_px": list(self.crop_px) if self.crop_px else None,
            "path": self.path,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageEntry:
        crop = data.get("crop_px")
        return cls(
            id=data["id"],
            sha256=data["sha256"],
            format=data.get("format", "PNG"),
            origin=data.get("origin", ""),
            width=int(data.get("width", 0)),
            height=int(data.get("height", 0)),
            parent=data.get("parent"),
            crop_px=(int(crop[0]), int(crop[1]), int(crop[2]), int(crop[3])) if crop else None,
            path=data.get("path"),
        )


class ImageRegistry:
    """Images by id for one conversation; also the tools' :class:`~tools.base.ToolContext`."""

    def __init__(
        self,
        backend: ChatBackend | None = None,
        *,
        store: ImageStore | None = None,
        max_num: int = 12,
    ) -> None:
        self._backend = backend
        self._store = store
        self.max_num = max_num
        self._entries: dict[str, ImageEntry] = {}

    # -- ToolContext ------------------------------------------------------------------

    @property
    def backend(self) -> ChatBackend | None:
        return self._backend

    @backend.setter
    def backend(self, backend: ChatBackend | None) -> None:
        self._backend = backend

    def image(self, image_id: str) -> Image:
        return self.loaded(image_id).image

    def image_ids(self) -> list[str]:
        return list(self._entries)

    def wire_url(self, image_id: str) -> str:
        entry = self.entry(image_id)
        if entry.wire_url is None:
            from kanjian.vlm.wire import prepare_for_wire

            rule, max_num = self.tiling()
            loaded = self.loaded(image_id)
            entry.wire_url = prepare_for_wire(loaded, rule=rule, max_num=max_num).data_url
        return entry.wire_url

    def tiling(self) -> tuple[TileRule, int]:
        """How the backend tiles images, so the wire copy keeps every pixel it will use.

        SGLang fixes InternVL 1.5 at its own rule with max_num 12; the local backend uses
        the official rule with a settable max_num (up to 40 for 4K inputs).
        """
        from kanjian.vlm.local import LocalBackend  # light: torch loads only on its first request

        if isinstance(self._backend, LocalBackend):
            return "official", self._backend.max_num
        return "sglang", self.max_num

    def crop_of(self, image_id: str) -> tuple[str, CropBox] | None:
        entry = self.entry(image_id)
        if entry.parent is None or entry.crop_px is None:
            return None
        return entry.parent, entry.crop_px

    # -- entries ------------------------------------------------------------------------

    @property
    def store(self) -> ImageStore:
        if self._store is None:
            self._store = default_store()
        return self._store

    def entry(self, image_id: str) -> ImageEntry:
        try:
            return self._entries[image_id]
        except KeyError:
            known = ", ".join(self._entries) or "none"
            raise ToolInputError(
                f"Image {image_id!r} does not exist; the images are: {known}. "
                "Refer to one of them by its id."
            ) from None

    def entries(self) -> list[ImageEntry]:
        return list(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._entries

    def loaded(self, image_id: str) -> LoadedImage:
        entry = self.entry(image_id)
        if entry.loaded is None:
            from kanjian.vlm.images import load_image

            data = self.store.get(entry.sha256)
            entry.loaded = load_image(data, name=entry.origin)
        return entry.loaded

    def add(
        self,
        loaded: LoadedImage,
        *,
        origin: str | None = None,
        parent: str | None = None,
        crop_px: CropBox | None = None,
    ) -> ImageEntry:
        """Register ``loaded`` as the next ``image_N`` and store its bytes."""
        entry = ImageEntry(
            id=f"image_{len(self._entries) + 1}",
            sha256=loaded.sha256,
            format=loaded.format,
            origin=origin or loaded.origin,
            width=loaded.width,
            height=loaded.height,
            parent=parent,
            crop_px=crop_px,
            path=self.store.put(loaded.data, loaded.sha256, loaded.format),
            loaded=loaded,
        )
        self._entries[entry.id] = entry
        return entry

    def add_derived(self, derived: DerivedImage) -> ImageEntry:
        """Register an image a tool made (encoded once as PNG, so its bytes are stable)."""
        from kanjian.vlm.images import load_image

        buffer = io.BytesIO()
        derived.image.convert("RGB").save(buffer, format="PNG")
        loaded = load_image(buffer.getvalue(), name=derived.origin)
        return self.add(
            loaded, origin=derived.origin, parent=derived.parent, crop_px=derived.crop_px
        )

    def truncate(self, count: int) -> None:
        """Forget every image after the first ``count`` (a cancelled turn's images)."""
        for image_id in list(self._entries)[count:]:
            del self._entries[image_id]

    def rebase(self, saved: list[dict[str, Any]], known: int) -> dict[str, str]:
        """Adopt the images another process saved past our first ``known``; renumber ours.

        Used when two processes continued one session at once: their images keep their
        ids, this process's new ones move after them. Returns ``{old id: new id}``.
        """
        theirs = [ImageEntry.from_json(item) for item in saved[known:]]
        ours = self.entries()[known:]
        renamed: dict[str, str] = {}
        for number, entry in enumerate(ours, start=len(saved) + 1):
            renamed[entry.id] = entry.id = f"image_{number}"
        for entry in ours:
            entry.parent = renamed.get(entry.parent or "", entry.parent)
        kept = self.entries()[:known]
        self._entries = {e.id: e for e in (*kept, *theirs, *ours)}
        return {old: new for old, new in renamed.items() if old != new}

    def origins(self) -> dict[str, str]:
        """``{"image_1": "<path or origin>"}`` as ``ask --json`` reports it."""
        return {
            e.id: e.origin if e.parent is None else (e.path or e.origin) for e in self.entries()
        }

    # -- persistence --------------------------------------------------------------------

    def to_json(self) -> list[dict[str, Any]]:
        return [e.to_json() for e in self.entries()]

    @classmethod
    def from_json(
        cls,
        data: list[dict[str, Any]],
        backend: ChatBackend | None = None,
        *,
        store: ImageStore | None = None,
    ) -> ImageRegistry:
        registry = cls(backend, store=store)
        for item in data:
            entry = ImageEntry.from_json(item)
            registry._entries[entry.id] = entry
        return registry


async def check_image_budget(registry: ImageRegistry) -> None:
    """Refuse, before anything is sent, a conversation whose images alone overflow the context.

    Every image of the conversation is sent with each request, each costing 256 tokens per
    448x448 tile plus a thumbnail (the tile rule, :func:`kanjian.vlm.tiling.image_tokens`).
    The context comes from the server's model info, else :data:`DEFAULT_CONTEXT_TOKENS`.
    """
    from kanjian.agent.errors import InputError
    from kanjian.vlm.tiling import image_tokens

    entries = registry.entries()
    if not entries:
        return
    rule, max_num = registry.tiling()
    costs = [image_tokens(e.width, e.height, rule=rule, max_num=max_num) for e in entries]
    context = await _context_tokens(registry.backend)
    if sum(costs) <= context:
        return
    fit = _how_many_fit(costs, context)
    raise InputError(
        f"The {len(entries)} images of this question come to about {sum(costs):,} prompt "
        f"tokens by the tile rule (256 per 448x448 tile, plus a thumbnail), more than the "
        f"model's context of {context:,} tokens; ask about at most {fit} of them at once, "
        "or start a new conversation."
    )


def _how_many_fit(costs: list[int], context: int) -> int:
    total = fit = 0
    for cost in costs:
        total += cost
        if total > context:
            break
        fit += 1
    return fit


async def _context_tokens(backend: ChatBackend | None) -> int:
    """The model's context length as its server reports it, else the default."""
    from kanjian.vlm.errors import ServerTimeout, VLMError

    if backend is None:
        return DEFAULT_CONTEXT_TOKENS
    try:
        info = await backend.model_info()
    except ServerTimeout:
        raise  # a stuck server: say so now, rather than wait again for the chat request
    except VLMError:
        return DEFAULT_CONTEXT_TOKENS
    for key in _CONTEXT_KEYS:
        value = info.extra.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return DEFAULT_CONTEXT_TOKENS
