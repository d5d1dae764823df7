"""The glue between the chat app and the rest of kanjian: agent runs, health, memory, tools.

The app never talks HTTP and never builds an agent itself: it holds one :class:`ChatServices`
and calls it. A run is an :class:`EventSource` — an async callable that takes the question,
the attached image paths, the session id and an approver, and yields the agent's typed events
(:mod:`kanjian.agent.events`). The real source is an adapter over ``Agent.run``; tests pass a scripted
one. Everything heavy (the agent, LangChain, OCR, SymPy, chromadb) is imported inside the
methods, on first use, so that the first screen paints before any of it loads.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kanjian.tui.i18n import language, t

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from kanjian.agent.api import Kanjian
    from kanjian.agent.config import Settings
    from kanjian.agent.events import ApprovalRequest, Event, Recalled
    from kanjian.agent.session import Session
    from kanjian.memory.api import Memory

__all__ = [
    "Approver",
    "ChatServices",
    "EventSource",
    "Health",
    "MemoryHit",
    "PastTurn",
    "RecalledSession",
    "SessionSummary",
    "ToolInfo",
    "no_server_banner",
]

Approver = Callable[["ApprovalRequest"], Awaitable[bool]]

# Recalled once after the start so that the first real recall finds everything loaded: the
# embedder's model, the index, the lexical index and (for Chinese) the dictionary.
WARM_QUESTION = "receipt total 收据"


class EventSource(Protocol):
    """One agent run: the events of answering ``question`` about ``images``."""

    def __call__(
        self,
        question: str,
        images: Sequence[str],
        *,
        session: str | None,
        approver: Approver,
    ) -> AsyncGenerator[Event, None]: ...


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    # One sentence: why it is down, or which model answers.
    detail: str = ""
    model: str | None = None


@dataclass(frozen=True, slots=True)
class SessionSummary:
    id: str
    title: str
    created: str
    turns: int


@dataclass(frozen=True, slots=True)
class RecalledSession:
    """A past conversation whose turns were recalled into this one (the "recalled" row)."""

    id: str
    # Its title (the first question's first line); the recalled text's when it is unknown.
    title: str
    # ISO 8601, or "" when the session's record could not be read.
    created: str
    # The best gate score among its recalled turns.
    score: float


@dataclass(frozen=True, slots=True)
class PastTurn:
    question: str
    answer: str
    # (name for the model, path on disk) in conversation order.
    images: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class MemoryHit:
    session: str
    score: float
    text: str
    created: str


@dataclass(frozen=True, slots=True)
class ToolInfo:
    name: str
    description: str
    side_effects: bool


def no_server_banner(url: str, detail: str) -> str:
    """The one banner shown when no model answers, with the three ways to fix it."""
    # The client's sentence already names the server fixes when it could not connect.
    if "kanjian serve-model" in detail and language() == "en":
        reason = detail.rstrip(".")
    else:
        # The client's sentence is English and names the fixes; elsewhere its first clause
        # (what went wrong) goes inside our own sentence.
        cause = detail.split(". ", 1)[0].rstrip(".")
        reason = t("banner.no_server", server=url, detail=cause)
    return t("banner.no_server_tail", reason=reason)


class ChatServices:
    """What the chat app can ask for. Each method loads its part of kanjian on first use."""

    def __init__(
        self, settings: Settings | Callable[[], Settings], *, source: EventSource | None = None
    ) -> None:
        # A loader defers pydantic and the config file until after the first paint
        # (:meth:`load_settings`, in a thread); its ConfigError surfaces there.
        self._settings: Settings | None = None if callable(settings) else settings
        self._load_settings = settings if callable(settings) else None
        self._settings_lock = threading.Lock()
        self._source = source
        self._kanjian: Kanjian | None = None
        self._session: Session | None = None
        self._approver: Approver | None = None
        self._health_client: Any = None
        # The model the server says it serves (``/model_info``, ``/v1/models``), once asked.
        self._served_model: str | None = None

    @property
    def settings(self) -> Settings:
        """The settings, loaded on first use when a loader was given."""
        if self._settings is None:
            with self._settings_lock:
                if self._settings is None:
                    assert self._load_settings is not None
                    self._settings = self._load_settings()
        return self._settings

    @property
    def settings_loaded(self) -> bool:
        return self._settings is not None

    @property
    def server(self) -> str:
        return self.settings.vlm.url

    @property
    def model(self) -> str:
        return self.settings.vlm.model

    def load_settings(self) -> None:
        """Load the settings (pydantic, the config file): slow, so call it in a thread.

        Raises their ConfigError.
        """
        self.settings  # noqa: B018  (loads them)

    def preload(self) -> None:
        """Import what :meth:`health` and :meth:`sessions` use (httpx, the memory store's
        modules): slow, so call it in a thread, after :meth:`load_settings`."""
        import importlib

        for name in (
            "kanjian.agent.backends",
            "kanjian.vlm.client",
            "kanjian.agent.api",
            "kanjian.memory.api",
            "kanjian.memory.records",
        ):
            # A part not installed reports itself when it is used.
            with contextlib.suppress(ImportError):
                importlib.import_module(name)

    def _core(self) -> Kanjian:
        """The composition root (agent, tools, memory), made on first use."""
        if self._kanjian is None:
            from kanjian.agent.api import Kanjian

            self._kanjian = Kanjian(self.settings, approve=self._approve)
        return self._kanjian

    # --- runs ---------------------------------------------------------------------------

    def run(
        self, question: str, images: Sequence[str], *, session: str | None, approver: Approver
    ) -> AsyncGenerator[Event, None]:
        """The events of one run, from the scripted source when one was given, else the agent."""
        if self._source is not None:
            return self._source(question, images, session=session, approver=approver)
        return self._agent_run(question, images, session=session, approver=approver)

    async def _agent_run(
        self, question: str, images: Sequence[str], *, session: str | None, approver: Approver
    ) -> AsyncGenerator[Event, None]:
        self._approver = approver
        core = self._core()
        # Keep the Session object between turns: no reload from disk for each question.
        if self._session is None or self._session.id != session:
            self._session = await core.session(session)
        async with aclosing(core.stream(question, list(images), session=self._session)) as events:  # type: ignore[type-var]
            async for event in events:
                yield event

    async def _approve(self, request: ApprovalRequest) -> bool:
        # One agent serves every run; the approver of the run in progress answers.
        return await self._approver(request) if self._approver else False

    # --- health ---------------------------------------------------------------------------

    async def health(self) -> Health:
        """Whether the model server answers ``/health``; never raises."""
        from kanjian.agent.backends import http_backend
        from kanjian.vlm.errors import VLMError

        if self._health_client is None:
            self._health_client = http_backend(self.settings)
        try:
            await self._health_client.health()
        except VLMError as exc:
            # Another server may come back at this URL, serving another model.
            self._served_model = None
            return Health(False, _first_sentence(str(exc)))
        except OSError as exc:
            self._served_model = None
            return Health(False, f"{type(exc).__name__}: {exc}")
        if self._served_model is None:
            # The configured name ("default") says nothing; ask the server once per connection.
            with contextlib.suppress(VLMError, OSError):
                self._served_model = (await self._health_client.model_info()).model
        return Health(True, "healthy", self._served_model or self.model)

    async def aclose(self) -> None:
        if self._health_client is not None:
            await self._health_client.aclose()
        if self._kanjian is not None:
            await self._kanjian.aclose()

    # --- what works without a model ---------------------------------------------------------

    async def ocr(self, path: str | Path) -> str:
        """The text of the image at ``path``, as Markdown, with RapidOCR (no model needed)."""
        from kanjian.tools.ocr import arun_ocr

        image = await asyncio.to_thread(_load_image, Path(path))
        result = await arun_ocr(image)
        lines = [t("ocr.title", name=Path(path).name, lines=len(result.lines)), ""]
        lines += [
            f"{i}. {line.text}  _({line.confidence:.2f})_" for i, line in enumerate(result.lines, 1)
        ]
        return "\n".join(lines)

    async def math(self, expression: str) -> str:
        """SymPy's exact and numeric result for ``expression``, as Markdown."""
        from kanjian.tools.mathsolve import solve_math

        result = await asyncio.to_thread(solve_math, expression)
        out = f"`{result.input}` = `{result.result}`"
        if result.numeric not in (None, "", result.result):
            out += f" ≈ `{result.numeric}`"
        return out

    async def tools(self) -> list[ToolInfo]:
        from kanjian.tools.registry import aload_tools

        registry, _problems = await aload_tools(self.settings, mcp=False)
        return [ToolInfo(t.name, t.description, t.side_effects) for t in registry.tools()]

    async def tools_markdown(self) -> str:
        """The tools the agent can use, as a Markdown table (for ``/tools``)."""
        tools = await self.tools()
        asks = t("tools.asks")
        lines = [t("tools.header"), "|---|---|---|"]
        lines += [
            f"| `{tool.name}` | {tool.description} | {asks if tool.side_effects else '—'} |"
            for tool in tools
        ]
        return "\n".join(lines)

    async def _get_memory(self) -> Memory:
        # The agent's own store: one chromadb client per data dir and process.
        memory = await self._core().memory()
        if memory is None:
            from kanjian.agent.errors import ConfigError

            raise ConfigError(
                "Memory is off (memory.enabled = false); set it to true to search past conversations."
            )
        return memory

    async def memory_search(self, query: str, k: int = 5) -> list[MemoryHit]:
        from kanjian.memory.records import iso

        memory = await self._get_memory()
        hits = await memory.search(query, k)
        return [MemoryHit(h.session, h.score, h.text, iso(h.created)) for h in hits]

    async def memory_markdown(self, query: str) -> str:
        """Past turns that match ``query``, as Markdown (for ``/memory``)."""
        hits = await self.memory_search(query)
        if not hits:
            return t("memory.none", query=query)
        lines = [t("memory.title", query=query), ""]
        lines += [
            f"{i}. `{h.session}` ({h.score:.2f}, {h.created[:16]}): {h.text[:160]}"
            for i, h in enumerate(hits, 1)
        ]
        lines.append("\n" + t("memory.resume"))
        return "\n".join(lines)

    async def sessions(self, query: str = "") -> list[SessionSummary]:
        """Past conversations, newest first; ``query`` matches titles and (lexically) turns."""
        from kanjian.memory.records import iso

        memory = await self._get_memory()
        records = await memory.list_sessions(limit=200)
        needle = query.casefold().strip()
        if needle:
            found = {h.session for h in await memory.search(query, 50, mode="lexical")}
            records = [r for r in records if needle in r.title.casefold() or r.id in found]
        return [
            SessionSummary(r.id, r.title or r.id, iso(r.created), r.turn_count) for r in records
        ]

    async def recalled_sessions(self, recalled: Sequence[Recalled]) -> list[RecalledSession]:
        """The sessions of ``recalled`` turns, best first, with their titles and dates.

        A session memory cannot describe (memory off, forgotten since) keeps its id and the
        recalled text's first line: the row is still shown and still opens what it can.
        """
        best: dict[str, Recalled] = {}
        for item in recalled:
            if item.session not in best or item.score > best[item.session].score:
                best[item.session] = item
        try:
            memory = await self._get_memory()
        except Exception:
            memory = None
        out = []
        for item in sorted(best.values(), key=lambda r: -r.score):
            title, created = _first_line(item.text).removeprefix("Q: ") or item.session, ""
            if memory is not None:
                with contextlib.suppress(Exception):
                    from kanjian.memory.records import iso

                    record = await memory.get_session(item.session)
                    title, created = record.title or title, iso(record.created)
            out.append(RecalledSession(item.session, title, created, item.score))
        return out

    async def warm_up(self) -> None:
        """Build the agent (backend, tools, memory) and warm its recall, before any question.

        What the first question would otherwise wait for; a scripted source needs none of it.
        """
        if self._source is not None:
            return
        await self._core().agent()
        await self.warm_memory()

    async def warm_memory(self) -> None:
        """Open the memory and recall once, so the first question does not wait for loads.

        Nothing when recall is off (``--no-recall``, ``memory.recall = "off"``); recall runs
        in a thread (:meth:`kanjian.memory.api.Memory.recall`), never on the event loop.
        """
        settings = self.settings
        if not (settings.memory.enabled and settings.agent.recall):
            return
        if settings.memory.recall != "auto":
            return
        memory = await self._get_memory()
        await memory.recall(WARM_QUESTION, settings.agent.recall_budget_tokens)

    async def load_session(self, session_id: str) -> list[PastTurn]:
        """The turns of a past conversation with their images' paths in the image store."""
        memory = await self._get_memory()
        record = await memory.get_session(session_id)
        return [
            PastTurn(
                t.question,
                t.answer,
                tuple((ref.name, str(memory.image_path(ref.sha256))) for ref in t.images),
            )
            for t in record.turns
        ]

    def image_tokens(self, width: int, height: int) -> int:
        """Context positions one image costs the model (SGLang's tiling rule)."""
        from kanjian.vlm.tiling import image_tokens

        return image_tokens(width, height, max_num=self.settings.vlm.max_num, rule="sglang")


def _load_image(path: Path) -> PILImage:
    """The image at ``path``, loaded; a clear sentence when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    from kanjian.tools.errors import ToolInputError

    try:
        with Image.open(path.expanduser()) as img:
            img.load()
            return img
    except (OSError, UnidentifiedImageError) as exc:
        raise ToolInputError(
            f"Cannot read the image {str(path)!r} ({exc}); pass a PNG or JPEG path."
        ) from exc


def _first_line(text: str, limit: int = 60) -> str:
    line = text.strip().split("\n", 1)[0].strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _first_sentence(text: str) -> str:
    return text.strip().split("\n", 1)[0]
