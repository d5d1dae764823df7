"""Per-step overhead fixes, each tested for the behaviour it must keep (bench/agent has the figures).

- The adapter merges a step's chunks on the event loop: LangChain's agenerate_from_stream
  hopped to a worker thread on every step.
- ``graph_deltas``: inside a graph, the thought and answer go to the custom stream as
  StepDeltas records, one per loop turn (LangGraph's "messages" mode cost ~30 us per
  token); the step's message still carries the whole answer, and outside a graph the
  step is asked whole.
- Tools run through a StructuredTool whose ``_arun`` skips LangChain's per-call reflection.
- A run without deltas and without side-effect tools streams the graph without the custom
  mode (LangGraph then skips its concurrent stream waiting); every event is still there.
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

from kanjian.agent.events import AnswerDelta, ApprovalRequest, Thought
from kanjian.agent.loop import Agent, _lean_tool_class
from kanjian.tools.base import Tool, ToolContext, ToolOutput
from kanjian.vlm.chat_model import InternVLChatModel, StepDelta, StepDeltas
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


def _deltas_graph(model: InternVLChatModel) -> Any:
    from langchain.agents import create_agent

    return create_agent(model, [])


async def test_graph_deltas_go_to_the_custom_stream_and_the_message_keeps_the_whole_answer(
    server: ScriptedServer, client: SGLangClient
) -> None:
    text = "A **red** square, 64 by 48 pixels, in the middle."
    server.enqueue(Reply(text=answer(text, thought="Look at it."), token_delay=0.001))
    graph = _deltas_graph(InternVLChatModel(backend=client, constrain=True, graph_deltas=True))
    records: list[Any] = []
    messages: list[Any] = []
    stream = graph.astream(
        {"messages": [HumanMessage("What is it?")]}, stream_mode=["updates", "custom"]
    )
    async for mode, payload in stream:
        if mode == "custom":
            records.append(payload)
        else:
            messages += payload.get("model", {}).get("messages", [])
    assert all(isinstance(r, StepDeltas) for r in records)
    deltas: list[StepDelta] = [d for r in records for d in r.parts]
    assert [d.thought for d in deltas if d.thought is not None] == ["Look at it."]
    assert len([d for d in deltas if d.answer]) > 3
    assert "".join(d.answer for d in deltas) == text
    assert [m.content for m in messages] == [text]
    assert server.chat_requests[0].json["stream"] is True


async def test_graph_deltas_outside_a_graph_asks_for_the_whole_answer(
    server: ScriptedServer, client: SGLangClient
) -> None:
    server.enqueue(answer("Whole."))
    model = InternVLChatModel(backend=client, constrain=True, graph_deltas=True)
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


async def test_lean_tools_still_get_the_run_context_and_keep_their_schema(
    server: ScriptedServer, client: SGLangClient
) -> None:
    server.enqueue(tool_call("size", image="image_1"), answer("64x48."))
    agent = Agent(client, [_sizer()])
    final = (await collect(agent.run("How big?", [png()])))[-1]
    assert final.steps[0].output == {"w": 64}  # type: ignore[attr-defined]
    lean = agent.graph.nodes["tools"].bound.tools_by_name["size"]
    assert isinstance(lean, _lean_tool_class())
    assert lean.args_schema == _sizer().args_schema
    observation = server.chat_requests[1].json["messages"][-1]["content"][0]["text"]
    assert observation.startswith("Observation from size:") and "64x48" in observation


@pytest.mark.slow
def test_bench_agent_prints_the_goal_line_and_the_floor(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench.agent", "--tasks", "1", "--latency", "0.01"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.strip().startswith("cpu: agent") for line in lines), done.stdout
    assert any("of latency (goal < 2%)" in line for line in lines), done.stdout
    assert any(line.startswith("create_agent floor") for line in lines), done.stdout


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
