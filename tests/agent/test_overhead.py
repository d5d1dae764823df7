"""Per-step overhead, each fix tested for the behaviour it must keep (bench/agent has the figures).

- The LangChain adapter merges a step's chunks on the event loop: LangChain's
  agenerate_from_stream hopped to a worker thread on every step.
- The lean loop streams the thought and the answer straight from the adapter as events,
  and ``deltas=False`` asks each step whole; outside the loop, ``ainvoke`` asks whole too.
- Tools are called through the pipeline composed once per agent; nothing hops to a thread
  for a tool call that needs none.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from kanjian.agent.events import AnswerDelta, AnswerDone, ApprovalRequest, Thought, ToolResultEvent
from kanjian.agent.loop import Agent
from kanjian.agent.session import Session
from kanjian.tools.base import Tool, ToolContext, ToolOutput
from kanjian.vlm.chat_model import InternVLChatModel
from kanjian.vlm.client import SGLangClient
from kanjian.vlm.fake_server import Reply, ScriptedServer

from .helpers import answer, collect, png, tool_call

ROOT = Path(__file__).resolve().parents[2]


class _NoThreads(concurrent.futures.ThreadPoolExecutor):
    """A default executor that refuses work: proves nothing hops to a thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{fn!r} was sent to a worker thread")


async def test_ainvoke_merges_its_chunks_on_the_loop_not_in_a_worker_thread(
    server: ScriptedServer, client: SGLangClient
) -> None:
    server.enqueue(answer("On the loop."))
    loop = asyncio.get_running_loop()
    refusing = _NoThreads(max_workers=1)
    loop.set_default_executor(refusing)
    try:
        message = await InternVLChatModel(backend=client, constrain=True).ainvoke(
            [HumanMessage("Where?")]
        )
    finally:
        refusing.shutdown()
    assert message.content == "On the loop."


async def test_the_loop_streams_thought_and_answer_as_events_and_keeps_the_whole_answer(
    server: ScriptedServer, client: SGLangClient
) -> None:
    text = "A **red** square, 64 by 48 pixels, in the middle."
    server.enqueue(Reply(text=answer(text, thought="Look at it."), token_delay=0.001))
    events = await collect(Agent(client).run("What is it?"))
    assert [e.text for e in events if isinstance(e, Thought)] == ["Look at it."]
    deltas = [e.text for e in events if isinstance(e, AnswerDelta)]
    assert len(deltas) > 3 and "".join(deltas) == text
    assert [e.text for e in events if isinstance(e, AnswerDone)] == [text]
    assert server.chat_requests[0].json["stream"] is True


async def test_ainvoke_outside_a_stream_asks_for_the_whole_answer(
    server: ScriptedServer, client: SGLangClient
) -> None:
    server.enqueue(answer("Whole."))
    model = InternVLChatModel(backend=client, constrain=True)
    message = await model.ainvoke([HumanMessage("Hi")])
    assert isinstance(message, AIMessage) and message.content == "Whole."
    assert not server.chat_requests[0].json.get("stream")


async def test_a_repaired_answer_still_reaches_the_deltas_whole(
    server: ScriptedServer, client: SGLangClient
) -> None:
    # Prose around the object: the streamer follows it; the parsed answer is what counts.
    server.enqueue("Sure! " + answer("Fixed.") + " Hope that helps.")
    events = await collect(Agent(client).run("Hi"))
    assert "".join(e.text for e in events if isinstance(e, AnswerDelta)) == "Fixed."
    assert [e.text for e in events if isinstance(e, Thought)] == ["done"]


def _sizer() -> Tool:
    async def size(args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        image = ctx.image(args["image"])
        return ToolOutput(text=f"{image.width}x{image.height}", data={"w": image.width})

    schema = {"type": "object", "properties": {"image": {"type": "string"}}, "required": ["image"]}
    return Tool("size", "Measure an image.", schema, size)


async def test_a_tool_call_hops_to_no_thread_and_keeps_its_schema(
    server: ScriptedServer, client: SGLangClient
) -> None:
    server.enqueue(tool_call("size", image="image_1"), answer("64x48."))
    agent = Agent(client, [_sizer()])
    session = Session()
    await collect(agent.run("Warm up", [png()], session=session, deltas=False))
    server.enqueue(tool_call("size", image="image_1"), answer("64x48."))
    loop = asyncio.get_running_loop()
    refusing = _NoThreads(max_workers=1)
    loop.set_default_executor(refusing)
    try:
        events = await collect(agent.run("How big?", session=session, deltas=False))
    finally:
        refusing.shutdown()
    # Only the session save may hop (off-loop disk write): it is refused, so the run fails
    # there, after the tool step ran on the loop.
    result = next(e for e in events if isinstance(e, ToolResultEvent))
    assert (result.output, result.error) == ({"w": 64}, None)
    assert agent.pipeline["size"].args_schema == _sizer().args_schema
    observation = server.chat_requests[1].json["messages"][-1]["content"][0]["text"]
    assert observation.startswith("Observation from size:") and "64x48" in observation


@pytest.mark.slow
def test_bench_agent_prints_the_goal_line_and_the_floor(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench.agent", "--tasks", "1", "--latency", "0.01"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.strip().startswith("cpu: agent") for line in lines), done.stdout
    assert any("of latency (goal <= 1%)" in line for line in lines), done.stdout
    assert any(line.startswith("create_agent (bare LangGraph") for line in lines), done.stdout
    # The goal figure: kanjian against an in-process model, beside create_agent against its own.
    assert any(line.startswith("kanjian cpu per step / create_agent = ") for line in lines)
    assert any(line.strip().startswith("per task, timed alone: attachment") for line in lines)


def _noter() -> Tool:
    async def note(args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        return ToolOutput(text=f"noted {args['text']}", data={"noted": args["text"]})

    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    return Tool("note", "Write a note.", schema, note, side_effects=True)


async def test_without_deltas_a_side_effect_tool_still_reports_its_approval_request(
    server: ScriptedServer, client: SGLangClient
) -> None:
    server.enqueue(tool_call("note", text="hi"), answer("Noted."))
    asked: list[ApprovalRequest] = []

    async def approve(request: ApprovalRequest) -> bool:
        asked.append(request)
        return True

    events = await collect(Agent(client, [_noter()], approver=approve).run("Note", deltas=False))
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("ApprovalRequest") < kinds.index("ToolResultEvent")
    assert [e for e in events if isinstance(e, ApprovalRequest)] == asked
    assert "AnswerDelta" not in kinds and "Thought" not in kinds


async def test_without_deltas_or_side_effects_every_step_and_result_is_still_reported(
    server: ScriptedServer, client: SGLangClient
) -> None:
    server.enqueue(tool_call("size", image="image_1"), answer("64x48."))
    events = await collect(Agent(client, [_sizer()]).run("How big?", [png()], deltas=False))
    assert [type(e).__name__ for e in events] == [
        "ImageAdded",
        "StepStarted",
        "UsageEvent",
        "ToolCallEvent",
        "ToolResultEvent",
        "StepStarted",
        "UsageEvent",
        "AnswerDone",
        "RunFinished",
    ]
    assert all(not r.json.get("stream") for r in server.chat_requests)
