"""Agent overhead per step, as a fraction of a scripted model's fixed 100 ms latency.

Runs N three-step tasks (tool, tool, answer) through :class:`agent.loop.Agent` against the
scripted model server (``python -m vlm.fake_server``, in its own process, like a real SGLang
server) answering each request after 100 ms, and, after each task, replays the very request
bodies the agent sent through a bare :class:`vlm.client.SGLangClient` loop (no agent). The
two are interleaved so drift in machine load hits both alike. The difference is everything
the agent does besides waiting for the model: the loop, the adapter, prompt rendering,
parsing, the tool pipeline, events.

Two measures are printed: wall time, and the CPU time of this process. On a shared, busy
machine the wall difference is noisy (every await can wait for a core); CPU time is what the
agent itself costs and does not depend on others' load.

The same agent also runs against an in-process model (:class:`_InProcess`: the same replies
in the same 4-character deltas, after the same latency, no HTTP), which measures kanjian's
CPU per step directly instead of as a difference: everything but the model and the HTTP
client (whose CPU per request is printed on its own line). Per step is a 3-step task's CPU
divided by 3, so it carries a third of the per-task work: the attachment (read, decode,
store, encode for the wire; :mod:`kanjian.vlm.images`) and the session save, both also timed
alone. "Per extra step" is what one more tool step adds (3-step task minus 1-step task, / 2).

Beside them, the baseline: bare LangChain ``create_agent`` (LangGraph) around a fake
in-process model that costs nothing, doing the same task shape (two tool steps, then an
answer streamed in the same number of pieces, with ``stream_mode=["updates", "messages"]``,
the way a LangGraph user streams tokens), at the same latency. kanjian's whole overhead
should be well under what LangGraph alone costs.

    .venv/bin/python -m bench.agent [--tasks N] [--latency S]

Goal: kanjian's CPU per step at most 1% of the model's latency (1 ms at 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench._create_agent import STEPS_PER_TASK, create_agent_floor


def _replies() -> tuple[str, str]:
    tool = {"thought": "find the text", "tool": "echo", "args": {"image": "image_1"}}
    answer = "The label reads **KANJIAN 看见**, printed in black on white. " * 4
    final = {"thought": "I have it", "answer": answer}
    return json.dumps(tool), json.dumps(final, ensure_ascii=False)


def _script(tasks: int) -> list[str]:
    """The replies in order, per round: a three-step task, its raw replay, then a one-step
    task (a direct answer) and its raw replay."""
    tool, final = _replies()
    return ([tool, tool, final] * 2 + [final] * 2) * (tasks + 1)


def _echo_tool() -> Any:
    from kanjian.tools.base import Tool, ToolContext, ToolOutput

    async def echo(args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        # What create_agent's echo does: no pixel work (a tool that reads the pixels has them
        # decoded then, which is the tool's work, not the loop's; the attachment line times
        # loading the image).
        if args["image"] not in ctx.image_ids():
            raise ValueError(f"no image {args['image']!r}")
        return ToolOutput(text=f"{args['image']} is 640x480", data={"ok": True})

    schema = {"type": "object", "properties": {"image": {"type": "string"}}, "required": ["image"]}
    return Tool("echo", "Describe the image size.", schema, echo)


def _png(index: int = 0) -> bytes:
    """A 640x480 PNG; each index gives other bytes (one pixel differs), so no task finds
    its attachment already loaded by an earlier one, as in a real batch."""
    from PIL import Image

    picture = Image.new("RGB", (640, 480), "white")
    picture.putpixel((index % 640, index // 640 % 480), (index % 251, 0, 0))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


async def _agent_task(agent: Any, image: bytes) -> tuple[float, float]:
    from kanjian.agent.events import RunFinished

    wall, cpu = time.perf_counter(), time.process_time()
    final = None
    async for event in agent.run("What does the label say?", [image]):
        final = event
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert isinstance(final, RunFinished) and final.error is None, final
    return wall, cpu


async def _raw_replay(client: Any, bodies: list[dict[str, Any]]) -> tuple[float, float]:
    from kanjian.vlm.types import ChatRequest, SamplingParams

    wall, cpu = time.perf_counter(), time.process_time()
    for body in bodies:
        params = SamplingParams(
            temperature=body.get("temperature"), max_tokens=body.get("max_tokens")
        )
        request = ChatRequest(body["messages"], params, response_format=body.get("response_format"))
        async for _ in client.stream(request):
            pass
    return time.perf_counter() - wall, time.process_time() - cpu


class _Server:
    """``python -m vlm.fake_server`` in a child process, with the whole script up front."""

    def __init__(self, script: list[str], latency: float) -> None:
        self.folder = tempfile.mkdtemp(prefix="kanjian-bench-")
        path = os.path.join(self.folder, "script.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(script, fh, ensure_ascii=False)
        command = [sys.executable, "-m", "kanjian.vlm.fake_server", "--port", "0", "--script", path]
        command += ["--latency", str(latency)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


Times = dict[str, list[tuple[float, float]]]


async def _measure(tasks: int, latency: float) -> Times:
    """Per round: a 3-step task and a 1-step task, each followed by its raw replay, then
    the same two tasks against the in-process model."""
    from kanjian.agent.loop import Agent
    from kanjian.vlm.client import SGLangClient

    images = iter([_png(i) for i in range(4 * (tasks + 1))])
    keys = ("agent3", "raw3", "agent1", "raw1", "local3", "local1", "model3", "model1")
    times: Times = {key: [] for key in keys}
    server = _Server(_script(tasks), latency)
    recorder = _Recorder()
    client = SGLangClient(server.url, retries=0)
    agent = Agent(_RecordingBackend(client, recorder), [_echo_tool()])
    model = _InProcess(latency)
    local = Agent(model, [_echo_tool()])
    try:
        for index in range(tasks + 1):  # the first is a warm-up: imports, connections
            for steps in (STEPS_PER_TASK, 1):
                recorder.bodies.clear()
                agent_time = await _agent_task(agent, next(images))
                assert len(recorder.bodies) == steps, len(recorder.bodies)
                raw_time = await _raw_replay(client, list(recorder.bodies))
                model.plan = ["tool"] * (steps - 1) + ["final"]
                local_time = await _agent_task(local, next(images))
                model_time = await _model_alone(model, steps)
                if index:
                    times[f"agent{steps}"].append(agent_time)
                    times[f"raw{steps}"].append(raw_time)
                    times[f"local{steps}"].append(local_time)
                    times[f"model{steps}"].append(model_time)
    finally:
        await client.aclose()
        server.close()
    return times


async def _model_alone(model: _InProcess, steps: int) -> tuple[float, float]:
    """The in-process model's steps driven bare (no agent): its own cost, latency included."""
    model.plan = ["tool"] * (steps - 1) + ["final"]
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        async for _ in model.stream(None):
            pass
    return time.perf_counter() - wall, time.process_time() - cpu


