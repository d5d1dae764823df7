"""The heavy half of the local backend: torch and transformers live here, and only here.

:mod:`kanjian.vlm.local` imports this module lazily, on the first request, so ``kanjian --help`` never
pays for torch. Everything here is synchronous and runs in worker threads:

* :func:`load_local_model` resolves the checkpoint (a Hugging Face id found in the local cache,
  or a folder), the device and the dtype, and loads ``InternVLForConditionalGeneration`` with
  its processor;
* :func:`build_inputs` turns OpenAI-shaped messages (images as data URLs) into the processor's
  chat format and tensors, tiling each image with InternVL's official rule up to ``max_num``;
* :func:`generate` runs ``model.generate`` with a streamer and a stop flag.

Why the processor is assembled by hand: ``AutoProcessor`` for InternVL also loads a *video*
processor, which needs torchvision; the ``local`` extra ships CPU torch, and PyPI's torchvision
wheels are built against CUDA torch and do not load with it. We never send video, so
:class:`ImageOnlyInternVLProcessor` is transformers' own ``InternVLProcessor`` minus the video
slot: the same image-token expansion and tiling, loaded with the same ``from_pretrained``.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    InternVLForConditionalGeneration,
    InternVLProcessor,
    LogitsProcessorList,
    StoppingCriteriaList,
)

from kanjian.vlm.errors import BackendError, ConfigError, InputError, ModelNotFound
from kanjian.vlm.images import load_image
from kanjian.vlm.local_constraints import logits_processors
from kanjian.vlm.local_decode import (
    DecodeMode,
    DecodePlan,
    StaticCaches,
    choose_decode,
    decode_kwargs,
)
from kanjian.vlm.local_logits import StopFlag
from kanjian.vlm.local_stream import GenerationThread
from kanjian.vlm.types import ChatRequest, Message, SamplingParams
from kanjian.vlm.wire import decode_data_url

__all__ = [
    "ImageOnlyInternVLProcessor",
    "LocalModel",
    "Outcome",
    "build_inputs",
    "generate",
    "generation_hooks",
    "hidden_ids",
    "load_local_model",
    "max_positions",
    "ready_plan",
    "resolve_device",
    "resolve_dtype",
    "warm",
    "wrap_model",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 1024
# Markup the model writes that must survive decoding (see hidden_ids).
_KEPT_TAGS = ("<ref>", "</ref>", "<box>", "</box>", "<quad>", "</quad>")
_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}
_HOW_TO_GET = (
    "download it on a connected machine with `huggingface-cli download {name}` (it lands in the "
    "Hugging Face cache), or pass a local checkpoint folder with --model or KANJIAN_LOCAL_MODEL"
)


class ImageOnlyInternVLProcessor(InternVLProcessor):
    """``InternVLProcessor`` without the video processor (see the module docstring)."""

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        image_seq_length: int = 256,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            image_processor,
            tokenizer,
            None,
            image_seq_length=image_seq_length,
            chat_template=chat_template,
            **kwargs,
        )


@dataclass(frozen=True, slots=True)
class LocalModel:
    """A loaded checkpoint, ready to generate."""

    name: str
    model: Any
    processor: ImageOnlyInternVLProcessor
    device: str
    dtype: torch.dtype
    # Special tokens the answer does not show (all but the grounding tags; see hidden_ids).
    hidden_ids: frozenset[int] = frozenset()
    caches: StaticCaches = field(default_factory=StaticCaches)
    worker: GenerationThread = field(default_factory=GenerationThread)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one generation ended."""

    completion_tokens: int
    finish_reason: str


# ---- loading ----


def resolve_device(requested: str) -> str:
    """``auto`` is cuda when available, else mps, else cpu; anything else passes through."""
    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(requested: str, device: str) -> torch.dtype:
    """``auto`` is bfloat16 on cuda, float16 on mps and float32 on cpu (CPUs are slow in bf16)."""
    if requested == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16
        return torch.float16 if device.startswith("mps") else torch.float32
    try:
        return _DTYPES[requested.lower()]
    except KeyError:
        raise ConfigError(
            f"Local dtype {requested!r} is not one of auto, float32, bfloat16 or float16; "
            "pick one of those."
        ) from None


_models: dict[tuple[str, str, str], LocalModel] = {}
_models_lock = threading.Lock()


def load_local_model(name: str, device: str, dtype: str) -> LocalModel:
    """Checkpoint ``name`` (id or folder) on ``device``, loaded once per process.

    Backends made for the same checkpoint share it (a batch, the TUI and a tool each making
    one must not hold three copies); concurrent first loads wait for a single one.
    """
    with _models_lock:
        key = (name, device, dtype)
        if key not in _models:
            _models[key] = _load(name, device, dtype)
        return _models[key]


