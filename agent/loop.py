"""The agent: kanjian's own loop over the model adapter and the tool pipeline, as typed events.

``Agent.run(question, images)`` is an async generator of :mod:`kanjian.agent.events` records:
the terminal app, ``kanjian ask`` (plain and ``--json``), batch and scripts all consume it.
One run is a plain loop, in the manner of smolagents' ``_run_stream``::

    attach images -> recall (a new conversation only) -> the question
    step 1..max_steps:
        the model's step (vlm.adapter.ActionModel.step): thought and answer deltas, then
        the parsed action, its usage
        an answer?  -> AnswerDone, done
        a tool call -> the tool pipeline (tools.pipeline.invoke): images, result, observation
    save the session

Each event is yielded straight from here: the adapter hands up the deltas it decodes, and
nothing else re-yields them. The rules of a tool call (arguments checked once, approval,
timeout, JSON-safe and capped results, plugin isolation) live in the pipeline, composed once
per agent (:func:`kanjian.tools.pipeline.compose`); every failure there is an observation the
model can react to, never a crash.

The conversation is kept in the session's stored form and rendered to wire messages for
each step by a pure function (:func:`kanjian.vlm.adapter.render_stored`), so every
request's prefix is byte-identical to the one before (SGLang's prefix cache).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from pathlib import Path

from kanjian.agent.errors import AgentError
from kanjian.agent.events import (
    AnswerDelta,
    AnswerDone,
    ApprovalRequest,
    ErrorEvent,
    Event,
    Recalled,
    RecallEvent,
    RunFinished,
    StepStarted,
    Thought,
    ToolCallEvent,
)
from kanjian.agent.evidence import resolve_evidence
from kanjian.agent.images import ImageEntry, ImageRegistry, check_image_budget
from kanjian.agent.session import Session
from kanjian.agent.turn import ImageSource, Turn, attach, image_added, register
from kanjian.tools.base import Approver, Tool, ToolContext
from kanjian.tools.pipeline import ToolResult, compose, failed, invoke, unknown_tool
from kanjian.tools.results import DEFAULT_OUTPUT_LIMIT
from kanjian.vlm.action import AnswerAction
from kanjian.vlm.adapter import ActionModel, Bound, StepResult, bind, tool_infos, with_schema
from kanjian.vlm.schema import AnswerSchema
from kanjian.vlm.types import ChatBackend, Message

__all__ = ["Agent", "Approver", "Recall"]

# A recall hook returns the notes for the prompt (None: nothing passed the gate) and what
# was recalled, which the run reports (``RecallEvent``, ``RunFinished.recalled``); this is
# the shape of :func:`kanjian.agent.remember.format_recall`.
Recall = Callable[[str], Awaitable[tuple[str | None, tuple[Recalled, ...]]]]


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
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        keep_outputs_in: Path | None = None,
    ) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, not {max_steps!r}.")
        self.backend = backend
        self.tools = {t.name: t for t in tools}
        self.max_steps = max_steps
        self.tool_timeout = tool_timeout
        self.approver = approver
        self.recall = recall
        self.instructions = instructions
        self.model = ActionModel(backend, temperature=temperature, max_tokens=max_tokens)
        self.bound = bind(tool_infos(list(self.tools.values())), instructions)
        self._system: Message = {"role": "system", "content": self.bound.system}
        # The answer branch for each user schema seen, by its text: built once per schema
        # (the system prompt stays the same, so runs with and without share its cache).
        self._schema_bounds: dict[str, Bound] = {}
        # The tool pipeline, composed once: every call of every run goes through it.
        self.pipeline = {
            name: compose(
                tool,
                timeout=tool_timeout,
                approver=self._approve,
                output_limit=output_limit,
                keep_in=keep_outputs_in or _default_keep_in(),
            )
            for name, tool in self.tools.items()
        }

    async def _approve(self, request: ApprovalRequest) -> bool:
        # Late-bound: whoever sets agent.approver later is the one asked.
        return await self.approver(request) if self.approver is not None else False

    async def run(
        self,
        question: str,
        images: Sequence[ImageSource] = (),
        *,
        session: Session | None = None,
        run_id: str | None = None,
        deltas: bool = True,
        schema: AnswerSchema | None = None,
    ) -> AsyncIterator[Event]:
        """Answer ``question`` about ``images`` (and the session's earlier turns), as events.

        Always ends with :class:`RunFinished` unless the consumer stops iterating or the
        task is cancelled; then the model stream and tools stop, and the session is left as
        it was before the run. ``deltas=False`` leaves out the answer as it is generated
        and the thoughts (AnswerDelta, Thought): for callers that only want the result,
        such as batch, each step is asked for whole, so nothing is done per token.
        With ``schema`` (:mod:`kanjian.vlm.schema`) the answer is a JSON value matching it:
        constrained by the server where it can, validated either way.
        """
        session = session if session is not None else Session()
        session.images.backend = self.backend
        turn = Turn(session, run_id or uuid.uuid4().hex, time.perf_counter())
        turn.schema = schema
        finished = False
        error: ErrorEvent | None = None
        try:
            try:
                entries = await attach(session.images, images)
                # Before anything is sent: images that alone overflow the context are refused.
                await check_image_budget(session.images)
                for entry in entries:
                    yield image_added(entry)
                await turn.warm_images()
                notes = await self._recall(turn, question)
                if notes is not None:
                    yield RecallEvent(turn.recalled)
                turn.add_question(question, entries, notes or None)
                for step in range(1, self.max_steps + 1):
                    turn.step = step
                    yield StepStarted(step)
                    # The model's step: its deltas go straight out as events.
                    result: StepResult | None = None
                    wire = [self._system, *turn.wire()]
                    bound = self._bound(turn.schema)
                    final = bool(bound.tools) and step >= self.max_steps
                    stepping = self.model.step(wire, bound, final=final, stream=deltas)
                    async with aclosing(stepping):
                        async for item in stepping:
                            if isinstance(item, StepResult):
                                result = item
                            elif deltas:
                                if item.thought:
                                    yield Thought(step, item.thought)
                                if item.answer:
                                    yield AnswerDelta(item.answer)
                    assert result is not None
                    for event in turn.record_model(result):
                        yield event
                    action = result.action
                    if isinstance(action, AnswerAction):
                        yield self._answer_done(turn, action)
                        break
                    # A tool step, through the pipeline.
                    call = ToolCallEvent(
                        step, f"call_{uuid.uuid4().hex[:16]}", action.tool, dict(action.args)
                    )
                    yield call
                    tool = self.pipeline.get(call.tool)
                    if tool is not None and tool.side_effects:
                        # Its approval request must reach the consumer while the call waits.
                        reports, task = _start(tool, call, session.images)
                        try:
                            while (report := await reports.get()) is not _DONE:
                                if isinstance(report, ApprovalRequest):
                                    yield report
                            outcome = task.result()
                        finally:
                            task.cancel()
                    else:
                        outcome = await self._call(tool, call, session.images)
                    outcome, entries = await _register(session.images, call.tool, outcome)
                    for entry in entries:
                        yield image_added(entry)
                    yield turn.record_tool(call, outcome, entries)
                else:
                    # Only without tools can a step cap pass with no answer (no step is forced).
                    raise _StepCap(f"{self.max_steps} steps went by without an answer.")
                await turn.commit()
            except Exception as exc:
                error = ErrorEvent(self._error_text(turn, exc), _exit_code(exc))
                turn.rollback()
                yield error
            yield turn.finished(error)
            finished = True
        finally:
            if not finished:
                turn.rollback()  # cancelled or closed early: the turn never happened

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

    # -- the parts of a run that yield nothing -----------------------------------------------

    async def _recall(self, turn: Turn, question: str) -> str | None:
        """The memory hook: notes for a new conversation, before its first prompt.

        None when there is no hook or this is not a new conversation; "" when the hook ran
        and nothing passed its gate (the run still reports an empty ``RecallEvent``).
        """
        # Only a new conversation is primed from memory; later turns have their own history.
        if self.recall is None or turn.session.messages:
            return None
        try:
            notes, turn.recalled = await self.recall(question)
        except Exception:
            # Recall only helps; a memory that fails must not fail the question.
            return None
        return notes or ""

    def _bound(self, schema: AnswerSchema | None) -> Bound:
        if schema is None:
            return self.bound
        bound = self._schema_bounds.get(schema.key)
        if bound is None:
            bound = self._schema_bounds[schema.key] = with_schema(self.bound, schema)
        return bound

    def _answer_done(self, turn: Turn, action: AnswerAction) -> AnswerDone:
        """The answer, its validated value (with a schema) and its evidence, on the original
        images (a citation of an image that does not exist is dropped with a note)."""
        turn.answer = action.answer
        turn.value = action.value if turn.schema is not None else None
        turn.evidence, turn.notes = resolve_evidence(action.evidence, turn.session.images)
        return AnswerDone(action.answer, turn.evidence, turn.value)

    async def _call(self, tool: Tool | None, call: ToolCallEvent, ctx: ToolContext) -> ToolResult:
        if tool is None:
            return unknown_tool(call.tool, list(self.pipeline))
        return await invoke(tool, call.args, ctx, step=call.step, call_id=call.call_id)

    def _error_text(self, turn: Turn, exc: BaseException) -> str:
        from kanjian.vlm.errors import ModelOutputError

        capped = isinstance(exc, ModelOutputError) and turn.step >= self.max_steps
        if capped or isinstance(exc, _StepCap):
            return (
                f"Stopped after {self.max_steps} steps without an answer; "
                "raise max_steps (--max-steps) or ask a simpler question."
            )
        return str(exc) or type(exc).__name__


_DONE = object()


def _start(
    tool: Tool, call: ToolCallEvent, ctx: ToolContext
) -> tuple[asyncio.Queue[object], asyncio.Future[ToolResult]]:
    """A side-effect tool's call as a task whose reports (approval requests) come first."""
    reports: asyncio.Queue[object] = asyncio.Queue()
    task = asyncio.ensure_future(
        invoke(
            tool, call.args, ctx, step=call.step, call_id=call.call_id, report=reports.put_nowait
        )
    )
    task.add_done_callback(lambda _: reports.put_nowait(_DONE))
    return reports, task


async def _register(
    registry: ImageRegistry, tool: str, result: ToolResult
) -> tuple[ToolResult, list[ImageEntry]]:
    """The images a call made, registered; an image the registry cannot take fails the call."""
    try:
        return result, await register(registry, result)
    except Exception as exc:
        return failed(f"Tool {tool!r} made an unusable image: {exc}"), []


class _StepCap(AgentError):
    """The step cap passed without an answer (only possible with no tools)."""


def _exit_code(exc: BaseException) -> int:
    code = getattr(exc, "exit_code", 1)
    return code if isinstance(code, int) else 1


def _default_keep_in() -> Path:
    from kanjian.agent.config import data_dir

    return data_dir() / "tool-output"


def _run_catching(factory: Callable[[], Awaitable[RunFinished]]) -> RunFinished | BaseException:
    try:
        return asyncio.run(factory())  # type: ignore[arg-type]
    except BaseException as exc:
        return exc
