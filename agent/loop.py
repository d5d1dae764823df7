"""The agent: LangChain's ``create_agent`` over the InternVL adapter, as a typed event stream.

``Agent.run(question, images)`` is an async generator of :mod:`kanjian.agent.events` records: the
terminal app, ``kanjian ask`` (plain and ``--json``), batch and scripts all consume it. The
graph is built once per agent: a model node (:class:`vlm.chat_model.InternVLChatModel`,
which speaks the action protocol) and LangGraph's tool node. kanjian's rules for a tool
call live in the LangChain tool each kanjian ``Tool`` is wrapped in (:func:`_langchain_tool`):
arguments are checked against the schema, side-effect tools go through the approver, calls
are bounded by a timeout, and any failure becomes an observation the model can react to,
never a crash (a tool that does not exist gets LangGraph's own "not a valid tool" message).

The graph is streamed with ``stream_mode=["updates", "custom"]`` and mapped to events by
small named functions: ``updates`` carries the model's finished step (usage, tool call,
answer) and the tool's result, ``custom`` the thought and the answer as they are generated
(the adapter's ``graph_deltas`` mode writes them there as :class:`vlm.chat_model.StepDeltas`
records) and what a tool reports while it runs (approval requests). LangGraph's
``messages`` mode is not used: its per-token LangChain callbacks, pydantic chunks and
chunk merging cost more than the rest of a step. Per-run state (the session's images, the
approver, step records) travels as LangGraph's run ``context``, so one compiled graph
(two: with and without deltas) serves every run and every session.

No middleware is used on purpose: ``create_agent`` wraps every ``wrap_*`` middleware hook
in LangSmith's ``traceable``, which hops to a worker thread twice per call even with
tracing off, and that alone costs more than the whole 2 ms-per-step budget.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kanjian.agent.events import (
    AnswerDelta,
    AnswerDone,
    ApprovalRequest,
    ErrorEvent,
    Event,
    ImageAdded,
    RunFinished,
    StepRecord,
    StepStarted,
    Thought,
    ToolCallEvent,
    ToolResultEvent,
    UsageEvent,
)
from kanjian.agent.images import ImageEntry, ImageRegistry, check_image_budget
from kanjian.agent.session import Session
from kanjian.tools.base import Tool, ToolOutput
from kanjian.tools.errors import ToolError, ToolInputError
from kanjian.vlm import prompts
from kanjian.vlm.types import ChatBackend, Usage

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from kanjian.vlm.chat_model import StepDelta
    from kanjian.vlm.images import LoadedImage

__all__ = ["Agent", "Approver", "Recall"]

Approver = Callable[[ApprovalRequest], Awaitable[bool]]
Recall = Callable[[str], Awaitable[str | None]]
ImageSource = str | Path | bytes


@dataclass(slots=True)
class _Observation:
    """The outcome of one tool call, before it becomes a ToolMessage and events."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)
    images: list[ImageEntry] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


@dataclass(slots=True)
class RunContext:
    """One run's state: what its tools need and what its events add up to.

    Passed to the graph as LangGraph's run ``context``, so tools receive it.
    """

    registry: ImageRegistry
    tools: dict[str, Tool]
    tool_timeout: float
    approver: Approver | None
    step: int = 0
    records: list[StepRecord] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    answer: str | None = None
    # The messages this run adds to the conversation, in order.
    new_messages: list[BaseMessage] = field(default_factory=list)
    # Arguments of the tool calls in flight, by call id.
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)


def _langchain_tool(tool: Tool) -> Any:
    """``tool`` as a LangChain tool for ``create_agent``: same name, purpose and schema.

    The call receives the run's context through LangGraph's injected ``runtime`` and
    returns the observation as the ToolMessage content, with the details as its artifact.
    """
    from langgraph.prebuilt import ToolRuntime

    async def call(runtime: Any, **args: Any) -> tuple[list[dict[str, Any]], _Observation]:
        ctx: RunContext = runtime.context
        started = time.perf_counter()
        observation = await _observe(
            ctx, runtime.stream_writer, tool, args, runtime.tool_call_id or ""
        )
        observation.seconds = time.perf_counter() - started
        content = [{"type": "text", "text": observation.text}]
        content += [_image_part(ctx.registry, e.id) for e in observation.images]
        return content, observation

    # Real objects, not strings: LangGraph finds ``runtime`` through these type hints.
    call.__annotations__ = {"runtime": ToolRuntime, "args": Any, "return": tuple}
    return _lean_tool_class()(
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        coroutine=call,
        response_format="content_and_artifact",
    )


