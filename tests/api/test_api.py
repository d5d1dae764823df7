"""The Python API (:class:`agent.api.Kanjian`) in-process, over real HTTP to a scripted model."""

from __future__ import annotations

from pathlib import Path

import pytest

from kanjian.agent.api import Kanjian
from kanjian.agent.events import (
    AnswerDelta,
    AnswerDone,
    ImageAdded,
    RunFinished,
    StepStarted,
    Thought,
    ToolCallEvent,
    ToolResultEvent,
    UsageEvent,
)
from kanjian.tools import ToolContext, tool
from kanjian.vlm.fake_server import ScriptedServer


@tool
def image_size(image: str, ctx: ToolContext) -> dict[str, int]:
    """The width and height of an image in pixels.

    Args:
        image: The image id, such as image_1.
    """
    picture = ctx.image(image)
    return {"width": picture.width, "height": picture.height}


async def test_ask_with_images_returns_the_design_record(
    server: ScriptedServer, image: Path
) -> None:
    data = Path(image).read_bytes()  # noqa: ASYNC240 (a test fixture's tiny file)
    async with Kanjian() as kanjian:
        result = await kanjian.ask("Which colour?", [image, data], run_id="r1")
    assert result.error is None and result.exit_code == 0
    assert result.answer == "answer: Which colour? | images: image_1,image_2"
    record = result.to_json()
    assert list(record) == [
        "id", "session", "answer", "steps", "images", "evidence", "recalled", "usage", "seconds",
        "error",
    ]  # fmt: skip
    assert record["id"] == "r1" and record["images"]["image_1"] == str(image)
    assert record["usage"]["prompt_tokens"] > 0


async def test_stream_events_come_in_order(server: ScriptedServer, image: Path) -> None:
    async with Kanjian(extra_tools=[image_size]) as kanjian:
        events = [e async for e in kanjian.stream("Size? use image_size", [image])]
    kinds = [type(e) for e in events]
    assert kinds[0] is ImageAdded and kinds[1] is StepStarted and kinds[-1] is RunFinished
    order = [ToolCallEvent, ToolResultEvent, AnswerDelta, AnswerDone]
    positions = [kinds.index(kind) for kind in order]
    assert positions == sorted(positions)
    assert kinds.count(UsageEvent) == 2  # one per model request
    result = events[-1]
    assert isinstance(result, RunFinished)
    assert [s.tool for s in result.steps] == ["image_size"]
    assert result.steps[0].output == {"width": 64, "height": 48}
    deltas = "".join(e.text for e in events if isinstance(e, AnswerDelta))
    assert deltas == result.answer and '"width": 64' in deltas


async def test_a_session_continues_with_its_image_ids(server: ScriptedServer, image: Path) -> None:
    async with Kanjian() as kanjian:
        first = await kanjian.ask("First?", [image])
        second = await kanjian.ask("Second?", [image], session=first.session)
    assert second.session == first.session
    assert second.answer == "answer: Second? | images: image_1,image_2"
    assert list(second.images) == ["image_1", "image_2"]
    # A new process (a new Kanjian) continues it from disk, ids unchanged.
    async with Kanjian() as kanjian:
        third = await kanjian.ask("Third?", session=first.session)
    assert third.answer == "answer: Third? | images: image_1,image_2"


async def test_an_unknown_session_is_a_usage_error(server: ScriptedServer) -> None:
    async with Kanjian() as kanjian:
        result = await kanjian.ask("Hi?", session="no-such-session")
    assert result.exit_code == 2 and result.answer is None
    assert result.error is not None and "no-such-session" in result.error


async def test_tools_replaces_the_built_ins(server: ScriptedServer, image: Path) -> None:
    async with Kanjian(tools=[image_size]) as kanjian:
        agent = await kanjian.agent()
        assert sorted(agent.tools) == ["image_size"]
        result = await kanjian.ask("Size? use image_size", [image])
    assert result.steps[0].output == {"width": 64, "height": 48}
    async with Kanjian(extra_tools=[image_size]) as kanjian:
        names = set((await kanjian.agent()).tools)
    assert {"image_size", "ocr", "zoom", "math", "ground"} <= names