def _load(name: str, device: str, dtype: str) -> LocalModel:
    _check_is_internvl(name)
    resolved_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, resolved_device)
    try:
        offline = _offline()
        processor = ImageOnlyInternVLProcessor.from_pretrained(name, local_files_only=offline)
        model: Any = InternVLForConditionalGeneration.from_pretrained(
            name, dtype=torch_dtype, local_files_only=offline
        )
        model = model.to(resolved_device).eval()
    except (OSError, ValueError, RuntimeError) as exc:
        raise BackendError(
            f"Cannot load the local model {name!r} on {resolved_device!r}: {_first_line(exc)}; "
            "check that the checkpoint is complete and the device exists."
        ) from exc
    hidden = hidden_ids(processor.tokenizer)
    return LocalModel(name, model, processor, resolved_device, torch_dtype, hidden)


def wrap_model(name: str, model: Any, processor: Any) -> LocalModel:
    """A model and processor already in memory (built, not loaded), ready to generate."""
    parameter = next(model.parameters())
    device = str(parameter.device)
    return LocalModel(
        name, model.eval(), processor, device, parameter.dtype, hidden_ids(processor.tokenizer)
    )


def hidden_ids(tokenizer: Any) -> frozenset[int]:
    """The special tokens an answer does not show: all but InternVL's grounding tags.

    Checkpoints register ``<ref>``/``<box>`` as special tokens, and ``skip_special_tokens``
    would strip the very markup that grounding answers are made of.
    """
    vocab = tokenizer.get_vocab()
    kept = {vocab[tag] for tag in _KEPT_TAGS if tag in vocab}
    return frozenset(int(i) for i in tokenizer.all_special_ids if i not in kept)


def _check_is_internvl(name: str) -> None:
    looks_like_path = name.startswith((".", "/", "~")) or Path(name).expanduser().exists()
    if looks_like_path and not Path(name).expanduser().is_dir():
        raise ModelNotFound(
            f"Local model folder {name!r} does not exist; {_HOW_TO_GET.format(name=name)}."
        )
    try:
        config = AutoConfig.from_pretrained(name, local_files_only=_offline())
    except (OSError, ValueError) as exc:
        shown = "OpenGVLab/InternVL3-1B-hf" if looks_like_path else name
        raise ModelNotFound(
            f"Local model {name!r} is not in the Hugging Face cache and could not be "
            f"downloaded; {_HOW_TO_GET.format(name=shown)}."
        ) from exc
    if getattr(config, "model_type", None) != "internvl":
        raise BackendError(
            f"Local model {name!r} is a {getattr(config, 'model_type', 'unknown')!r} checkpoint, "
            "but the local backend runs InternVL '-hf' checkpoints (model_type 'internvl'); "
            "use one such as OpenGVLab/InternVL3-1B-hf."
        )


def _offline() -> bool:
    # huggingface_hub reads these once, at import; read them again so that setting them later
    # (a test, a long-lived process) still avoids a network wait before ModelNotFound.
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    return any(os.environ.get(n, "").strip().lower() in {"1", "true", "yes", "on"} for n in names)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0].rstrip(".") if text else type(exc).__name__


# ---- inputs ----


def build_inputs(local: LocalModel, messages: list[Message], max_num: int) -> Any:
    """Tensors for ``messages`` on the model's device, images tiled with up to ``max_num`` tiles."""
    conversation, images = _to_processor_chat(messages)
    prompt = local.processor.apply_chat_template(
        conversation, tokenize=False, add_generation_prompt=True
    )
    image_kwargs: dict[str, Any] = {}
    if images:
        image_kwargs = {"crop_to_patches": True, "min_patches": 1, "max_patches": max_num}
    inputs = local.processor(
        images=images or None, text=prompt, return_tensors="pt", **image_kwargs
    )
    inputs = inputs.to(local.device)
    if "pixel_values" in inputs:
        inputs["pixel_values"] = inputs["pixel_values"].to(local.dtype)
    return inputs


def _to_processor_chat(messages: list[Message]) -> tuple[list[dict[str, Any]], list[Any]]:
    conversation: list[dict[str, Any]] = []
    images: list[Any] = []
    for index, message in enumerate(messages):
        content = message.get("content")
        if isinstance(content, str):
            parts: list[dict[str, Any]] = [{"type": "text", "text": content}]
        elif isinstance(content, list):
            parts = [_to_processor_part(part, index, images) for part in content]
        else:
            raise InputError(
                f"Message {index} has content {type(content).__name__!r}; it must be a string "
                "or a list of text and image_url parts."
            )
        conversation.append({"role": message.get("role", "user"), "content": parts})
    return conversation, images


def _to_processor_part(part: dict[str, Any], index: int, images: list[Any]) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": str(part.get("text", ""))}
    if kind == "image_url":
        url = part.get("image_url", {}).get("url", "")
        name = f"image {len(images) + 1} of message {index}"
        images.append(load_image(decode_data_url(url), name=name).image)
        return {"type": "image"}
    raise InputError(
        f"Message {index} has a part of type {kind!r}; the local backend takes 'text' and "
        "'image_url' parts."
    )


# ---- generation ----


