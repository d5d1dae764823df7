"""The model adapter: one step of the action protocol over any ChatBackend, no framework.

InternVL 1.5 has no native tool calling, so tools are built on plain chat: the tools are
rendered into the system prompt (from the prompt data files in :mod:`kanjian.vlm.prompts`)
and into a json_schema union sent as ``response_format`` where the backend constrains
decoding; each step's reply is one JSON object, a tool call or the answer
(:mod:`kanjian.vlm.action`). Output that does not parse gets ONE retry with the parse error
as feedback.

:meth:`ActionModel.step` is an async generator: the thought and the answer as they are
generated (:class:`StepDelta`), then the parsed step (:class:`StepResult`). The agent's loop
(:mod:`kanjian.agent.loop`) and the LangChain chat model
(:class:`kanjian.vlm.chat_model.InternVLChatModel`) both drive it.

What goes on the wire is only ``system``/``user``/``assistant``; rendering is a pure function
of the conversation, so the prefix of every request (system prompt, tool list, earlier
turns, image bytes) is byte-identical from step to step and turn to turn, which is what
SGLang's prefix cache needs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kanjian.vlm import prompts
from kanjian.vlm.action import (
    Action,
    ActionParseError,
    AnswerAction,
    ToolAction,
    UnknownToolError,
    action_schema,
    parse_action,
)
from kanjian.vlm.answer_stream import AnswerStreamer
from kanjian.vlm.errors import ModelOutputError, ServerTimeout, VLMError
from kanjian.vlm.schema import AnswerSchema
from kanjian.vlm.types import (
    ChatBackend,
    ChatRequest,
    Finished,
    Message,
    SamplingParams,
    TextDelta,
    Usage,
    UsageReport,
    image_part,
    text_part,
)

__all__ = [
    "ActionModel",
    "Bound",
    "StepDelta",
    "StepResult",
    "ToolInfo",
    "render_stored",
    "system_prompt",
    "tool_infos",
    "with_schema",
]

# Separators fixed so that the rendered schema never changes between Python versions.
_COMPACT = (",", ":")


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """A tool as the protocol sees it: name, one-line purpose, JSON schema of the args."""

    name: str
    description: str
    args_schema: dict[str, Any]


def _tool_info(tool: Any) -> ToolInfo:
    """Accepts kanjian ``Tool``s, LangChain ``BaseTool``s and OpenAI-format dicts."""
    if isinstance(tool, ToolInfo):
        return tool
    if isinstance(tool, dict):
        fn = tool.get("function", tool)
        schema = fn.get("parameters") or {"type": "object", "properties": {}}
        return ToolInfo(fn["name"], fn.get("description", ""), schema)
    schema = getattr(tool, "args_schema", None)
    if not isinstance(schema, dict):
        from langchain_core.utils.function_calling import convert_to_openai_tool

        return _tool_info(convert_to_openai_tool(tool))
    return ToolInfo(tool.name, tool.description or "", schema)


def tool_infos(tools: Sequence[Any]) -> tuple[ToolInfo, ...]:
    return tuple(_tool_info(t) for t in tools)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def system_prompt(tools: Sequence[ToolInfo], extra: str = "") -> str:
    """The system prompt: protocol rules, then each tool with the JSON schema of its args."""
    listing = "\n".join(
        prompts.render(
            "tool.md",
            name=t.name,
            description=_first_line(t.description),
            schema=json.dumps(
                t.args_schema, ensure_ascii=False, sort_keys=True, separators=_COMPACT
            ),
        )
        for t in tools
    )
    text = prompts.render("system.md", tools=listing or prompts.load("no_tools.md"))
    return f"{text}\n\n{extra}" if extra else text


def render_stored(
    messages: Sequence[dict[str, Any]], wire_url: Callable[[str], str]
) -> list[Message]:
    """Wire messages for a conversation in stored form (see :mod:`kanjian.agent.session`).

    Images are referenced by id; each is introduced as ``image_N:`` just before its bytes.
    """
    wire: list[Message] = []
    for message in messages:
        if message["role"] == "assistant":
            wire.append({"role": "assistant", "content": message["content"]})
            continue
        parts: list[dict[str, Any]] = []
        for part in message["content"]:
            if part.get("type") == "text":
                parts.append(text_part(part["text"]))
            elif part.get("image_id"):
                parts.append(text_part(f"{part['image_id']}:"))
                parts.append(image_part(wire_url(part["image_id"])))
        wire.append({"role": "user", "content": parts})
    return wire


@dataclass(frozen=True, slots=True)
class Bound:
    """Everything derived from a tool list, computed once per distinct list."""

    tools: tuple[ToolInfo, ...]
    system: str
    response_format: dict[str, Any]
    final_format: dict[str, Any]
    names: frozenset[str]
    # The user's answer schema (``--schema``): the answer branch carries it, and the parsed
    # answer is validated against it. None: the answer is Markdown text.
    schema: AnswerSchema | None = None


def _response_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "action", "schema": schema}}


def bind(tools: tuple[ToolInfo, ...], extra: str = "") -> Bound:
    return Bound(
        tools=tools,
        system=system_prompt(tools, extra),
        response_format=_response_format(action_schema(tools)),
        final_format=_response_format(action_schema(tools, answer_only=True)),
        names=frozenset(t.name for t in tools),
    )


def with_schema(bound: Bound, schema: AnswerSchema | None) -> Bound:
    """``bound`` whose answer branch is ``schema``: the same system prompt (so the prompt
    prefix, and SGLang's cache of it, is shared with runs without a schema)."""
    tools = bound.tools
    return replace(
        bound,
        response_format=_response_format(action_schema(tools, schema=schema)),
        final_format=_response_format(action_schema(tools, answer_only=True, schema=schema)),
        schema=schema,
    )


@dataclass(slots=True)  # not frozen: one is made per token, and frozen ones cost 3x
class StepDelta:
    """A step's thought or answer text as it is generated.

    ``thought`` is set once, when the thought string has closed; ``answer`` is the newly
    decoded answer text (possibly empty when only the thought is new).
    """

    answer: str = ""
    thought: str | None = None


@dataclass(frozen=True, slots=True)
class StepResult:
    """One finished step: the parsed action, the raw text it came from, and its requests."""

    action: Action
    raw: str
    usage: Usage
    finish_reason: str | None
    # One record per model request (two when the step was retried): tokens and seconds.
    requests: tuple[dict[str, Any], ...]


@dataclass(slots=True)
class _Attempt:
    """What one model request produced, filled while its stream is read."""

    streamer: AnswerStreamer = field(default_factory=AnswerStreamer)
    raw: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    seconds: float = 0.0
    thought_sent: bool = False

    @property
    def text(self) -> str:
        return "".join(self.raw)

    def record(self) -> dict[str, Any]:
        return self.usage.as_dict() | {"seconds": round(self.seconds, 6)}

    def feed(self, text: str) -> StepDelta | None:
        """The newly decoded thought and answer in ``text``; None when nothing is new."""
        self.raw.append(text)
        answer = self.streamer.feed(text)
        if self.thought_sent or self.streamer.thought is None:
            return StepDelta(answer) if answer else None
        self.thought_sent = True
        return StepDelta(answer, self.streamer.thought)


class ActionModel:
    """InternVL behind a :class:`~vlm.types.ChatBackend`, one protocol step at a time."""

    def __init__(
        self,
        backend: ChatBackend,
        *,
        temperature: float | None = 0.0,
        max_tokens: int | None = 1024,
        constrain: bool | None = None,
    ) -> None:
        self.backend = backend
        self.temperature = temperature
        self.max_tokens = max_tokens
        # None: ask the backend (ModelInfo.supports_constraints); True/False: force it.
        self.constrain = constrain
        self._constrain_known: bool | None = None
        # One lookup for all: a batch's first 32 concurrent steps would otherwise each ask.
        self._constrain_lock = asyncio.Lock()

    async def constraints(self) -> bool:
        if self.constrain is not None:
            return self.constrain
        if self._constrain_known is None:
            async with self._constrain_lock:
                if self._constrain_known is None:
                    self._constrain_known = await self._server_constrains()
        return self._constrain_known

    async def _server_constrains(self) -> bool:
        try:
            info = await self.backend.model_info()
        except ServerTimeout:
            # A server that cannot describe itself within the read timeout will not answer
            # either: waiting the timeout again for the chat request doubled the wait.
            raise
        except VLMError:
            # Unknown: ask for the constraint; servers that ignore it still answer.
            return True
        return bool(info.supports_constraints)

    async def step(
        self,
        wire: list[Message],
        bound: Bound,
        *,
        final: bool = False,
        stream: bool = True,
        stop: list[str] | None = None,
    ) -> AsyncGenerator[StepDelta | StepResult]:
        """One step for ``wire`` (system message included): deltas, then the StepResult.

        ``final``: only an answer is accepted (the last step). ``stream=False`` asks for the
        reply whole: one response and no per-token work; the deltas then come as one.
        """
        if final:
            wire = [*wire, {"role": "user", "content": [text_part(prompts.load("final_step.md"))]}]
        constrain = await self.constraints()
        fmt = (bound.final_format if final else bound.response_format) if constrain else None
        attempts: list[_Attempt] = []
        error: ActionParseError | None = None
        for _ in range(2):  # the answer, or one retry with the parse error as feedback
            sent = wire if error is None else [*wire, *_retry_messages(attempts[-1].text, error)]
            attempt = _Attempt()
            attempts.append(attempt)
            request = ChatRequest(messages=sent, params=self._params(stop), response_format=fmt)
            started = time.perf_counter()
            try:
                if not stream:
                    await self._read_whole(request, attempt)
                else:  # read here, not in a helper generator: each delta is yielded once
                    events = self.backend.stream(request)
                    try:
                        async for event in events:
                            if isinstance(event, TextDelta):
                                delta = attempt.feed(event.text)
                                if delta is not None:
                                    yield delta
                            elif isinstance(event, UsageReport):
                                attempt.usage = event.usage
                            elif isinstance(event, Finished):
                                attempt.finish_reason = event.reason
                    finally:
                        # Closed now, not when collected: a consumer that stops reading
                        # (Ctrl-C, a closed run) ends the HTTP stream at once.
                        close = getattr(events, "aclose", None)
                        if close is not None:
                            await close()
            finally:
                attempt.seconds = time.perf_counter() - started
            action, error = _read_action(attempt.text, bound, final)
            if action is not None:
                rest = _unstreamed(action, attempt) if stream else _answer_text(action)
                thought = None if attempt.thought_sent or not action.thought else action.thought
                if rest or thought:
                    yield StepDelta(rest, thought)
                yield _result(action, attempts)
                return
        assert error is not None
        raise ModelOutputError(
            f"The model did not produce a usable action after a retry: {error}",
            output=attempts[-1].text,
        ) from error

    def _params(self, stop: list[str] | None) -> SamplingParams:
        return SamplingParams(temperature=self.temperature, max_tokens=self.max_tokens, stop=stop)

    async def _read_whole(self, request: ChatRequest, attempt: _Attempt) -> None:
        result = await self.backend.complete(request)
        attempt.raw.append(result.text)
        attempt.usage = result.usage
        attempt.finish_reason = result.finish_reason


def _result(action: Action, attempts: list[_Attempt]) -> StepResult:
    return StepResult(
        action=action,
        raw=attempts[-1].text,
        usage=sum((a.usage for a in attempts), Usage()),
        finish_reason=attempts[-1].finish_reason,
        requests=tuple(a.record() for a in attempts),
    )


def _retry_messages(raw: str, error: ActionParseError) -> list[Message]:
    feedback = prompts.render("retry.md", error=str(error))
    return [
        {"role": "assistant", "content": raw},
        {"role": "user", "content": [text_part(feedback)]},
    ]


def _read_action(
    text: str, bound: Bound, final: bool
) -> tuple[Action | None, ActionParseError | None]:
    try:
        action: Action = parse_action(text, bound.names, bound.schema)
    except UnknownToolError as exc:
        # Well-formed: the agent tells the model the tool does not exist (an observation).
        action = exc.action
    except ActionParseError as exc:
        return None, exc
    if final and isinstance(action, ToolAction):
        return None, ActionParseError(
            f"Tool {action.tool!r} was called at the last step, where only an answer is "
            "accepted; reply with the answer.",
            output=text,
        )
    return action, None


def _answer_text(action: Action) -> str:
    return action.answer if isinstance(action, AnswerAction) else ""


def _unstreamed(action: Action, attempt: _Attempt) -> str:
    """The end of the answer that was not streamed yet ("" for a tool call).

    Repairs (or a reply the streamer could not follow) can leave the streamed text short
    of the parsed answer.
    """
    if not isinstance(action, AnswerAction):
        return ""
    streamed = attempt.streamer.streamed
    return action.answer[len(streamed) :] if action.answer.startswith(streamed) else ""