@functools.cache
def _lean_tool_class() -> type[Any]:
    """A ``StructuredTool`` whose ``_arun`` calls the coroutine and nothing else.

    LangChain's own ``_arun`` resolves the coroutine's type hints and signature on every
    call (looking for ``config`` and ``callbacks`` parameters), and ``BaseTool.arun`` does
    the same for ``_arun`` itself: string annotations compiled anew each time, about
    two thirds of a tool call's cost. This ``_arun`` declares no such parameters, with a
    signature and hints computed once.
    """
    from langchain_core.tools import StructuredTool

    class LeanTool(StructuredTool):
        async def _arun(self, *args: Any, **kwargs: Any) -> Any:
            assert self.coroutine is not None
            return await self.coroutine(*args, **kwargs)

    function: Any = LeanTool._arun
    function.__annotations__ = {"args": Any, "kwargs": Any, "return": Any}
    function.__signature__ = inspect.signature(function)
    return LeanTool


async def _observe(
    ctx: RunContext, write: Callable[[Any], None], tool: Tool, args: dict[str, Any], call_id: str
) -> _Observation:
    """Run one tool call; every failure becomes an observation that says what went wrong."""
    try:
        _check_args(tool, args)
        if tool.side_effects:
            await _approve(ctx, write, ApprovalRequest(ctx.step, call_id, tool.name, args))
        output = await _bounded(tool, args, ctx)
        images = await _register(ctx.registry, output)
    except (ToolError, TimeoutError) as exc:
        return _failed(_failure_text(tool, exc, ctx))
    except Exception as exc:  # a plugin's bug must not take the agent down
        return _failed(f"Tool {tool.name!r} failed: {type(exc).__name__}: {exc}")
    return _Observation(
        text=output.text, data=_with_overlay_path(output.data, images), images=images
    )


def _with_overlay_path(data: dict[str, Any], images: list[ImageEntry]) -> dict[str, Any]:
    """``ground`` leaves ``"overlay": null`` for whoever stores the overlay: that is us."""
    if images and "overlay" in data and data["overlay"] is None:
        return {**data, "overlay": images[0].path}
    return data


def _failed(message: str) -> _Observation:
    return _Observation(text=f"Error: {message}", data={"error": message}, error=message)


def _failure_text(tool: Tool, exc: BaseException, ctx: RunContext) -> str:
    if isinstance(exc, TimeoutError):
        limit = _timeout(tool, ctx)
        return f"Tool {tool.name!r} did not finish within {limit:g} s; try a smaller input or another tool."
    return str(exc) or f"Tool {tool.name!r} failed ({type(exc).__name__})."


def _check_args(tool: Tool, args: dict[str, Any]) -> None:
    validator = _validator(tool)
    if validator.is_valid(args):
        return  # the common case: no error objects made, none sorted
    errors = validator.iter_errors(args)
    first = next(iter(sorted(errors, key=lambda e: list(e.path))), None)
    if first is not None:
        where = "/".join(str(p) for p in first.path) or "args"
        raise ToolInputError(
            f"Invalid arguments for tool {tool.name!r} at {where!r}: {first.message}. "
            "Pass arguments that match its schema."
        )


_VALIDATORS: dict[int, tuple[Tool, Any]] = {}


def _validator(tool: Tool) -> Any:
    hit = _VALIDATORS.get(id(tool))
    if hit is None or hit[0] is not tool:
        from jsonschema import Draft202012Validator

        hit = (tool, Draft202012Validator(tool.args_schema))
        _VALIDATORS[id(tool)] = hit
    return hit[1]


async def _approve(ctx: RunContext, write: Callable[[Any], None], request: ApprovalRequest) -> None:
    from kanjian.tools.errors import ApprovalDenied

    write(request)
    approved = await ctx.approver(request) if ctx.approver is not None else False
    if not approved:
        raise ApprovalDenied(
            f"The user did not approve running tool {request.tool!r}; "
            "do without it or tell the user what you wanted to do."
        )


def _timeout(tool: Tool, ctx: RunContext) -> float:
    return min(tool.timeout, ctx.tool_timeout) if tool.timeout else ctx.tool_timeout


async def _bounded(tool: Tool, args: dict[str, Any], ctx: RunContext) -> ToolOutput:
    # asyncio.timeout, not wait_for: no extra task per call.
    async with asyncio.timeout(_timeout(tool, ctx)):
        output = await tool.run(args, ctx.registry)
    if not isinstance(output, ToolOutput):
        raise ToolError(f"Tool {tool.name!r} returned {type(output).__name__}, not a ToolOutput.")
    return output