class _InProcess:
    """A ChatBackend in this process: the scripted replies in 4-character deltas (as the
    scripted server sends them) after ``latency``, like ``create_agent``'s fake model."""

    def __init__(self, latency: float) -> None:
        from kanjian.vlm.fake_server.script import split_text

        self.latency = latency
        tool, final = _replies()
        self.pieces = {"tool": split_text(tool), "final": split_text(final)}
        self.plan: list[str] = []

    async def complete(self, request: Any) -> Any:
        raise NotImplementedError("the bench streams every step")

    async def stream(self, request: Any) -> Any:
        from kanjian.vlm.types import Finished, TextDelta, Usage, UsageReport

        pieces = self.pieces[self.plan.pop(0)]
        await asyncio.sleep(self.latency)
        for piece in pieces:
            yield TextDelta(piece)
        yield Finished("stop")
        yield UsageReport(Usage(1000, len(pieces), 900))

    async def model_info(self) -> Any:
        from kanjian.vlm.types import ModelInfo

        return ModelInfo(model="in-process", supports_constraints=True)

    async def aclose(self) -> None:
        pass


def _body_encoding(rounds: int) -> tuple[float, float, int]:
    """Median CPU seconds to encode a step's request body holding a photo-sized image (a
    300 KB JPEG's data URL) with ``json.dumps``, and with the client's encoder, which
    encodes the image once per conversation; and the data URL's length."""
    import base64

    from kanjian.vlm.request_body import encode_body
    from kanjian.vlm.types import image_part, text_part

    url = "data:image/jpeg;base64," + base64.b64encode(os.urandom(300_000)).decode()
    tool = _replies()[0]
    user = {"role": "user", "content": [text_part("image_1:"), image_part(url), text_part("Hi")]}
    messages = [{"role": "system", "content": "x" * 4000}, user]
    messages += [{"role": "assistant", "content": tool}, {"role": "user", "content": "Seen."}]
    body = {"model": "default", "messages": messages, "stream": True}

    plain = median_cpu(rounds, lambda: json.dumps(body, ensure_ascii=False, separators=(",", ":")))
    return plain, median_cpu(rounds, lambda: encode_body(body)), len(url)


