"""The models ``bench.gpu`` measures: random weights in the real shapes of InternVL checkpoints.

Built directly on the device (meta-device init, ``to_empty``, ``init_weights``), so nothing is
downloaded and a 26B-parameter shape costs no host memory; the tokenizer is the tests'
byte-level one padded to the real vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SHAPES", "Shape", "build", "decoder_bytes"]


@dataclass(frozen=True)
class Shape:
    label: str
    vision: dict[str, Any]
    text_type: str  # "qwen2" | "llama"
    text: dict[str, Any]
    tie: bool


SHAPES = {
    "1b": Shape(
        "InternVL3-1B",
        {},  # InternVLVisionConfig's defaults are InternViT-300M, InternVL3-1B's tower
        "qwen2",
        {
            "vocab_size": 151674,
            "hidden_size": 896,
            "intermediate_size": 4864,
            "num_hidden_layers": 24,
            "num_attention_heads": 14,
            "num_key_value_heads": 2,
            "max_position_embeddings": 32768,
            "rope_theta": 1_000_000.0,
        },
        tie=True,
    ),
    "v1.5": Shape(
        "InternVL-Chat-V1-5",
        {  # InternViT-6B-448px-V1-5 (45 of InternViT-6B's 48 layers)
            "hidden_size": 3200,
            "num_hidden_layers": 45,
            "num_attention_heads": 25,
            "intermediate_size": 12800,
            "use_qk_norm": True,
            "norm_type": "rms_norm",
        },
        "llama",
        {  # InternLM2-Chat-20B
            "vocab_size": 92553,
            "hidden_size": 6144,
            "intermediate_size": 16384,
            "num_hidden_layers": 48,
            "num_attention_heads": 48,
            "num_key_value_heads": 8,
            "max_position_embeddings": 32768,
            "rope_theta": 1_000_000.0,
        },
        tie=False,
    ),
}


def _config(shape: Shape | None, vocab: int, image_token_id: int, eos_id: int) -> Any:
    from transformers import InternVLConfig, InternVLVisionConfig, LlamaConfig, Qwen2Config

    from kanjian.vlm.local_tiny import tiny_config

    if shape is None:
        return tiny_config(vocab, image_token_id, eos_id)
    text_class = Qwen2Config if shape.text_type == "qwen2" else LlamaConfig
    text = text_class(**shape.text, eos_token_id=eos_id, tie_word_embeddings=shape.tie)
    return InternVLConfig(
        vision_config=InternVLVisionConfig(**shape.vision).to_dict(),
        text_config=text.to_dict(),
        image_token_id=image_token_id,
        image_seq_length=256,
        tie_word_embeddings=shape.tie,
    )


def build(shape: Shape | None, device: str, folder: Path) -> tuple[Any, Any]:
    """A random model (on ``device``) and its processor; ``None`` is the tests' tiny model."""
    import torch
    from transformers import AutoTokenizer, InternVLForConditionalGeneration

    from kanjian.vlm.local_model import ImageOnlyInternVLProcessor, resolve_dtype
    from kanjian.vlm.local_tiny import build_processor, build_tokenizer

    build_tokenizer(folder, None if shape is None else shape.text["vocab_size"])
    build_processor(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    vocab = len(tokenizer) if shape is None else shape.text["vocab_size"]
    eos = tokenizer.eos_token_id
    config = _config(shape, vocab, tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"), eos)
    torch.manual_seed(0)
    with torch.device("meta"):
        model = InternVLForConditionalGeneration(config)
    model = model.to(resolve_dtype("auto", device)).to_empty(device=device)
    model.init_weights()  # parameters and buffers (rotary frequencies), on the device
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = eos
    return model.eval(), ImageOnlyInternVLProcessor.from_pretrained(folder)


def decoder_bytes(model: Any) -> int:
    """What one decode step reads: the language model's and the head's weights, once each."""
    seen: dict[int, int] = {}
    for module in (model.model.language_model, model.lm_head):
        for p in module.parameters():
            seen[id(p)] = p.numel() * p.element_size()  # a tied head counts once
    return sum(seen.values())