async def _register(registry: ImageRegistry, output: ToolOutput) -> list[ImageEntry]:
    if not output.images:
        return []  # the common case stays on the event loop: a thread hop costs ~1 ms

    def work() -> list[ImageEntry]:
        entries = [registry.add_derived(image) for image in output.images]
        for entry in entries:
            registry.wire_url(entry.id)  # encode now, off the event loop
        return entries

    return await asyncio.to_thread(work)


def _prepare_attachment(registry: ImageRegistry, source: ImageSource) -> tuple[LoadedImage, str]:
    """In a worker thread: load (decode once), store the bytes, and encode for the wire."""
    from kanjian.vlm.images import load_image
    from kanjian.vlm.wire import prepare_for_wire

    loaded = load_image(source)
    registry.store.put(loaded.data, loaded.sha256, loaded.format)
    rule, max_num = registry.tiling()  # the backend's rule: SGLang's, or the local one's
    return loaded, prepare_for_wire(loaded, rule=rule, max_num=max_num).data_url


def _image_part(registry: ImageRegistry, image_id: str) -> dict[str, Any]:
    return {
        "type": "image_url",
        "image_url": {"url": registry.wire_url(image_id)},
        "image_id": image_id,
    }


def _image_added(entry: ImageEntry) -> ImageAdded:
    path = entry.path if entry.parent is not None else None
    return ImageAdded(entry.id, entry.origin, entry.width, entry.height, entry.parent, path)


class Agent:
    """Answers questions about images, routing hard parts to tools; see the module docstring."""

    def __init__(
        self,
        backend: ChatBackend,
        tools: Sequence[Tool] = (),
        *,
        max_steps: int = 6,
        tool_timeout: float = 60.0,
        approver: Approver | None = None,
        recall: Recall | None = None,
        temperature: float | None = 0.0,
        max_tokens: int | None = 1024,
        instructions: str = "",
    ) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, not {max_steps!r}.")
        self.backend = backend
        self.tools = {t.name: t for t in tools}
        self.max_steps = max_steps
        self.tool_timeout = tool_timeout
        self.approver = approver
        self.recall = recall
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.instructions = instructions
        self._graphs: dict[bool, Any] = {}

    @property
    def graph(self) -> Any:
        """The compiled LangGraph graph of runs that stream the answer.

        Built on first use, with its twin for ``run(deltas=False)``, then reused by every run.
        """
        self._graph_for(deltas=False)
        return self._graph_for(deltas=True)

    def _graph_for(self, deltas: bool) -> Any:
        graph = self._graphs.get(deltas)
        if graph is None:
            graph = self._graphs[deltas] = self._build_graph(deltas)
        return graph

    def _build_graph(self, deltas: bool) -> Any:
        from langchain.agents import create_agent

        from kanjian.vlm.chat_model import InternVLChatModel

        model = InternVLChatModel(
            backend=self.backend,
            max_steps=self.max_steps,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            instructions=self.instructions,
            # Deltas come as records on the graph's custom stream, not as LangChain chunks;
            # without deltas the model asks for each step whole.
            graph_deltas=deltas,
        )
        return create_agent(
            model,
            [_langchain_tool(t) for t in self.tools.values()],
            context_schema=RunContext,
        )

    async def run(
        self,
        question: str,
        images: Sequence[ImageSource] = (),
        *,
        session: Session | None = None,
        run_id: str | None = None,
        deltas: bool = True,
    ) -> AsyncIterator[Event]:
        """Answer ``question`` about ``images`` (and the session's earlier turns), as events.

        Always ends with :class:`RunFinished` unless the consumer stops iterating or the
        task is cancelled; then the model stream and tools stop, and the session is left as
        it was before the run. ``deltas=False`` leaves out the answer as it is generated
        and the thoughts (AnswerDelta, Thought): for callers that only want the result,
        such as batch, each step is asked for whole, so nothing is done per token.
        """
        started = time.perf_counter()
        session = session if session is not None else Session()
        session.images.backend = self.backend
        run = _Run(self, session, run_id or uuid.uuid4().hex, started, deltas=deltas)
        async with aclosing(run.events(question, images)) as events:
            async for event in events:
                yield event

    def ask(
        self,
        question: str,
        images: Sequence[ImageSource] = (),
        session: Session | None = None,
    ) -> RunFinished:
        """Run to the end and return the final record (for scripts; not inside a loop)."""

        async def collect() -> RunFinished:
            last: Event | None = None
            async for event in self.run(question, images, session=session):
                last = event
            assert isinstance(last, RunFinished)
            return last

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(collect())
        # Called from inside a running loop: run on a private loop in a worker thread.
        box: list[RunFinished | BaseException] = []
        thread = threading.Thread(target=lambda: box.append(_run_catching(collect)))
        thread.start()
        thread.join()
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]


