"""The Python API: the same agent as the CLI, for scripts.

Async inside, with a thin blocking wrapper::

    from kanjian.agent.api import Kanjian

    async with Kanjian(url="http://127.0.0.1:30000") as k:
        result = await k.ask("What does the sign say?", ["sign.jpg"])
        print(result.answer)
        async for event in k.stream("And in English?", session=result.session):
            ...
        receipt = await k.extract("Read the receipt.", ["r.jpg"], schema=Receipt)  # a pydantic model

    with Kanjian.blocking() as k:          # no event loop needed
        print(k.ask("2+2?").answer)

:class:`Kanjian` is the composition root: it reads settings, picks the backend, loads the
tools (built-ins, plugins, MCP servers), opens memory, and builds one :class:`Agent` that
every run shares (one connection pool, one compiled graph). The CLI's ``ask`` and ``batch``
and the terminal app all go through it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, aclosing
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self, cast

from kanjian.agent.events import Event, Recalled, RunFinished

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal

    from kanjian.agent.config import Settings
    from kanjian.agent.loop import Agent, Approver, Recall
    from kanjian.agent.session import Session
    from kanjian.memory.api import Memory
    from kanjian.tools.base import Tool
    from kanjian.tools.registry import PluginProblem
    from kanjian.vlm.schema import AnswerSchema
    from kanjian.vlm.types import ChatBackend

__all__ = ["BlockingKanjian", "Kanjian"]

ImageInput = str | Path | bytes
ApprovePolicy = Literal["ask", "always", "never"]
# A JSON Schema (dict, file path, inline JSON text, llm's concise form) or a pydantic model.
SchemaInput = Any


class Kanjian:
    """Ask questions about images with tools and memory; see the module docstring."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        url: str | None = None,
        api_key: str | None = None,
        backend: ChatBackend | None = None,
        tools: Sequence[Tool | Callable[..., Any]] | None = None,
        extra_tools: Sequence[Tool | Callable[..., Any]] = (),
        use_tools: bool = True,
        memory: bool | None = None,
        remember: bool = True,
        approve: ApprovePolicy | Approver | None = None,
        max_steps: int | None = None,
    ) -> None:
        from kanjian.agent.config import load_settings

        flags = {"vlm.url": url, "vlm.api_key": api_key, "agent.max_steps": max_steps}
        flags["memory.enabled"] = memory
        self.settings = settings or load_settings(flags)
        self._backend = backend
        self._owns_backend = backend is None
        self._tools = tools
        self._extra_tools = extra_tools
        self._use_tools = use_tools
        self._approve = approve
        # False: memory is only read (recall, memory_search); no turn is stored in it.
        self._remember_turns = remember
        self._agent: Agent | None = None
        self._memory: Memory | None = None
        self._lock = asyncio.Lock()
        self.problems: list[PluginProblem] = []
        self.memory_error: str | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._backend is not None and self._owns_backend:
            await self._backend.aclose()
        if self._memory is not None:
            self._memory.close()
        self._backend = self._agent = self._memory = None

    @classmethod
    def blocking(cls, *args: Any, **kwargs: Any) -> BlockingKanjian:
        """A context manager giving the same API without async (runs a private event loop)."""
        return BlockingKanjian(lambda: cls(*args, **kwargs))

    # -- the parts, built on first use ------------------------------------------------------

    async def backend(self) -> ChatBackend:
        if self._backend is None:
            from kanjian.agent.backends import make_backend

            self._backend = await make_backend(self.settings)
        return self._backend

    async def memory(self) -> Memory | None:
        """The memory store; None when ``memory.enabled`` is false or it cannot open.

        A store that cannot open (a broken data dir, a Chroma server that is down) turns
        memory off for this process instead of failing every question; the reason is
        reported on each run's record (``extra["memory_error"]``).
        """
        if self._memory is None and self.settings.memory.enabled and not self.memory_error:
            from kanjian.memory.api import Memory

            try:
                self._memory = await asyncio.to_thread(Memory.open, self.settings)
            except Exception as exc:
                self.memory_error = f"Memory is off: it could not be opened ({exc})."
        return self._memory

    async def agent(self) -> Agent:
        async with self._lock:
            if self._agent is None:
                self._agent = await self._build_agent()
        return self._agent

    async def _build_agent(self) -> Agent:
        from kanjian.agent.approval import policy
        from kanjian.agent.loop import Agent

        backend = await self.backend()
        memory = await self.memory()
        tools = await self._load_tools(memory)
        approve = self._approve or self.settings.agent.approve
        recall = None
        if (
            memory is not None
            and self.settings.agent.recall
            and self.settings.memory.recall == "auto"
        ):
            recall = self._recall_with(memory)
        return Agent(
            backend,
            tools,
            max_steps=self.settings.agent.max_steps,
            tool_timeout=self.settings.agent.tool_timeout,
            approver=policy(approve) if isinstance(approve, str) else approve,
            recall=recall,
            temperature=self.settings.vlm.temperature,
            max_tokens=self.settings.vlm.max_tokens,
            output_limit=self.settings.tools.output_limit,
            keep_outputs_in=self.settings.home / "tool-output",
        )

    async def _load_tools(self, memory: Memory | None) -> list[Tool]:
        from kanjian.tools.registry import aload_tools, coerce_tools

        if not self._use_tools:
            return []
        if self._tools is not None:
            found = [t for item in self._tools for t in coerce_tools(item)]
        else:
            registry, self.problems = await aload_tools(self.settings)
            for problem in self.problems:
                # Never a silent skip. Through logging, so an application can route it; with
                # no logging set up, Python prints the message alone on stderr.
                logging.getLogger("kanjian").warning("kanjian: warning: %s", problem.message)
            found = registry.tools()
            if memory is not None:
                from kanjian.agent.remember import memory_search_tool

                found.append(memory_search_tool(memory))
        return found + [t for item in self._extra_tools for t in coerce_tools(item)]

    def _recall_with(self, memory: Memory) -> Recall:
        from kanjian.agent.remember import format_recall

        budget = self.settings.agent.recall_budget_tokens

        async def recall(question: str) -> tuple[str | None, tuple[Recalled, ...]]:
            return await format_recall(memory, question, budget, None)

        return recall

    async def session(self, session_id: str | None = None) -> Session:
        """A new conversation, or a saved one by id (its images keep their ``image_N``)."""
        from kanjian.agent.images import ImageRegistry
        from kanjian.agent.session import Session

        memory = await self.memory()
        store = None
        if memory is not None:
            from kanjian.agent.remember import MemoryImageStore

            store = MemoryImageStore(memory)
        if session_id is None:
            return Session(images=ImageRegistry(store=store))
        return await asyncio.to_thread(Session.load, session_id, None, store=store)

    # -- runs -------------------------------------------------------------------------------

    def stream(
        self,
        question: str,
        images: Sequence[ImageInput] = (),
        *,
        session: str | Session | None = None,
        run_id: str | None = None,
        schema: SchemaInput | None = None,
    ) -> AsyncGenerator[Event]:
        """The events of one run (ending with RunFinished); the turn is then remembered.

        The run's own generator, not a wrapper around it: each event is yielded once here.
        With ``schema`` the answer is a JSON value matching it (see :meth:`ask`); a bad
        schema raises here, before any model call.
        """
        return self._events(question, images, session, run_id, True, _schema(schema))

    async def _events(
        self,
        question: str,
        images: Sequence[ImageInput],
        session: str | Session | None,
        run_id: str | None,
        deltas: bool,
        schema: AnswerSchema | None = None,
    ) -> AsyncGenerator[Event]:
        from kanjian.agent.session import Session, note_unsaved

        try:
            agent = await self.agent()
            convo = session if isinstance(session, Session) else await self.session(session)
        except Exception as exc:
            yield _setup_failure(exc, run_id, session)
            return
        run = cast(
            "AsyncGenerator[Event]",
            agent.run(question, images, session=convo, run_id=run_id, deltas=deltas, schema=schema),
        )
        async with aclosing(run) as events:
            async for event in events:
                if isinstance(event, RunFinished):
                    # turn_start, not the length before the run: a save may have put turns
                    # that other processes added to this session before this one.
                    event = await self._remember(convo, event, question, convo.turn_start)
                    event = note_unsaved(event, convo)
                yield event

    async def ask(
        self,
        question: str,
        images: Sequence[ImageInput] = (),
        *,
        session: str | Session | None = None,
        run_id: str | None = None,
        schema: SchemaInput | None = None,
    ) -> RunFinished:
        """Run to the end; the final record (``answer``, ``steps``, ``usage``, ``error``).

        ``schema`` (a JSON Schema dict, file path, inline JSON, llm's concise form
        ``"merchant, total float"``, or a pydantic model class) makes ``answer`` the
        validated JSON value instead of text; a bad schema raises
        :class:`~kanjian.vlm.schema.SchemaError` before any model call.
        """
        answer_schema = _schema(schema)
        last: Event | None = None
        # Only the record is wanted: no per-token answer deltas (see Agent.run).
        run = self._events(question, images, session, run_id, False, answer_schema)
        async with aclosing(run) as events:
            async for event in events:
                last = event
        assert isinstance(last, RunFinished)
        return last

    async def extract(
        self,
        question: str,
        images: Sequence[ImageInput] = (),
        *,
        schema: SchemaInput,
        session: str | Session | None = None,
    ) -> Any:
        """The answer as the validated object: an instance of ``schema`` when it is a pydantic
        model, else the JSON value. Raises :class:`~kanjian.agent.errors.RunFailed` (with the
        run's error sentence) when no valid answer came back."""
        finished = await self.ask(question, images, session=session, schema=schema)
        return _extracted(finished, schema)

    async def _remember(
        self, session: Session, finished: RunFinished, question: str, first: int
    ) -> RunFinished:
        """Store the turn; a memory failure never costs the user the answer they got."""
        if self.memory_error:
            return replace(finished, extra={**finished.extra, "memory_error": self.memory_error})
        if not self._remember_turns:
            return finished
        try:
            memory = await self.memory()
            if memory is not None:
                from kanjian.agent.remember import record_turn

                await record_turn(memory, session, finished, question, first)
        except Exception as exc:
            note = f"The answer was not saved to memory: {exc}"
            return replace(finished, extra={**finished.extra, "memory_error": note})
        return finished