def sampling_kwargs(params: SamplingParams, eos_ids: list[int]) -> dict[str, Any]:
    """``generate`` keyword arguments for OpenAI-style sampling parameters.

    Temperature 0 (or unset) is greedy. Frequency and presence penalties have no transformers
    counterpart and are not applied; stop strings are handled by the caller on the text stream,
    so the returned text can exclude them as OpenAI servers do.
    """
    kwargs: dict[str, Any] = {
        "max_new_tokens": params.max_tokens or DEFAULT_MAX_TOKENS,
        "eos_token_id": eos_ids,
        "pad_token_id": eos_ids[0],
    }
    if not params.temperature:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        kwargs.update(do_sample=True, temperature=params.temperature)
        kwargs.update(top_p=params.top_p, top_k=params.top_k)
    if params.repetition_penalty is not None:
        kwargs["repetition_penalty"] = params.repetition_penalty
    return kwargs


def eos_token_ids(local: LocalModel) -> list[int]:
    configured = local.model.generation_config.eos_token_id
    ids = configured if isinstance(configured, list) else [configured]
    tokenizer_eos = local.processor.tokenizer.eos_token_id
    if tokenizer_eos is not None and tokenizer_eos not in ids:
        ids.append(tokenizer_eos)
    return [i for i in ids if i is not None]


def generation_hooks(
    local: LocalModel, request: ChatRequest, stop: threading.Event
) -> tuple[StoppingCriteriaList, LogitsProcessorList]:
    """Everything kanjian adds to ``generate``'s per-token loop: the stop flag and the grammar.

    One function so that the device test covers all of it (see :mod:`kanjian.vlm.local_logits`).
    """
    processors = logits_processors(
        local.model, local.processor.tokenizer, eos_token_ids(local), request
    )
    return StoppingCriteriaList([StopFlag(stop)]), LogitsProcessorList(processors or [])


def generate(
    local: LocalModel,
    inputs: Any,
    request: ChatRequest,
    streamer: Any,
    stop: threading.Event,
    mode: DecodeMode = "auto",
) -> Outcome:
    """Run one generation, handing new token ids to ``streamer``; ``stop`` ends it early.

    The request's ``regex`` / ``response_format`` is enforced when xgrammar is installed;
    ``mode`` picks the KV cache and compilation (see :mod:`kanjian.vlm.local_decode`).
    """
    params = request.params
    eos = eos_token_ids(local)
    kwargs = sampling_kwargs(params, eos)
    criteria, processors = generation_hooks(local, request, stop)
    prompt_tokens = int(inputs["input_ids"].shape[1])
    plan = ready_plan(
        local,
        choose_decode(
            mode, local.device, prompt_tokens, kwargs["max_new_tokens"], max_positions(local)
        ),
    )
    if params.seed is not None:
        torch.manual_seed(params.seed)
    with torch.inference_mode():
        output = local.model.generate(
            **inputs,
            **kwargs,
            **decode_kwargs(plan, local.model, local.caches),
            streamer=streamer,
            stopping_criteria=criteria,
            logits_processor=processors,
        )
    new_tokens = output[0, prompt_tokens:].tolist()
    return Outcome(len(new_tokens), _finish_reason(new_tokens, eos, kwargs["max_new_tokens"]))


def ready_plan(local: LocalModel, plan: DecodePlan) -> DecodePlan:
    """``plan``, its compiled bucket warmed first; uncompiled if compiling ever failed."""
    caches = local.caches
    if not plan.compiled or plan.cache_len in caches.warmed:
        return plan
    if caches.compile_error is None:
        try:
            warm(local, plan)
        except Exception as exc:  # the compiler's, Triton's or CUDA's: decode uncompiled
            caches.compile_error = f"{type(exc).__name__}: {_first_line(exc)}"
            logger.warning(
                "Compiling the local model's decode step failed (%s); decoding uncompiled, "
                "which is several times slower. Install a C compiler and Triton to fix it.",
                caches.compile_error,
            )
        else:
            caches.warmed.add(plan.cache_len)
            return plan
    return replace(plan, compiled=False)


def warm(local: LocalModel, plan: DecodePlan) -> None:
    """Compile ``plan``'s decode step and record its CUDA graphs, on a dummy 8-token prompt."""
    eos = eos_token_ids(local)
    ids = torch.full((1, 8), eos[0], dtype=torch.long, device=local.device)
    with torch.inference_mode():
        local.model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=4,
            min_new_tokens=4,  # enough steps to compile, record and replay
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            eos_token_id=eos,
            pad_token_id=eos[0],
            **decode_kwargs(plan, local.model, local.caches),
        )


def max_positions(local: LocalModel) -> int:
    text_config = local.model.config.get_text_config()
    return int(getattr(text_config, "max_position_embeddings", 0) or 1 << 20)


def _finish_reason(new_tokens: list[int], eos: list[int], max_new_tokens: int) -> str:
    if new_tokens and new_tokens[-1] in eos:
        return "stop"
    return "length" if len(new_tokens) >= max_new_tokens else "stop"
