"""The memory API the agent, the CLI and scripts call: :class:`Memory`.

Every method is async and runs the synchronous engine (:class:`memory.core.MemoryCore`)
in a worker thread, so SQLite, chromadb and the embedder never block the event loop or
the TUI. ``Memory.open(settings)`` builds one from ``Settings.memory``; ``Memory.at(path)``
from a folder, for tests and scripts. ``kanjian.memory.core`` is the sync twin for scripts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kanjian.memory.core import MemoryCore, RecallSnapshot
from kanjian.memory.embedders import Embedder, make_embedder
from kanjian.memory.records import (
    Hit,
    ImageRecord,
    SearchMode,
    SessionRecord,
    StoredImageRef,
    TurnRecord,
)
from kanjian.memory.store import Filters

if TYPE_CHECKING:
    from kanjian.memory.settings import MemoryConfig

__all__ = ["Memory"]

When = float | datetime | None


def _ts(value: When) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else value


class Memory:
    """Conversations, images and recall. Open one per process and data dir; share it."""

    def __init__(self, core: MemoryCore) -> None:
        self.core = core

    @classmethod
    def open(cls, settings: MemoryConfig) -> Memory:
        """The memory configured by ``settings.memory`` under ``settings.memory_dir``."""
        m = settings.memory
        embedder = make_embedder(
            m.embedder, url=m.embed_url, model=m.embed_model, api_key=settings.vlm.api_key
        )
        return cls(MemoryCore(settings.memory_dir, embedder, m.url))

    @classmethod
    def at(cls, root: Path, embedder: Embedder | str = "auto", url: str | None = None) -> Memory:
        return cls(MemoryCore(Path(root), embedder, url))

    def close(self) -> None:
        self.core.close()

    async def __aenter__(self) -> Memory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    # -- sessions and turns -----------------------------------------------------------------

    async def new_session(self, title: str | None = None, *, session_id: str | None = None) -> str:
        """Create a session (or keep an existing ``session_id``); returns its id."""
        return await asyncio.to_thread(self.core.new_session, title, session_id)

    async def add_turn(
        self,
        session_id: str,
        question: str,
        answer: str,
        *,
        images: Sequence[StoredImageRef] = (),
        steps: Sequence[dict[str, Any]] = (),
        usage: dict[str, Any] | None = None,
        transcript: Sequence[dict[str, Any]] = (),
        ocr_text: str = "",
        labels: Sequence[str] = (),
        title: str | None = None,
    ) -> TurnRecord:
        """Append a turn durably (SQLite; the next recall or search embeds and indexes it,
        and so does closing a process that remembered many turns or uses a Chroma server);
        with ``title``, create the session in the same transaction if it is missing."""
        return await asyncio.to_thread(
            self.core.add_turn, session_id, question, answer,
            images=images, steps=steps, usage=usage, transcript=transcript,
            ocr_text=ocr_text, labels=labels, title=title,
        )  # fmt: skip

    async def get_session(self, session_id: str) -> SessionRecord:
        return await asyncio.to_thread(self.core.get_session, session_id)

    async def list_sessions(self, limit: int = 50, offset: int = 0) -> list[SessionRecord]:
        return await asyncio.to_thread(self.core.list_sessions, limit, offset)

    async def set_title(self, session_id: str, title: str) -> None:
        await asyncio.to_thread(self.core.store.set_title, session_id, title)

    async def forget(self, session_id: str) -> int:
        """Remove a session everywhere; returns how many image files were deleted."""
        return await asyncio.to_thread(self.core.forget, session_id)

    # -- images -----------------------------------------------------------------------------

    async def put_image(self, data: bytes, ext: str | None = None) -> str:
        """Store image bytes once (with a thumbnail); returns their sha256."""
        return await asyncio.to_thread(self.core.put_image, data, ext)

    def image_path(self, sha256: str) -> Path:
        return self.core.image_path(sha256)

    def image(self, sha256: str) -> ImageRecord:
        return self.core.image(sha256)

    # -- retrieval --------------------------------------------------------------------------

    async def search(
        self,
        query: str,
        k: int = 5,
        *,
        session: str | None = None,
        since: When = None,
        until: When = None,
        has_image: bool | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[Hit]:
        filters = Filters(session, _ts(since), _ts(until), has_image)
        return await asyncio.to_thread(self.core.search, query, k, mode=mode, filters=filters)

    async def recall(
        self,
        question: str,
        budget_tokens: int = 600,
        *,
        exclude_session: str | None = None,
        as_of: RecallSnapshot | None = None,
    ) -> list[Hit]:
        """Past turns to inject into a new conversation (cite ``hit.session``); with
        ``as_of``, from memory as it was when that :meth:`snapshot` was taken."""
        return await asyncio.to_thread(
            self.core.recall, question, budget_tokens, exclude_session=exclude_session, as_of=as_of
        )

    async def snapshot(self) -> RecallSnapshot:
        """Memory as it is now, for ``recall(as_of=...)``: later turns stay out of it."""
        return await asyncio.to_thread(self.core.snapshot)

    async def warm(self) -> None:
        """Load the embedder and the indexes in a worker thread (see ``MemoryCore.warm``)."""
        await asyncio.to_thread(self.core.warm)

    async def reindex(self) -> int:
        return await asyncio.to_thread(self.core.reindex)

    async def export(
        self, session_id: str | None, fmt: Literal["md", "json"], dest: Path
    ) -> list[Path]:
        """Write one session (or all) to ``dest`` with their images; returns the files."""
        from kanjian.memory.export import export_sessions

        return await asyncio.to_thread(export_sessions, self.core, session_id, fmt, Path(dest))