def _run_catching(factory: Callable[[], Awaitable[RunFinished]]) -> RunFinished | BaseException:
    try:
        return asyncio.run(factory())  # type: ignore[arg-type]
    except BaseException as exc:
        return exc


class _Run:
    """One run of an agent: attachments in, graph streamed, events out, session updated."""

    def __init__(
        self, agent: Agent, session: Session, run_id: str, started: float, *, deltas: bool = True
    ) -> None:
        self.agent = agent
        self.deltas = deltas
        self.session = session
        self.run_id = run_id
        self.started = started
        self.ctx = RunContext(
            registry=session.images,
            tools=agent.tools,
            tool_timeout=agent.tool_timeout,
            approver=agent.approver,
        )
        self.images_before = len(session.images)
        self.messages_before = len(session.messages)

    async def events(self, question: str, images: Sequence[ImageSource]) -> AsyncGenerator[Event]:
        finished = False
        try:
            async for event in self._events(question, images):
                yield event
            finished = True
        finally:
            if not finished:
                self._rollback()  # cancelled or closed early: the turn never happened

    def _rollback(self) -> None:
        """Leave the session as it was before this run."""
        self.session.images.truncate(self.images_before)
        del self.session.messages[self.messages_before :]

    async def _events(self, question: str, images: Sequence[ImageSource]) -> AsyncGenerator[Event]:
        from kanjian.vlm.errors import VLMError

        error: ErrorEvent | None = None
        try:
            entries = await self._attach(images)
            await check_image_budget(self.session.images)  # faults: before anything is sent
            for entry in entries:
                yield _image_added(entry)
            await self._warm_images()
            human = await self._human_message(question, entries)
            async for event in self._stream(human):
                yield event
            self.session.append([human, *self.ctx.new_messages])
            # A few KB of JSON, but a temp file, a write and a rename: off the loop, where
            # a batch's other tasks would otherwise wait on the disk.
            await asyncio.to_thread(self.session.save)
        except (VLMError, ToolError) as exc:
            error = ErrorEvent(self._error_text(exc), exc.exit_code)
        except Exception as exc:
            error = ErrorEvent(self._error_text(exc), getattr(exc, "exit_code", 1))
        if error is not None:
            self._rollback()
            yield error
        yield self._finished(error)

    async def _attach(self, images: Sequence[ImageSource]) -> list[ImageEntry]:
        # One thread hop per image does all the slow work (read, decode once, store the
        # bytes, encode for the wire); back on the loop, add() finds the bytes stored and
        # the entry gets its wire URL, so a batch's event loop never waits on disk or pixels.
        registry = self.session.images
        prepared = await asyncio.gather(
            *(asyncio.to_thread(_prepare_attachment, registry, source) for source in images)
        )
        entries: list[ImageEntry] = []
        for loaded, wire_url in prepared:
            entry = registry.add(loaded)
            entry.wire_url = wire_url
            entries.append(entry)
        return entries

    async def _warm_images(self) -> None:
        """Prepare earlier turns' images for the wire (a resumed session) off the event loop."""
        registry = self.session.images
        cold = [e.id for e in registry.entries() if e.wire_url is None]
        if cold:
            await asyncio.to_thread(lambda: [registry.wire_url(i) for i in cold])

    async def _human_message(self, question: str, entries: list[ImageEntry]) -> BaseMessage:
        from langchain_core.messages import HumanMessage

        parts: list[str | dict[str, Any]] = [
            _image_part(self.session.images, e.id) for e in entries
        ]
        notes = await self._recall(question)
        if notes:
            parts.append({"type": "text", "text": prompts.render("recall.md", notes=notes)})
        parts.append({"type": "text", "text": question})
        return HumanMessage(content=parts)

    async def _recall(self, question: str) -> str | None:
        # Only a new conversation is primed from memory; later turns have their own history.
        if self.agent.recall is None or self.session.messages:
            return None
        try:
            return await self.agent.recall(question)
        except Exception:
            # Recall only helps; a memory that fails must not fail the question.
            return None

    async def _stream(self, human: BaseMessage) -> AsyncIterator[Event]:
        from kanjian.vlm.chat_model import StepDeltas

        graph = self.agent._graph_for(self.deltas)
        inputs = {"messages": [*self.session.history(), human]}
        config = {"recursion_limit": 2 * self.agent.max_steps + 4}
        # No "messages" mode: LangChain's per-token callbacks cost more than the rest of a
        # step. The model writes the thought and answer deltas to the custom stream instead,
        # and approval requests go there too; a run with neither (batch without side-effect
        # tools) leaves it out, sparing LangGraph's concurrent stream waiting every step.
        custom = self.deltas or any(t.side_effects for t in self.agent.tools.values())
        modes = ["updates", "custom"] if custom else ["updates"]
        self.ctx.step = 1
        yield StepStarted(1)
        async with aclosing(
            graph.astream(inputs, config, context=self.ctx, stream_mode=modes)
        ) as stream:
            async for mode, payload in stream:
                if mode == "custom":
                    if isinstance(payload, StepDeltas):
                        for delta in payload.parts:
                            for event in _delta_events(delta, self.ctx.step):
                                yield event
                    else:
                        yield payload
                else:
                    for node, update in payload.items():
                        for event in _update_events(self.ctx, node, update):
                            yield event

    def _error_text(self, exc: BaseException) -> str:
        from kanjian.vlm.errors import ModelOutputError

        if isinstance(exc, ModelOutputError) and self.ctx.step >= self.agent.max_steps:
            return (
                f"Stopped after {self.agent.max_steps} steps without an answer; "
                "raise max_steps (--max-steps) or ask a simpler question."
            )
        if type(exc).__name__ == "GraphRecursionError":
            return (
                f"Stopped after {self.agent.max_steps} steps without an answer; "
                "raise max_steps (--max-steps) or ask a simpler question."
            )
        return str(exc) or type(exc).__name__

    def _finished(self, error: ErrorEvent | None) -> RunFinished:
        return RunFinished(
            id=self.run_id,
            session=self.session.id,
            answer=self.ctx.answer if error is None else None,
            steps=tuple(self.ctx.records),
            images=self.session.images.origins(),
            usage=self.ctx.usage,
            seconds=time.perf_counter() - self.started,
            error=error.message if error else None,
            exit_code=error.exit_code if error else 0,
        )


