"""Build a tiny, randomly initialised InternVL ``-hf`` checkpoint, entirely offline.

For tests, benchmarks and plugin authors who want the local backend's real code path
without a 2 GB download: ``build_tiny_internvl(path)``, then ``LocalBackend(path)``. It talks
nonsense, quickly (a few MB, a token in milliseconds on a CPU).

Everything a real ``OpenGVLab/InternVL3-1B-hf`` download holds is here in miniature: an
``InternVLForConditionalGeneration`` (tiny InternViT tower at the real 448 px / 14 px patch
geometry, so 256 image tokens per tile, and a tiny Qwen2), a byte-level BPE tokenizer trained
on a few sentences with InternVL's special tokens, a Qwen-style chat template, and the
GotOcr2 image processor with official tiling. Saved with ``save_pretrained`` so the backend
loads it through the same ``from_pretrained`` path a real checkpoint takes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = [
    "CHAT_TEMPLATE",
    "build_processor",
    "build_tiny_internvl",
    "build_tokenizer",
    "tiny_config",
]

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<IMG_CONTEXT>\\n' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>"]
SPECIAL_TOKENS += ["<IMG_CONTEXT>", "<video>", "<ref>", "</ref>", "<box>", "</box>"]

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A red car is parked next to the blue house near the river.",
    "Please provide the bounding box coordinate of the region this sentence describes.",
    "What is written on the sign? The sign says 看见 and 你好世界.",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000 [[12, 340, 560, 999]]",
    "Describe the image in detail. There is a cat sitting on a mat.",
]


def build_tokenizer(path: Path, vocab_size: int | None = None) -> None:
    """A byte-level BPE tokenizer; ``vocab_size`` pads it to a real model's vocabulary.

    Padding entries decode to `` w<id>``, so a random model of a real checkpoint's shape
    (whose ids range over the whole vocabulary) still streams visible text.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    core.train_from_iterator(CORPUS, trainer=trainer)
    if vocab_size is not None:
        _pad_vocabulary(core, vocab_size)
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=SPECIAL_TOKENS,
        # The InternVL processor reads these named tokens off the tokenizer.
        start_image_token="<img>",
        end_image_token="</img>",
        context_image_token="<IMG_CONTEXT>",
        video_token="<video>",
        chat_template=CHAT_TEMPLATE,
    )
    tokenizer.save_pretrained(path)


def _pad_vocabulary(core: Any, vocab_size: int) -> None:
    from tokenizers import models

    trained = json.loads(core.to_str())["model"]
    vocab: dict[str, int] = dict(trained["vocab"])
    pairs = (m.split(" ") if isinstance(m, str) else m for m in trained["merges"])
    merges = [(str(a), str(b)) for a, b in pairs]
    for i in range(len(vocab), vocab_size):
        vocab[f"\u0120w{i}"] = i  # \u0120 is the byte-level alphabet's space
    core.model = models.BPE(vocab=vocab, merges=merges)


def build_processor(path: Path) -> None:
    """The processor files of a real ``-hf`` checkpoint.

    ``InternVLProcessor`` itself cannot be built here (its video slot needs torchvision), so the
    files are written the way the real checkpoint has them: the GotOcr2 image processor config
    (type ``GotOcr2ImageProcessorFast``, as published), ``processor_config.json`` naming
    ``InternVLProcessor``, and the chat template.
    """
    from transformers.models.got_ocr2 import GotOcr2ImageProcessorPil

    GotOcr2ImageProcessorPil(
        size={"height": 448, "width": 448},
        crop_to_patches=False,
        min_patches=1,
        max_patches=12,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(path)
    config_file = path / "preprocessor_config.json"
    config = json.loads(config_file.read_text())
    config["image_processor_type"] = "GotOcr2ImageProcessorFast"
    config_file.write_text(json.dumps(config, indent=2))
    processor = {"processor_class": "InternVLProcessor", "image_seq_length": 256}
    (path / "processor_config.json").write_text(json.dumps(processor, indent=2))
    (path / "chat_template.jinja").write_text(CHAT_TEMPLATE)


def tiny_config(vocab_size: int, image_token_id: int, eos_id: int) -> Any:
    """The ``InternVLConfig`` of the tiny model: real 448 px / 14 px tile geometry, tiny widths."""
    from transformers import InternVLConfig, InternVLVisionConfig, Qwen2Config

    vision = InternVLVisionConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=[448, 448],
        patch_size=[14, 14],
    )
    text = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=32768,
        eos_token_id=eos_id,
        # Wide weights make a random model's greedy choices vary, so its text is not one
        # repeated token and stop strings, streaming and decoding get exercised.
        initializer_range=0.5,
    )
    return InternVLConfig(
        vision_config=vision.to_dict(),
        text_config=text.to_dict(),
        image_token_id=image_token_id,
        image_seq_length=256,
    )


def build_model(path: Path, vocab_size: int, image_token_id: int, eos_id: int) -> None:
    import torch
    from transformers import InternVLForConditionalGeneration

    torch.manual_seed(0)
    model = InternVLForConditionalGeneration(tiny_config(vocab_size, image_token_id, eos_id))
    model.generation_config.eos_token_id = eos_id
    model.save_pretrained(path)


def build_tiny_internvl(path: Path) -> Path:
    """Write the whole checkpoint into ``path`` and return it."""
    from transformers import AutoTokenizer

    path.mkdir(parents=True, exist_ok=True)
    build_tokenizer(path)
    build_processor(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    build_model(
        path,
        vocab_size=len(tokenizer),
        image_token_id=tokenizer.get_vocab()["<IMG_CONTEXT>"],
        eos_id=tokenizer.get_vocab()["<|im_end|>"],
    )
    return path
