"""A LangChain chat model for InternVL that speaks the action protocol (:mod:`kanjian.vlm.action`).

InternVL 1.5 has no native tool calling, so :class:`InternVLChatModel` builds it on top of
plain chat: ``bind_tools`` renders the tools into the system prompt (from the prompt data
files in :mod:`kanjian.vlm.prompts`) and into a json_schema union sent as ``response_format`` where
the backend constrains decoding; each step's single JSON object becomes
``AIMessage.tool_calls`` or the answer. Output that does not parse gets ONE retry with the
parse error as feedback. ``_astream`` streams the answer as it is generated.

What goes on the wire is only ``system``/``user``/``assistant``: assistant turns carry the
raw JSON the model produced (``additional_kwargs["raw"]``) and tool results become ``user``
messages starting ``Observation from <tool>:``. Rendering is a pure function of the message
list, so the prefix of every request (system prompt, tool list, earlier turns, image bytes)
is byte-identical from step to step and turn to turn, which is what SGLang's prefix cache
needs.

Image parts may carry an ``image_id`` key (``image_1``...); the renderer then introduces
the image as ``image_N:`` just before it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.chat_models import generate_from_stream
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import ConfigDict, Field, PrivateAttr

from kanjian.vlm import prompts
from kanjian.vlm.action import (
    Action,
    ActionParseError,
    AnswerAction,
    AnswerStreamer,
    ToolAction,
    UnknownToolError,
    action_schema,
    dump_action,
    parse_action,
)
from kanjian.vlm.errors import ModelOutputError, ServerTimeout, VLMError
from kanjian.vlm.types import (
    ChatBackend,
    ChatRequest,
    Finished,
    Message,
    SamplingParams,
    StreamEvent,
    TextDelta,
    Usage,
    UsageReport,
    image_part,
    text_part,
)

__all__ = [
    "InternVLChatModel",
    "StepDelta",
    "StepDeltas",
    "ToolInfo",
    "assistant_text",
    "render_messages",
    "split_observation",
    "system_prompt",
    "tool_infos",
]

# Separators fixed so that the rendered schema never changes between Python versions.
_COMPACT = (",", ":")

# Writes one record to a LangGraph graph's ``custom`` stream (``langgraph.types.StreamWriter``).
DeltaWriter = Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class StepDelta:
    """A step's thought or answer text as it is generated, for ``graph_deltas`` mode.

    ``thought`` is set once, when the thought string has closed; ``answer`` is the newly
    decoded answer text (possibly empty when only the thought is new).
    """

    answer: str = ""
    thought: str | None = None


@dataclass(frozen=True, slots=True)
class StepDeltas:
    """What ``graph_deltas`` mode writes to the graph's stream: the deltas of one loop turn.

    Each write wakes the graph's stream across threads (LangGraph's writer uses
    ``call_soon_threadsafe``, a system call), so the pieces that arrive together (one
    network read) travel in one record, still one :class:`StepDelta` per piece.
    """

    parts: tuple[StepDelta, ...]


class _DeltaBatcher:
    """Collects StepDeltas and writes them as one StepDeltas record per event-loop turn."""

    def __init__(self, write: DeltaWriter) -> None:
        self.write = write
        self.pending: list[StepDelta] = []

    def __call__(self, delta: StepDelta) -> None:
        if not self.pending:
            # Runs once the model task waits for the network again: after this read's pieces.
            asyncio.get_running_loop().call_soon(self.flush)
        self.pending.append(delta)

    def flush(self) -> None:
        if self.pending:
            parts, self.pending = tuple(self.pending), []
            self.write(StepDeltas(parts))


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


# ---------------------------------------------------------------------------- rendering


def _image_url(part: dict[str, Any]) -> str:
    if part.get("type") == "image":  # LangChain standard block
        if "url" in part:
            return str(part["url"])
        return f"data:{part.get('mime_type', 'image/png')};base64,{part['base64']}"
    url = part["image_url"]
    return str(url["url"] if isinstance(url, dict) else url)


def _render_parts(content: str | Sequence[str | dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [text_part(content)]
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, str):
            parts.append(text_part(part))
        elif part.get("type") == "text":
            parts.append(text_part(part["text"]))
        elif part.get("type") in ("image_url", "image"):
            if part.get("image_id"):
                parts.append(text_part(f"{part['image_id']}:"))
            parts.append(image_part(_image_url(part)))
    return parts


def split_observation(message: ToolMessage) -> tuple[str, list[dict[str, Any]]]:
    """A tool result as the model reads it: the ``Observation from <tool>:`` text, and images."""
    content = message.content
    items: list[str | dict[str, Any]] = [content] if isinstance(content, str) else list(content)
    texts = [p if isinstance(p, str) else p.get("text", "") for p in items]
    text = "\n".join(t for t in texts if t and isinstance(t, str))
    images = [p for p in items if isinstance(p, dict) and p.get("type") in ("image_url", "image")]
    return prompts.render("observation.md", tool=message.name or "tool", text=text), images


def _observation_parts(message: ToolMessage) -> list[dict[str, Any]]:
    head, images = split_observation(message)
    return [text_part(head), *_render_parts(images)]


def assistant_text(message: AIMessage) -> str:
    """What an assistant turn sends: the raw action the model produced."""
    raw = message.additional_kwargs.get("raw")
    if isinstance(raw, str):
        return raw
    # A message this adapter did not make (hand-built history): its canonical action text.
    action: Action
    if message.tool_calls:
        call = message.tool_calls[0]
        action = ToolAction(thought="", tool=call["name"], args=dict(call["args"]))
    else:
        action = AnswerAction(thought="", answer=message.text)
    return dump_action(action)


def render_messages(messages: Sequence[BaseMessage]) -> list[Message]:
    """The wire messages for a LangChain history (system messages are left to the caller)."""
    wire: list[Message] = []
    for message in messages:
        if isinstance(message, HumanMessage):
            wire.append({"role": "user", "content": _render_parts(message.content)})
        elif isinstance(message, AIMessage):
            wire.append({"role": "assistant", "content": assistant_text(message)})
        elif isinstance(message, ToolMessage):
            wire.append({"role": "user", "content": _observation_parts(message)})
    return wire


def _current_step(messages: Sequence[BaseMessage]) -> int:
    """1 + the model turns since the last user message: the step being asked for."""
    step = 1
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            break
        if isinstance(message, AIMessage):
            step += 1
    return step


# ---------------------------------------------------------------------------- one request


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


@dataclass(frozen=True, slots=True)
class _Bound:
    """Everything derived from a tool list, computed once per distinct list."""

    tools: tuple[ToolInfo, ...]
    system: str
    response_format: dict[str, Any]
    final_format: dict[str, Any]
    names: frozenset[str]


def _response_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "action", "schema": schema}}


def _bind(tools: tuple[ToolInfo, ...], extra: str) -> _Bound:
    return _Bound(
        tools=tools,
        system=system_prompt(tools, extra),
        response_format=_response_format(action_schema(tools)),
        final_format=_response_format(action_schema(tools, answer_only=True)),
        names=frozenset(t.name for t in tools),
    )


def _usage_metadata(usage: Usage) -> UsageMetadata:
    return UsageMetadata(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        total_tokens=usage.prompt_tokens + usage.completion_tokens,
        input_token_details={"cache_read": usage.cached_tokens},
    )


class InternVLChatModel(BaseChatModel):
    """InternVL behind any :class:`vlm.types.ChatBackend`, with tools via the action protocol."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    backend: Any = Field(exclude=True)
    temperature: float | None = 0.0
    max_tokens: int | None = 1024
    # The step at which only an answer is accepted (the agent's max_steps).
    max_steps: int = 6
    # None: ask the backend (ModelInfo.supports_constraints); True/False: force it.
    constrain: bool | None = None
    # Added after the tool list in the system prompt (kept fixed for the prefix cache).
    instructions: str = ""
    # Inside a LangGraph graph: the thought and answer go to the graph's ``custom`` stream
    # as StepDelta records as they are generated, and the step's message carries the whole
    # answer. LangChain chunks ("messages" stream mode) cost ~30 us each in callbacks,
    # pydantic messages and merging, several times what the client spends reading them.
    graph_deltas: bool = False

    # Keyed by the ids of the tool objects; the objects are held too, so ids are not reused.
    _bound_cache: dict[tuple[int, ...], tuple[Sequence[Any], _Bound]] = PrivateAttr(
        default_factory=dict
    )
    _constrain_known: bool | None = PrivateAttr(default=None)
    # One lookup for all: a batch's first 32 concurrent steps would otherwise each ask.
    _constrain_lock: asyncio.Lock = PrivateAttr(default_factory=asyncio.Lock)

    @property
    def _llm_type(self) -> str:
        return "internvl-action"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind ``tools``; the agent calls this before every step, so it is cheap."""
        return self.bind(tools=list(tools), **kwargs)

    def bound(self, tools: Sequence[Any]) -> _Bound:
        """The prompt and schemas for ``tools``, cached by the identity of the tool objects."""
        key = tuple(id(t) for t in tools)
        hit = self._bound_cache.get(key)
        if hit is None:
            hit = (tuple(tools), _bind(tool_infos(tools), self.instructions))
            self._bound_cache[key] = hit
        return hit[1]

    async def _constraints(self) -> bool:
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

    def wire_messages(
        self, messages: Sequence[BaseMessage], tools: Sequence[Any] = ()
    ) -> list[Message]:
        """Exactly the messages one step sends (without per-request notes)."""
        bound = self.bound(tools)
        extra = "\n\n".join(m.text for m in messages if isinstance(m, SystemMessage))
        system = f"{bound.system}\n\n{extra}" if extra else bound.system
        return [{"role": "system", "content": system}, *render_messages(messages)]

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        tools = kwargs.get("tools") or []
        whole = bool(kwargs.get("whole_answer"))
        writer: DeltaWriter | None = kwargs.get("delta_writer")
        bound = self.bound(tools)
        final = bool(bound.tools) and _current_step(messages) >= self.max_steps
        wire = self.wire_messages(messages, tools)
        if final:
            wire.append({"role": "user", "content": [text_part(prompts.load("final_step.md"))]})
        constrain = await self._constraints()
        fmt = (bound.final_format if final else bound.response_format) if constrain else None
        attempts: list[_Attempt] = []
        error: ActionParseError | None = None
        for _ in range(2):  # the answer, or one retry with the parse error as feedback
            sent = wire if error is None else [*wire, *_retry_messages(attempts[-1].text, error)]
            attempts.append(_Attempt())
            async for chunk in self._one_request(sent, fmt, stop, attempts[-1], whole, writer):
                yield chunk
            action, error = _read_action(attempts[-1].text, bound, final)
            if action is not None:
                yield _final_chunk(action, attempts, writer)
                return
        assert error is not None
        raise ModelOutputError(
            f"The model did not produce a usable action after a retry: {error}",
            output=attempts[-1].text,
        ) from error

    async def _one_request(
        self,
        wire: list[Message],
        fmt: dict[str, Any] | None,
        stop: list[str] | None,
        attempt: _Attempt,
        whole: bool = False,
        writer: DeltaWriter | None = None,
    ) -> AsyncIterator[ChatGenerationChunk]:
        params = SamplingParams(temperature=self.temperature, max_tokens=self.max_tokens, stop=stop)
        request = ChatRequest(messages=wire, params=params, response_format=fmt)
        started = time.perf_counter()
        events = _whole_answer(self.backend, request) if whole else self.backend.stream(request)
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    chunk = _delta_chunk(event.text, attempt, writer)
                    if chunk is not None:
                        yield chunk
                elif isinstance(event, UsageReport):
                    attempt.usage = event.usage
                elif isinstance(event, Finished):
                    attempt.finish_reason = event.reason
        finally:
            attempt.seconds = time.perf_counter() - started

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # No streaming callback is installed: either the deltas go to the graph's stream
        # (graph_deltas), or nobody watches this step token by token (e.g. batch), so ask
        # for the whole answer: one response instead of a chunk per token.
        graph_writer = _graph_writer() if self.graph_deltas else None
        writer = None if graph_writer is None else _DeltaBatcher(graph_writer)
        steps = self._astream(
            messages, stop, run_manager, whole_answer=writer is None, delta_writer=writer, **kwargs
        )
        try:
            # Not LangChain's agenerate_from_stream: it merges the chunks in a worker thread,
            # a thread hop per step that costs more than merging the few chunks here.
            return generate_from_stream(iter([chunk async for chunk in steps]))
        finally:
            if writer is not None:
                writer.flush()  # the last pieces go out before the step's message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # Sync callers (scripts) get the async path on a private loop in a worker thread,
        # so this also works when the caller itself runs inside an event loop.
        box: list[ChatResult | BaseException] = []

        def work() -> None:
            try:
                box.append(asyncio.run(self._agenerate(messages, stop, None, **kwargs)))
            except BaseException as exc:
                box.append(exc)

        thread = threading.Thread(target=work, name="internvl-generate")
        thread.start()
        thread.join()
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]


async def _whole_answer(backend: ChatBackend, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    """One non-streamed answer as the events a stream would give."""
    result = await backend.complete(request)
    if result.text:
        yield TextDelta(result.text)
    yield Finished(result.finish_reason)
    yield UsageReport(result.usage)


def _graph_writer() -> DeltaWriter | None:
    """The running LangGraph graph's stream writer; None outside a graph."""
    from langgraph.config import get_stream_writer

    try:
        return get_stream_writer()
    except RuntimeError:  # "outside of a runnable context": a plain ainvoke
        return None