def median_cpu(rounds: int, work: Callable[[], object]) -> float:
    """Median CPU seconds of ``rounds`` calls of ``work``."""
    spent = []
    for _ in range(rounds):
        started = time.process_time()
        work()
        spent.append(time.process_time() - started)
    return statistics.median(spent)


def _per_task_parts(rounds: int) -> dict[str, float]:
    """Median CPU seconds of the per-task work timed alone: preparing the attachment (the
    bench's 640x480 PNG: read, decode, store, encode for the wire) and saving a session of
    the bench's shape."""
    from kanjian.agent.session import Session
    from kanjian.agent.turn import _prepare_attachment

    images = iter([_png(i) for i in range(1, rounds + 1)])
    session = Session()
    tool, final = _replies()
    question = {"role": "user", "content": [{"type": "text", "text": "What does the label say?"}]}
    session.messages = [question, {"role": "assistant", "content": tool}] * 2
    session.messages += [{"role": "assistant", "content": final}]

    return {
        "attachment": median_cpu(rounds, lambda: _prepare_attachment(session.images, next(images))),
        "save": median_cpu(rounds, session.save),
    }


class _Recorder:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []


class _RecordingBackend:
    """The client, noting each request the agent makes (a list append: no measurable cost)."""

    def __init__(self, client: Any, recorder: _Recorder) -> None:
        self.client = client
        self.recorder = recorder

    async def complete(self, request: Any) -> Any:
        return await self.client.complete(request)

    def stream(self, request: Any) -> Any:
        self.recorder.bodies.append(
            {
                "messages": request.messages,
                "temperature": request.params.temperature,
                "max_tokens": request.params.max_tokens,
                "response_format": request.response_format,
            }
        )
        return self.client.stream(request)

    async def model_info(self) -> Any:
        return await self.client.model_info()

    async def aclose(self) -> None:
        await self.client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    # Sessions and images go to a throwaway data dir, not the user's.
    os.environ["KANJIAN_HOME"] = tempfile.mkdtemp(prefix="kanjian-bench-")
    times = asyncio.run(_measure(args.tasks, args.latency))
    # The answer step streams about one delta per 4 characters, as the scripted server does.
    chunks = len(json.loads(_replies()[1])["answer"]) // 4
    floor, floor_model = asyncio.run(create_agent_floor(args.tasks, chunks, args.latency))
    _report(times, floor, args.latency)
    _report_local(times, (floor, floor_model), _per_task_parts(max(args.tasks, 20)), args.latency)
    plain, spliced, size = _body_encoding(max(args.tasks, 20))
    print(
        f"request body with a photo ({size / 1000:.0f} KB data URL), per step after the first: "
        f"encode_body {spliced * 1000:.3f} ms, json.dumps {plain * 1000:.3f} ms "
        f"(ratio {spliced / plain:.3f})"
    )


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def _share(seconds: float, latency: float) -> str:
    return f"{seconds / latency:6.2%}" if latency > 0 else "   n/a"


