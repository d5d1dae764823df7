"""bench.agent's baseline: bare LangChain ``create_agent`` (LangGraph) around a fake model.

The same task shape as bench.agent's (two tool steps, then an answer streamed in pieces), at
the same latency; its CPU per step, and its model's own CPU per step driven bare (taken off
the same way as kanjian's in-process model's).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

__all__ = ["STEPS_PER_TASK", "create_agent_floor"]

# Both sides' task: tool, tool, answer.
STEPS_PER_TASK = 3


def _floor_graph(chunks: int, latency: float) -> tuple[Any, Any]:
    """Bare ``create_agent`` with an in-process model that costs nothing: LangGraph's floor.

    Same task shape (two tool steps, then an answer streamed in ``chunks`` pieces), no thread
    hop in the model. The model sleeps ``latency`` per step like the scripted server: after
    each wait the caches are cold (other processes ran), which makes the same work cost
    more CPU.
    """
    from langchain.agents import create_agent
    from langchain_core.language_models import BaseChatModel
    from langchain_core.language_models.chat_models import generate_from_stream
    from langchain_core.messages import AIMessage, AIMessageChunk
    from langchain_core.outputs import ChatGenerationChunk, ChatResult
    from langchain_core.tools import StructuredTool

    class Instant(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "instant"

        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self.bind(tools=tools)

        def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
            raise NotImplementedError("async only")

        async def _agenerate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> ChatResult:
            return generate_from_stream(iter([c async for c in self._astream(messages)]))

        async def _astream(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> Any:
            await asyncio.sleep(latency)
            step = sum(isinstance(m, AIMessage) for m in messages)
            if step < STEPS_PER_TASK - 1:
                call = {
                    "name": "echo",
                    "args": '{"image": "image_1"}',
                    "id": f"c{step}",
                    "index": 0,
                }
                yield ChatGenerationChunk(
                    message=AIMessageChunk(content="", tool_call_chunks=[call])
                )
                return
            for _ in range(chunks):
                yield ChatGenerationChunk(message=AIMessageChunk(content="abcd"))

    async def echo(**_: Any) -> str:
        return "image_1 is 640x480"

    schema = {"type": "object", "properties": {"image": {"type": "string"}}}
    tool = StructuredTool(name="echo", description="Echo.", args_schema=schema, coroutine=echo)
    model = Instant()
    return create_agent(model, [tool]), model


async def create_agent_floor(
    tasks: int, chunks: int, latency: float
) -> tuple[list[float], list[float]]:
    """CPU per step of create_agent's task, and of its model's three steps driven bare."""
    from langchain_core.messages import AIMessage, HumanMessage

    graph, model = _floor_graph(chunks, latency)
    modes = ["updates", "messages"]
    cpu: list[float] = []
    alone: list[float] = []
    for index in range(tasks + 1):
        started = time.process_time()
        async for _ in graph.astream({"messages": [HumanMessage("hi")]}, stream_mode=modes):
            pass
        middle = time.process_time()
        for step in range(STEPS_PER_TASK):
            async for _ in model._astream([HumanMessage("hi"), *[AIMessage("")] * step]):
                pass
        if index:
            cpu.append((middle - started) / STEPS_PER_TASK)
            alone.append((time.process_time() - middle) / STEPS_PER_TASK)
    return cpu, alone