async def test_a_custom_endpoint_overrides_the_environment(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KANJIAN_URL", "http://127.0.0.1:9")
    with ScriptedServer(
        responder=lambda r: '{"thought": "t", "answer": "from the other"}'
    ) as other:
        async with Kanjian(url=other.url, use_tools=False) as kanjian:
            result = await kanjian.ask("Who answers?")
        assert result.answer == "from the other"
        assert len(other.chat_requests) == 1
    assert not server.chat_requests


async def test_api_key_is_sent(server: ScriptedServer) -> None:
    async with Kanjian(api_key="sk-test", use_tools=False) as kanjian:
        await kanjian.ask("Key?")
    assert server.chat_requests[0].headers["authorization"] == "Bearer sk-test"


async def test_memory_off_stores_nothing(server: ScriptedServer, _hermetic_env: Path) -> None:
    async with Kanjian(memory=False, use_tools=False) as kanjian:
        assert await kanjian.memory() is None
        await kanjian.ask("Forget me?")
    assert not (_hermetic_env / "memory").exists()


@pytest.mark.slow
async def test_memory_on_remembers_the_turn(server: ScriptedServer, image: Path) -> None:
    async with Kanjian(memory=True, use_tools=False) as kanjian:
        result = await kanjian.ask("Remember the red square?", [image])
        memory = await kanjian.memory()
        assert memory is not None
        stored = await memory.get_session(result.session)
    assert [t.question for t in stored.turns] == ["Remember the red square?"]
    assert stored.turns[0].answer == result.answer


def test_blocking_wrapper(server: ScriptedServer, image: Path) -> None:
    with Kanjian.blocking(use_tools=False) as kanjian:
        first = kanjian.ask("Sync?", [image])
        events = list(kanjian.stream("Again?", session=first.session))
    assert first.answer == "answer: Sync? | images: image_1"
    final = events[-1]
    assert isinstance(final, RunFinished) and final.answer == "answer: Again? | images: image_1"


async def test_a_run_without_deltas_still_has_the_whole_record(
    server: ScriptedServer, image: Path
) -> None:
    async with Kanjian(extra_tools=[image_size]) as kanjian:
        agent = await kanjian.agent()
        quiet = [e async for e in agent.run("Size? use image_size", [image], deltas=False)]
        loud = [e async for e in agent.run("Size? use image_size", [image])]
    assert not any(isinstance(e, AnswerDelta | Thought) for e in quiet)
    assert any(isinstance(e, AnswerDelta) for e in loud) and any(
        isinstance(e, Thought) for e in loud
    )
    first, second = quiet[-1], loud[-1]
    assert isinstance(first, RunFinished) and isinstance(second, RunFinished)
    assert first.answer == second.answer and first.answer
    assert first.steps[0].output == second.steps[0].output
    assert [type(e) for e in quiet if not isinstance(e, UsageEvent)] == [
        type(e) for e in loud if not isinstance(e, AnswerDelta | Thought | UsageEvent)
    ]


async def test_ask_takes_whole_answers_and_stream_streams_them(server: ScriptedServer) -> None:
    async with Kanjian(use_tools=False) as kanjian:
        whole = await kanjian.ask("Whole?")
        streamed = [e async for e in kanjian.stream("Streamed?")][-1]
    assert [r.json.get("stream") for r in server.chat_requests] == [False, True]
    assert isinstance(streamed, RunFinished)
    assert whole.answer == "answer: Whole? | images: "
    assert streamed.answer == "answer: Streamed? | images: "
    assert whole.usage.prompt_tokens > 0 and streamed.usage.prompt_tokens > 0


async def test_concurrent_first_steps_ask_the_server_for_its_info_once(
    server: ScriptedServer,
) -> None:
    import asyncio

    async with Kanjian(use_tools=False) as kanjian:
        results = await asyncio.gather(*(kanjian.ask(f"q{n}?") for n in range(8)))
    assert all(r.error is None for r in results)
    info = [r for r in server.requests if r.path in ("/model_info", "/get_model_info")]
    assert len(info) == 1