def _schema(schema: SchemaInput | None) -> AnswerSchema | None:
    if schema is None:
        return None
    from kanjian.vlm.schema import load_schema

    return load_schema(schema)


def _extracted(finished: RunFinished, schema: SchemaInput) -> Any:
    from kanjian.agent.errors import RunFailed

    if finished.error is not None:
        raise RunFailed(finished.error)
    validate = getattr(schema, "model_validate", None)
    return validate(finished.answer) if isinstance(schema, type) and validate else finished.answer


def _setup_failure(exc: Exception, run_id: str | None, session: Any) -> RunFinished:
    """A run that could not even start (bad settings, unknown session) as its record."""
    import uuid

    from kanjian.vlm.types import Usage

    code = getattr(type(exc), "exit_code", 1)
    return RunFinished(
        id=run_id or uuid.uuid4().hex,
        session=session if isinstance(session, str) else "",
        answer=None,
        steps=(),
        images={},
        usage=Usage(),
        seconds=0.0,
        error=str(exc) or type(exc).__name__,
        exit_code=code if isinstance(code, int) else 1,
    )


class BlockingKanjian(AbstractContextManager["BlockingKanjian"]):
    """:class:`Kanjian` for code without an event loop: each call blocks until it is done."""

    def __init__(self, factory: Callable[[], Kanjian]) -> None:
        self._factory = factory
        self._portal_cm: Any = None
        self._portal: BlockingPortal | None = None
        self._kanjian: Kanjian | None = None

    def __enter__(self) -> BlockingKanjian:
        from anyio.from_thread import start_blocking_portal

        self._portal_cm = start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        self._kanjian = self._portal.call(self._make)
        return self

    async def _make(self) -> Kanjian:
        return self._factory()

    def __exit__(self, *exc: object) -> None:
        if self._portal is not None and self._kanjian is not None:
            self._portal.call(self._kanjian.aclose)
        if self._portal_cm is not None:
            self._portal_cm.__exit__(None, None, None)
        self._portal = self._kanjian = None

    def ask(
        self,
        question: str,
        images: Sequence[ImageInput] = (),
        *,
        session: str | None = None,
        schema: SchemaInput | None = None,
    ) -> RunFinished:
        portal, kanjian = self._parts()
        return portal.call(lambda: kanjian.ask(question, images, session=session, schema=schema))

    def extract(
        self,
        question: str,
        images: Sequence[ImageInput] = (),
        *,
        schema: SchemaInput,
        session: str | None = None,
    ) -> Any:
        """The validated object (see :meth:`Kanjian.extract`)."""
        portal, kanjian = self._parts()
        return portal.call(
            lambda: kanjian.extract(question, images, schema=schema, session=session)
        )

    def stream(
        self,
        question: str,
        images: Sequence[ImageInput] = (),
        *,
        session: str | None = None,
        schema: SchemaInput | None = None,
    ) -> Iterator[Event]:
        """Events as they happen (the run proceeds while you iterate)."""
        portal, kanjian = self._parts()
        agen = kanjian.stream(question, images, session=session, schema=schema)
        while True:
            try:
                yield portal.call(agen.__anext__)
            except StopAsyncIteration:
                return

    def _parts(self) -> tuple[BlockingPortal, Kanjian]:
        if self._portal is None or self._kanjian is None:
            raise RuntimeError("Use BlockingKanjian inside a `with` block.")
        return self._portal, self._kanjian