def _report(times: Times, floor: list[float], latency: float) -> None:
    def series(kind: str, which: int) -> list[float]:
        return [t[which] for t in times[kind]]

    n = len(times["agent3"])
    print(
        f"{n} rounds of a {STEPS_PER_TASK}-step task (tool, tool, answer) and a 1-step task; "
        f"scripted model latency {latency * 1000:.0f} ms"
    )
    print("overhead = the agent minus a bare client replaying the same requests, per step")
    cpu_over = 0.0
    for label, which in (("cpu", 1), ("wall", 0)):
        agent3, raw3 = series("agent3", which), series("raw3", which)
        agent1, raw1 = series("agent1", which), series("raw1", which)
        over3 = [(a - r) / STEPS_PER_TASK for a, r in zip(agent3, raw3, strict=True)]
        over1 = [a - r for a, r in zip(agent1, raw1, strict=True)]
        cpu_over = cpu_over or statistics.median(over3)
        # One more tool step costs this much; the rest of a task's overhead is per task
        # (loading the attachment, saving the session, starting the graph).
        marginal = [
            (o3 * STEPS_PER_TASK - o1) / (STEPS_PER_TASK - 1)
            for o3, o1 in zip(over3, over1, strict=True)
        ]
        print(
            f"{label:>4}: agent {_median_ms(agent3) / STEPS_PER_TASK:7.2f} ms/step; raw client "
            f"{_median_ms(raw3) / STEPS_PER_TASK:7.2f} ms/request (ratio "
            f"{statistics.median(agent3) / statistics.median(raw3):.3f})"
        )
        print(
            f"      overhead {_median_ms(over3):6.2f} ms/step = "
            f"{_share(statistics.median(over3), latency)} of latency (goal <= 1%); "
            f"of which per extra step {_median_ms(marginal):5.2f} ms, "
            f"per task {_median_ms(over1) - _median_ms(marginal):5.2f} ms"
        )
    floor_s = statistics.median(floor)
    ratio = cpu_over / floor_s if floor_s > 0 else float("nan")
    print(
        f"      kanjian cpu overhead over HTTP / create_agent floor = {ratio:.2f} "
        f"({cpu_over * 1000:.2f} vs {floor_s * 1000:.2f} ms/step)"
    )


def _report_local(
    times: Times,
    floor: tuple[list[float], list[float]],
    parts: dict[str, float],
    latency: float,
) -> None:
    """kanjian against the in-process model, beside create_agent against its fake model;
    each with its model's own cost (driven bare, latency included) taken off."""

    def cpu(kind: str) -> list[float]:
        return [c for _, c in times[kind]]

    own3 = [(a - m) / STEPS_PER_TASK for a, m in zip(cpu("local3"), cpu("model3"), strict=True)]
    own1 = [a - m for a, m in zip(cpu("local1"), cpu("model1"), strict=True)]
    extra = [
        (o3 * STEPS_PER_TASK - o1) / (STEPS_PER_TASK - 1) for o3, o1 in zip(own3, own1, strict=True)
    ]
    per_step = statistics.median(own3)
    per_task = statistics.median(own1) - statistics.median(extra)
    model_s = statistics.median(cpu("model3")) / STEPS_PER_TASK
    print("in-process model (no HTTP; the same replies, 4-character deltas and latency):")
    print(
        f"  kanjian {statistics.median(cpu('local3')) / STEPS_PER_TASK * 1000:.2f} ms/step cpu, "
        f"the model alone {model_s * 1000:.2f}: kanjian's own {per_step * 1000:.2f} ms/step = "
        f"{_share(per_step, latency)} of latency; per extra step "
        f"{statistics.median(extra) * 1000:.2f} ms, per task {per_task * 1000:.2f} ms"
    )
    print(
        f"  per task, timed alone: attachment {parts['attachment'] * 1000:.2f} ms "
        f"(vlm.images: read, check, store, encode for the wire), "
        f"session save {parts['save'] * 1000:.2f} ms"
    )
    graph, alone = floor
    floor_s = statistics.median(graph)
    floor_own = statistics.median([g - a for g, a in zip(graph, alone, strict=True)])
    print(
        f"create_agent (bare LangGraph, its fake in-process model, same task shape and "
        f"latency): {floor_s * 1000:.2f} ms/step cpu, the model alone "
        f"{statistics.median(alone) * 1000:.2f}: its own {floor_own * 1000:.2f} ms/step"
    )
    ratio = per_step / floor_own if floor_own > 0 else float("nan")
    print(
        f"kanjian cpu per step / create_agent = {ratio:.2f}; "
        f"kanjian {per_step * 1000:.2f} ms/step (goal <= 1 ms)"
    )


if __name__ == "__main__":
    main()