def _delta_chunk(
    text: str, attempt: _Attempt, writer: DeltaWriter | None = None
) -> ChatGenerationChunk | None:
    """The newly decoded thought and answer: a chunk, or written to ``writer``."""
    attempt.raw.append(text)
    answer = attempt.streamer.feed(text)
    thought: str | None = None
    if attempt.streamer.thought is not None and not attempt.thought_sent:
        attempt.thought_sent = True
        thought = attempt.streamer.thought
    if not answer and thought is None:
        return None
    if writer is not None:
        writer(StepDelta(answer, thought))
        return None
    kwargs = {} if thought is None else {"thought": thought}
    return ChatGenerationChunk(message=AIMessageChunk(content=answer, additional_kwargs=kwargs))


def _retry_messages(raw: str, error: ActionParseError) -> list[Message]:
    feedback = prompts.render("retry.md", error=str(error))
    return [
        {"role": "assistant", "content": raw},
        {"role": "user", "content": [text_part(feedback)]},
    ]


def _read_action(
    text: str, bound: _Bound, final: bool
) -> tuple[Action | None, ActionParseError | None]:
    try:
        action: Action = parse_action(text, bound.names)
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


def _final_chunk(
    action: Action, attempts: list[_Attempt], writer: DeltaWriter | None = None
) -> ChatGenerationChunk:
    last = attempts[-1]
    extra: dict[str, Any] = {"raw": last.text}
    if not last.thought_sent and action.thought:
        extra["thought"] = action.thought
    rest = _unstreamed(action, last)
    if writer is not None and (rest or "thought" in extra):
        writer(StepDelta(rest, extra.get("thought")))
    usage = sum((a.usage for a in attempts), Usage())
    metadata = {
        "finish_reason": last.finish_reason,
        "model_requests": [a.record() for a in attempts],
        "usage": usage.as_dict(),
    }
    if isinstance(action, ToolAction):
        call = {
            "name": action.tool,
            "args": json.dumps(action.args, ensure_ascii=False),
            "id": f"call_{uuid.uuid4().hex[:16]}",
            "index": 0,
        }
        message = AIMessageChunk(
            content="",
            additional_kwargs=extra,
            tool_call_chunks=[call],  # type: ignore[list-item]
            usage_metadata=_usage_metadata(usage),
            response_metadata=metadata,
        )
    else:
        # The parsed answer, for whoever needs it exact (a retried step streamed twice).
        extra["answer"] = action.answer
        message = AIMessageChunk(
            # With a writer the deltas went to the graph's stream, not into this message.
            content=rest if writer is None else action.answer,
            additional_kwargs=extra,
            usage_metadata=_usage_metadata(usage),
            response_metadata=metadata,
        )
    return ChatGenerationChunk(message=message)


def _unstreamed(action: Action, attempt: _Attempt) -> str:
    """The end of the answer that was not streamed yet ("" for a tool call).

    Repairs (or a reply the streamer could not follow) can leave the streamed text short
    of the parsed answer.
    """
    if not isinstance(action, AnswerAction):
        return ""
    streamed = attempt.streamer.streamed
    return action.answer[len(streamed) :] if action.answer.startswith(streamed) else ""