def _delta_events(delta: StepDelta, step: int) -> list[Event]:
    """A streamed piece of the model's step: the thought, then the answer as it comes."""
    events: list[Event] = []
    if delta.thought:
        events.append(Thought(step, delta.thought))
    if delta.answer:
        events.append(AnswerDelta(delta.answer))
    return events


def _update_events(ctx: RunContext, node: str, update: Any) -> list[Event]:
    messages = update.get("messages", []) if isinstance(update, dict) else []
    if node == "model":
        return [event for message in messages for event in _model_events(ctx, message)]
    if node == "tools":
        events = [event for message in messages for event in _tool_events(ctx, message)]
        ctx.step += 1  # the model reads the observation next
        return [*events, StepStarted(ctx.step)]
    return []


def _model_events(ctx: RunContext, message: Any) -> list[Event]:
    """A finished model step: its usage, then its tool call or its answer."""
    ctx.new_messages.append(message)
    events: list[Event] = []
    for record in message.response_metadata.get("model_requests", []):
        usage = Usage(record["prompt_tokens"], record["completion_tokens"], record["cached_tokens"])
        ctx.usage = ctx.usage + usage
        events.append(UsageEvent(usage, record.get("seconds", 0.0)))
    for call in message.tool_calls:
        ctx.calls[call["id"]] = dict(call["args"])
        events.append(ToolCallEvent(ctx.step, call["id"], call["name"], dict(call["args"])))
    if not message.tool_calls:
        parsed = message.additional_kwargs.get("answer")
        ctx.answer = parsed if isinstance(parsed, str) else message.text
        events.append(AnswerDone(ctx.answer))
    return events


def _tool_events(ctx: RunContext, message: Any) -> list[Event]:
    """A finished tool call: the images it made, then its result."""
    ctx.new_messages.append(message)
    observation = message.artifact
    if not isinstance(observation, _Observation):
        # LangGraph answered itself (a tool that does not exist).
        text = message.text
        observation = (
            _failed(text.removeprefix("Error: "))
            if message.status == "error"
            else _Observation(text)
        )
    args = ctx.calls.pop(message.tool_call_id, {})
    name = message.name or ""
    ctx.records.append(
        StepRecord(name, args, observation.data, observation.seconds, observation.error)
    )
    result = ToolResultEvent(
        step=ctx.step,
        call_id=message.tool_call_id,
        tool=name,
        args=args,
        output=observation.data,
        text=observation.text,
        seconds=observation.seconds,
        images=tuple(e.id for e in observation.images),
        error=observation.error,
    )
    return [*(_image_added(e) for e in observation.images), result]
