"""The vector index: one chromadb collection per embedder, rebuilt from SQLite at will.

Embedded ``PersistentClient`` under ``memory/chroma`` by default (anonymized telemetry
off), a Chroma server through ``HttpClient`` when ``memory.url`` is set. The collection is
named ``turns__<embedder>__<dim>`` and carries the model name and dimension in its
metadata, so switching embedders starts a new collection instead of mixing vector spaces.
Document ids are ``<session>:<seq>``; metadata holds session, seq, created and has_image
for filtering. chromadb errors are translated to :class:`IndexUnavailable` here.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from kanjian.memory.embedders import Embedder, embed_input
from kanjian.memory.errors import IndexUnavailable, MemoryInputError
from kanjian.memory.records import TurnRecord
from kanjian.memory.store import Filters

__all__ = ["VectorIndex", "collection_name", "connect", "turn_document"]

T = TypeVar("T")


def collection_name(embedder: Embedder) -> str:
    slug = re.sub(r"[^a-zA-Z0-9_-]+", "-", embedder.name).strip("-_").lower()
    return f"turns__{slug}__{embedder.dim}"[:63]


def turn_document(turn: TurnRecord) -> str:
    """What is indexed per turn: question, answer, the OCR text of its images, labels."""
    parts = [turn.question, turn.answer, turn.ocr_text, " ".join(turn.labels)]
    return "\n".join(p for p in parts if p)


def connect(path: Path, url: str | None = None) -> Any:
    """A chromadb client: a server at ``url``, else the embedded one under ``path``."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False, allow_reset=True)
    try:
        if url:
            parsed = urlparse(url)
            if not parsed.hostname:
                raise MemoryInputError(
                    f"memory.url {url!r} is not a URL; use e.g. 'http://127.0.0.1:8000'."
                )
            return chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=settings,
            )
        path.mkdir(parents=True, exist_ok=True)
        return _open_embedded(path, settings)
    except MemoryInputError:
        raise
    except Exception as exc:  # chromadb raises bare Exceptions and ValueErrors on connect
        where = url or str(path)
        raise IndexUnavailable(
            f"Cannot open the vector index at {where!r} ({exc}); start the Chroma server, "
            "fix memory.url, or run 'kanjian memory reindex'."
        ) from exc


def _open_embedded(path: Path, settings: Any, attempts: int = 4) -> Any:
    """The embedded client, retried while another process is creating the same store.

    A second process opening a new store while the first still runs chromadb's SQLite
    migrations can fail to start ("database is locked"); chromadb then keeps the half-started
    system cached for that path, and every later open fails with an AttributeError. So the
    broken system is dropped before each retry.
    """
    import time

    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient

    for attempt in range(1, attempts + 1):
        try:
            return chromadb.PersistentClient(path=str(path), settings=settings)
        except Exception:
            if attempt == attempts:
                raise
            SharedSystemClient._identifier_to_system.pop(str(path), None)
            SharedSystemClient._identifier_to_refcount.pop(str(path), None)
            time.sleep(0.25 * attempt)
    raise AssertionError("unreachable")


class VectorIndex:
    """The turns collection of one embedder in one chromadb client."""

    def __init__(self, client: Any, embedder: Embedder, where: str) -> None:
        self.client = client
        self.embedder = embedder
        self.where = where
        self.name = collection_name(embedder)
        self._lock = threading.Lock()
        self._collection = self._guard(self._open)

    def _open(self) -> Any:
        return self.client.get_or_create_collection(
            self.name,
            metadata={"embedder": self.embedder.name, "dim": self.embedder.dim},
            configuration={"hnsw": {"space": "cosine"}},
            embedding_function=None,
        )

    def _guard(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (IndexUnavailable, MemoryInputError):
            raise
        except Exception as exc:  # chromadb's error types vary by client; translate them all
            raise IndexUnavailable(
                f"The vector index {self.name!r} at {self.where!r} failed ({exc}); run "
                "'kanjian memory reindex' to rebuild it from the SQLite store."
            ) from exc

    def upsert(self, turns: Sequence[TurnRecord]) -> None:
        if not turns:
            return
        docs = [turn_document(t) for t in turns]
        vectors = self.embedder.embed([embed_input(self.embedder, d) for d in docs])
        self.upsert_vectors(turns, vectors, docs)

    def upsert_vectors(
        self, turns: Sequence[TurnRecord], vectors: Sequence[Sequence[float]], docs: Sequence[str]
    ) -> None:
        metadatas = [
            {
                "session": t.session_id,
                "seq": t.seq,
                "created": t.created,
                "has_image": bool(t.images),
            }
            for t in turns
        ]
        with self._lock:
            self._guard(lambda: self._collection.upsert(
                ids=[t.key for t in turns], embeddings=[list(v) for v in vectors],
                documents=list(docs), metadatas=metadatas,
            ))  # fmt: skip

    def delete_session(self, session_id: str) -> None:
        with self._lock:
            self._guard(lambda: self._collection.delete(where={"session": session_id}))

    def query(self, text: str, k: int, filters: Filters) -> list[tuple[str, int, float]]:
        """The ``k`` nearest turns to ``text``: (session, seq, cosine similarity), best first."""
        vector = self.embedder.embed([embed_input(self.embedder, text)])[0]
        return self.query_vector(vector, k, filters)

    def query_vector(
        self, vector: Sequence[float], k: int, filters: Filters
    ) -> list[tuple[str, int, float]]:
        where = _where(filters)
        with self._lock:
            result = self._guard(lambda: self._collection.query(
                query_embeddings=[list(vector)], n_results=k, where=where,
                include=["metadatas", "distances"],
            ))  # fmt: skip
        metas = (result.get("metadatas") or [[]])[0]
        dists = (result.get("distances") or [[]])[0]
        return [
            (str(m["session"]), int(m["seq"]), 1.0 - float(d))
            for m, d in zip(metas, dists, strict=True)
        ]

    def similarities(
        self, vector: Sequence[float], keys: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], float]:
        """Cosine similarity of ``vector`` to each stored turn of ``keys`` (absent: left out)."""
        return {
            key: sum(float(a) * float(b) for a, b in zip(vector, emb, strict=True))
            for key, emb in self.vectors(keys).items()
        }

    def vectors(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], list[float]]:
        """The stored vectors of ``keys`` (absent: left out)."""
        if not keys:
            return {}
        ids = [f"{sid}:{seq}" for sid, seq in keys]
        with self._lock:
            result = self._guard(
                lambda: self._collection.get(ids=ids, include=["embeddings", "metadatas"])
            )
        metas = result.get("metadatas")
        embeddings = result.get("embeddings")
        if metas is None or embeddings is None:
            return {}
        return {
            (str(meta["session"]), int(meta["seq"])): [float(x) for x in emb]
            for meta, emb in zip(metas, embeddings, strict=True)
        }

    def count(self) -> int:
        with self._lock:
            return int(self._guard(self._collection.count))

    def reset(self) -> None:
        """Drop and recreate this embedder's collection (other embedders' are untouched)."""
        with self._lock:

            def recreate() -> Any:
                # It may be absent already: nothing to drop then.
                with contextlib.suppress(Exception):
                    self.client.delete_collection(self.name)
                return self._open()

            self._collection = self._guard(recreate)


def _where(filters: Filters) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = []
    if filters.session is not None:
        clauses.append({"session": filters.session})
    if filters.since is not None:
        clauses.append({"created": {"$gte": filters.since}})
    if filters.until is not None:
        clauses.append({"created": {"$lt": filters.until}})
    if filters.has_image is not None:
        clauses.append({"has_image": filters.has_image})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
