"""What kanjian runs inside ``generate`` makes its tensors on the model's device, not the CPU.

The bug this guards: ``_StopFlag`` answered with a CPU tensor, so on a GPU every generation
failed with "Expected all tensors to be on the same device" while the CPU-only suite passed.
Two checks a CPU can run: hooks fed ``meta`` tensors must answer on ``meta`` (a CPU tensor
mixed in raises), and hooks fed CPU tensors while the default device is ``meta`` must never
touch ``meta`` (a tensor made without ``device=`` lands there and the mix raises).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch
from transformers import MaxLengthCriteria, StoppingCriteriaList

from kanjian.vlm.local_logits import GrammarMask, StopFlag
from kanjian.vlm.local_model import LocalModel, generation_hooks, load_local_model
from kanjian.vlm.types import ChatRequest, SamplingParams

pytestmark = pytest.mark.local

SCHEMA = {
    "type": "object",
    "properties": {"tool": {"type": "string", "enum": ["zoom", "ocr"]}},
    "required": ["tool"],
    "additionalProperties": False,
}


def _constrained() -> ChatRequest:
    return ChatRequest(
        [{"role": "user", "content": "act"}],
        SamplingParams(max_tokens=8, temperature=0),
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}},
    )


@pytest.fixture(scope="module")
def local(tiny_checkpoint: Path) -> LocalModel:
    return load_local_model(str(tiny_checkpoint), "cpu", "float32")


def _vocab(local: LocalModel) -> int:
    return int(local.model.config.get_text_config().vocab_size)


@pytest.mark.parametrize("is_set", [False, True])
def test_stop_flag_answers_on_the_ids_device(is_set: bool) -> None:
    event = threading.Event()
    if is_set:
        event.set()
    ids = torch.zeros((1, 5), dtype=torch.long, device="meta")
    scores = torch.zeros((1, 7), device="meta")
    assert StopFlag(event)(ids, scores).device.type == "meta"  # type: ignore[arg-type]
    # As generate combines it with its own criteria (this raised with a CPU answer).
    both = StoppingCriteriaList([MaxLengthCriteria(max_length=9), StopFlag(event)])
    assert both(ids, scores).device.type == "meta"  # type: ignore[arg-type]


def test_every_hook_of_a_constrained_request_answers_on_the_meta_device(
    local: LocalModel,
) -> None:
    criteria, processors = generation_hooks(local, _constrained(), threading.Event())
    assert [type(p) for p in processors] == [GrammarMask]
    ids = torch.zeros((1, 4), dtype=torch.long, device="meta")
    scores = torch.zeros((1, _vocab(local)), device="meta")
    # The first step reads no token back (a meta tensor has no values to read).
    assert processors(ids, scores).device.type == "meta"
    assert criteria(ids, scores).device.type == "meta"


def test_hooks_create_nothing_on_the_default_device(local: LocalModel) -> None:
    criteria, processors = generation_hooks(local, _constrained(), threading.Event())
    tokenizer = local.processor.tokenizer
    ids = torch.tensor([[tokenizer.eos_token_id]], device="cpu")
    text = ""
    noise = torch.Generator(device="cpu").manual_seed(0)
    with torch.device("meta"):  # anything made without device= lands here, and the mix raises
        for _ in range(60):
            scores = torch.randn((1, _vocab(local)), device="cpu", generator=noise)
            masked = processors(ids, scores)
            assert masked.device.type == "cpu"
            done = criteria(ids, masked)
            assert done.device.type == "cpu" and not bool(done[0])
            token = int(masked.argmax(-1))
            assert masked[0, token] > float("-inf")
            if token == tokenizer.eos_token_id:
                break
            text += tokenizer.decode([token])
            ids = torch.cat([ids, torch.tensor([[token]], device="cpu")], dim=1)
    assert json.loads(text)["tool"] in {"zoom", "ocr"}


def test_a_set_stop_flag_ends_the_sequence(local: LocalModel) -> None:
    stop = threading.Event()
    criteria, _ = generation_hooks(local, _constrained(), stop)
    ids, scores = torch.zeros((1, 3), dtype=torch.long), torch.zeros((1, 5))
    assert not bool(criteria(ids, scores)[0])
    stop.set()
    assert bool(criteria(ids, scores)[0])
