"""A LangChain chat model for InternVL, over the action protocol (:mod:`kanjian.vlm.adapter`).

kanjian's own loop drives :class:`kanjian.vlm.adapter.ActionModel` directly; this wrapper is
where LangChain users meet the same adapter: ``bind_tools`` renders the tools into the
system prompt and the response format, each step's single JSON object becomes
``AIMessage.tool_calls`` or the answer, and ``_astream`` streams the answer as it is
generated. It drives LangChain's own ``create_agent`` (see
``examples/langgraph_create_agent.py``).

What goes on the wire is only ``system``/``user``/``assistant``: assistant turns carry the
raw JSON the model produced (``additional_kwargs["raw"]``) and tool results become ``user``
messages starting ``Observation from <tool>:``. Rendering is a pure function of the message
list, so the prefix of every request is byte-identical from step to step.

Image parts may carry an ``image_id`` key (``image_1``...); the renderer then introduces
the image as ``image_N:`` just before it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
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
from kanjian.vlm.action import Action, AnswerAction, ToolAction, dump_action
from kanjian.vlm.adapter import (
    ActionModel,
    Bound,
    StepDelta,
    StepResult,
    ToolInfo,
    bind,
    system_prompt,
    tool_infos,
)
from kanjian.vlm.types import Message, Usage, image_part, text_part

__all__ = [
    "InternVLChatModel",
    "StepDelta",
    "ToolInfo",
    "assistant_text",
    "render_messages",
    "split_observation",
    "system_prompt",
    "tool_infos",
]

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

    # Keyed by the ids of the tool objects; the objects are held too, so ids are not reused.
    _bound_cache: dict[tuple[int, ...], tuple[Sequence[Any], Bound]] = PrivateAttr(
        default_factory=dict
    )
    _adapter: ActionModel | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "internvl-action"

    @property
    def adapter(self) -> ActionModel:
        """The framework-free adapter this model wraps (one per model: one constraint lookup)."""
        if self._adapter is None:
            self._adapter = ActionModel(
                self.backend,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                constrain=self.constrain,
            )
        return self._adapter

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind ``tools``; an agent calls this before every step, so it is cheap."""
        return self.bind(tools=list(tools), **kwargs)

    def bound(self, tools: Sequence[Any]) -> Bound:
        """The prompt and schemas for ``tools``, cached by the identity of the tool objects."""
        key = tuple(id(t) for t in tools)
        hit = self._bound_cache.get(key)
        if hit is None:
            hit = (tuple(tools), bind(tool_infos(tools), self.instructions))
            self._bound_cache[key] = hit
        return hit[1]

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
        bound = self.bound(tools)
        final = bool(bound.tools) and _current_step(messages) >= self.max_steps
        wire = self.wire_messages(messages, tools)
        stream = not kwargs.get("whole_answer")
        async for item in self.adapter.step(wire, bound, final=final, stream=stream, stop=stop):
            yield _delta_chunk(item) if isinstance(item, StepDelta) else _final_chunk(item)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # Nobody watches this step token by token: ask for the whole answer, one response
        # instead of a chunk per token.
        steps = self._astream(messages, stop, run_manager, whole_answer=True, **kwargs)
        # Not LangChain's agenerate_from_stream: it merges the chunks in a worker thread,
        # a thread hop per step that costs more than merging the few chunks here.
        return generate_from_stream(iter([chunk async for chunk in steps]))

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


def _delta_chunk(delta: StepDelta) -> ChatGenerationChunk:
    kwargs = {} if delta.thought is None else {"thought": delta.thought}
    return ChatGenerationChunk(
        message=AIMessageChunk(content=delta.answer, additional_kwargs=kwargs)
    )


def _final_chunk(result: StepResult) -> ChatGenerationChunk:
    """The step's message: its tool call or parsed answer, raw text, usage and requests."""
    action = result.action
    extra: dict[str, Any] = {"raw": result.raw}
    metadata = {
        "finish_reason": result.finish_reason,
        "model_requests": list(result.requests),
        "usage": result.usage.as_dict(),
    }
    tool_call_chunks: list[Any] = []
    if isinstance(action, ToolAction):
        tool_call_chunks = [
            {
                "name": action.tool,
                "args": json.dumps(action.args, ensure_ascii=False),
                "id": f"call_{uuid.uuid4().hex[:16]}",
                "index": 0,
            }
        ]
    else:
        # The parsed answer, for whoever needs it exact (a retried step streamed twice).
        extra["answer"] = action.answer
    message = AIMessageChunk(
        content="",
        additional_kwargs=extra,
        tool_call_chunks=tool_call_chunks,
        usage_metadata=_usage_metadata(result.usage),
        response_metadata=metadata,
    )
    return ChatGenerationChunk(message=message)
