"""LocalBackend on a tiny random InternVL checkpoint, loaded like a real one."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import cast

import pytest

from kanjian.vlm.errors import (
    BackendError,
    BadRequestError,
    ConfigError,
    ImageError,
    InputError,
    ModelNotFound,
)
from kanjian.vlm.grounding import grounding_regex, parse_grounding
from kanjian.vlm.local import LocalBackend
from kanjian.vlm.types import (
    ChatBackend,
    ChatRequest,
    Finished,
    SamplingParams,
    StreamEvent,
    TextDelta,
    UsageReport,
    image_part,
    text_part,
)

from .conftest import png_data_url

pytestmark = pytest.mark.local


def _ask(data_url: str | None = None, **params: object) -> ChatRequest:
    content = [text_part("Describe the image in detail.")]
    if data_url is not None:
        content.insert(0, image_part(data_url))
    return ChatRequest([{"role": "user", "content": content}], SamplingParams(**params))  # type: ignore[arg-type]


async def test_is_a_chat_backend(tiny_checkpoint: Path) -> None:
    backend = LocalBackend(tiny_checkpoint)
    assert isinstance(backend, ChatBackend)
    info = await backend.model_info()
    assert info.tile_rule == "official"
    assert info.model == str(tiny_checkpoint)
    assert info.extra["loaded"] is False


async def test_complete_answers_with_text_and_usage(tiny_checkpoint: Path) -> None:
    backend = LocalBackend(tiny_checkpoint)
    result = await backend.complete(_ask(png_data_url(64, 64), max_tokens=8, temperature=0))
    assert result.text.strip()
    assert result.finish_reason in {"stop", "length"}
    assert 0 < result.usage.completion_tokens <= 8
    # One tile (a small square image takes no thumbnail): 256 image tokens, plus the prompt.
    assert result.usage.prompt_tokens > 256
    assert result.usage.cached_tokens == 0
    info = await backend.model_info()
    assert info.extra["loaded"] is True
    assert info.extra["device"] == "cpu"
    assert info.extra["dtype"] == "torch.float32"
    await backend.aclose()


async def test_stream_yields_deltas_then_finish_then_usage(tiny_checkpoint: Path) -> None:
    backend = LocalBackend(tiny_checkpoint)
    events = [e async for e in backend.stream(_ask(max_tokens=12, temperature=0))]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) >= 2
    assert isinstance(events[-2], Finished)
    assert isinstance(events[-1], UsageReport)
    assert events[-1].usage.completion_tokens == 12
    assert events[-2].reason == "length"


async def test_greedy_is_deterministic_and_matches_stream(tiny_checkpoint: Path) -> None:
    backend = LocalBackend(tiny_checkpoint)
    request = _ask(png_data_url(100, 60), max_tokens=10, temperature=0)
    first = await backend.complete(request)
    streamed = "".join([e.text async for e in backend.stream(request) if isinstance(e, TextDelta)])
    assert streamed == first.text


async def test_max_num_changes_the_number_of_image_tokens(tiny_checkpoint: Path) -> None:
    wide = png_data_url(1600, 400)  # aspect 4:1
    counts = {}
    for max_num in (1, 4, 12):
        backend = LocalBackend(tiny_checkpoint, max_num=max_num)
        result = await backend.complete(_ask(wide, max_tokens=1))
        counts[max_num] = result.usage.prompt_tokens
    # max_num 1: one tile. 4: a 4x1 grid plus the thumbnail. 12: 4:1 fits 4x1 or 8x2;
    # the official rule takes 8x2 only when the image area exceeds half the grid's.
    assert counts[4] - counts[1] == 4 * 256
    assert counts[12] - counts[1] == 4 * 256
    big = png_data_url(3584, 896)  # 8x2 tiles' worth of pixels at 4:1
    result = await LocalBackend(tiny_checkpoint, max_num=40).complete(_ask(big, max_tokens=1))
    assert result.usage.prompt_tokens - counts[1] == 16 * 256


async def test_stop_string_cuts_the_answer(tiny_checkpoint: Path) -> None:
    backend = LocalBackend(tiny_checkpoint)
    full = await backend.complete(_ask(max_tokens=20, temperature=0))
    assert len(full.text) > 4
    stop = full.text[2:4]
    cut = await backend.complete(_ask(max_tokens=20, temperature=0, stop=[stop]))
    assert cut.text == full.text[: full.text.index(stop)]
    assert cut.finish_reason == "stop"


async def test_closing_the_stream_stops_generation(tiny_checkpoint: Path) -> None:
    backend = LocalBackend(tiny_checkpoint)
    stream = cast(
        AsyncGenerator[StreamEvent, None],
        backend.stream(_ask(max_tokens=100_000, temperature=0)),
    )
    first = await anext(stream)
    assert isinstance(first, TextDelta)
    await stream.aclose()  # returns only once the worker has stopped
    # The backend is free again at once: the next request is not queued behind 100k tokens.
    result = await backend.complete(_ask(max_tokens=2))
    assert result.usage.completion_tokens <= 2


async def test_cancelling_the_reader_stops_generation(tiny_checkpoint: Path) -> None:
    backend = LocalBackend(tiny_checkpoint)
    started = asyncio.Event()

    async def read() -> None:
        async for _ in backend.stream(_ask(max_tokens=100_000)):
            started.set()

    task = asyncio.create_task(read())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    result = await backend.complete(_ask(max_tokens=2))
    assert result.usage.completion_tokens <= 2


async def test_missing_model_offline_says_how_to_get_it() -> None:
    backend = LocalBackend("OpenGVLab/No-Such-Model-hf")
    with pytest.raises(ModelNotFound, match="huggingface-cli download OpenGVLab/No-Such-Model-hf"):
        await backend.complete(_ask(max_tokens=1))
    assert ModelNotFound.exit_code == 2


async def test_missing_folder_is_model_not_found(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "nowhere")
    with pytest.raises(ModelNotFound, match=r"does not exist.*KANJIAN_LOCAL_MODEL"):
        await backend.complete(_ask(max_tokens=1))


async def test_non_internvl_checkpoint_is_rejected(tmp_path: Path) -> None:
    from transformers import Qwen2Config

    Qwen2Config(hidden_size=8, num_hidden_layers=1, num_attention_heads=1).save_pretrained(tmp_path)
    with pytest.raises(BackendError, match=r"'qwen2' checkpoint.*InternVL"):
        await LocalBackend(tmp_path).complete(_ask(max_tokens=1))


async def test_bad_image_is_an_image_error(tiny_checkpoint: Path) -> None:
    backend = LocalBackend(tiny_checkpoint)
    with pytest.raises(ImageError):
        await backend.complete(_ask("data:image/png;base64,bm90IGFuIGltYWdl", max_tokens=1))


async def test_unknown_part_type_is_an_input_error(tiny_checkpoint: Path) -> None:
    backend = LocalBackend(tiny_checkpoint)
    request = ChatRequest([{"role": "user", "content": [{"type": "audio", "audio": "x"}]}])
    with pytest.raises(InputError, match="'audio'"):
        await backend.complete(request)


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="max_num 0"):
        LocalBackend(max_num=0)


async def test_bad_dtype_is_a_config_error(tiny_checkpoint: Path) -> None:
    with pytest.raises(ConfigError, match="'int3'"):
        await LocalBackend(tiny_checkpoint, dtype="int3").complete(_ask(max_tokens=1))


async def test_regex_constraint_holds_a_random_model_to_it(tiny_checkpoint: Path) -> None:
    backend = LocalBackend(tiny_checkpoint)
    assert (await backend.model_info()).supports_constraints
    regex = r"(yes|no), because [a-z]{3,8}\."
    for seed in range(3):
        request = ChatRequest(
            _ask(max_tokens=40, temperature=1.0, seed=seed).messages,
            SamplingParams(max_tokens=40, temperature=1.0, seed=seed),
            regex=regex,
        )
        result = await backend.complete(request)
        assert re.fullmatch(regex, result.text), result.text
        assert result.finish_reason == "stop"


async def test_grounding_regex_constraint_gives_parseable_boxes(tiny_checkpoint: Path) -> None:
    backend = LocalBackend(tiny_checkpoint)
    request = ChatRequest(
        [{"role": "user", "content": [image_part(png_data_url(64, 64)), text_part("cat")]}],
        SamplingParams(max_tokens=60, temperature=0),
        regex=grounding_regex("cat"),
    )
    result = await backend.complete(request)
    # Random weights may run out of tokens mid-box; whatever came is a valid prefix.
    boxes = parse_grounding(result.text)
    if result.finish_reason == "stop":
        assert re.fullmatch(grounding_regex("cat"), result.text)
        assert boxes
    assert result.text.startswith("<ref>cat</ref><box>[[")
    assert all(b.label == "cat" for b in boxes)


async def test_json_schema_constraint_gives_valid_json(tiny_checkpoint: Path) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": ["red", "blue"]}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    request = ChatRequest(
        _ask(max_tokens=40).messages,
        SamplingParams(max_tokens=40, temperature=0),
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
    )
    result = await LocalBackend(tiny_checkpoint).complete(request)
    assert json.loads(result.text)["answer"] in {"red", "blue"}


async def test_bad_regex_is_a_bad_request(tiny_checkpoint: Path) -> None:
    request = ChatRequest(_ask().messages, SamplingParams(max_tokens=4), regex="(unclosed")
    with pytest.raises(BadRequestError, match="does not compile"):
        await LocalBackend(tiny_checkpoint).complete(request)


async def test_backends_on_one_checkpoint_share_one_model(tiny_checkpoint: Path) -> None:
    first, second = LocalBackend(tiny_checkpoint), LocalBackend(tiny_checkpoint)
    await asyncio.gather(first.complete(_ask(max_tokens=1)), second.complete(_ask(max_tokens=1)))
    assert first._loaded is not None and second._loaded is not None
    assert first._loaded.model is second._loaded.model
