"""The synchronous memory engine: the SQLite store, the image files and the vector index.

:class:`memory.api.Memory` wraps this for async callers (every method runs in a worker
thread); benchmarks and scripts may use it directly. Writes go to SQLite first (the
source of truth), then to the vector index; a turn the index has not taken yet keeps
``indexed = 0`` and is indexed on the next use, so a crash between the two loses nothing.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kanjian.memory import gate
from kanjian.memory.embedders import Embedder, embed_input, make_embedder
from kanjian.memory.errors import ImageNotFound, IndexUnavailable, MemoryInputError
from kanjian.memory.images import ImageFiles
from kanjian.memory.index import VectorIndex, connect
from kanjian.memory.lexical import LexicalIndex, query_terms
from kanjian.memory.records import (
    Hit,
    ImageRecord,
    SearchMode,
    SessionRecord,
    StoredImageRef,
    TurnRecord,
)
from kanjian.memory.retrieval import estimate_tokens, fuse, truncate_to_tokens
from kanjian.memory.store import Filters, Store

__all__ = ["MemoryCore", "RecallSnapshot"]

INDEX_BATCH = 512
RECALL_TURN_TOKENS = 200
RECALL_DEPTH = 10  # candidates from each retriever that the gate scores
NO_FILTERS = Filters()


@dataclass(frozen=True, slots=True, eq=False)
class RecallSnapshot:
    """Memory as it was at one moment, for recall only (``kanjian batch``): turns stored
    later are neither found nor counted in the gate's statistics, so what a question recalls
    does not depend on what was remembered meanwhile."""

    until: float  # turns created from then on are left out of the vector side
    lexical: LexicalIndex  # a frozen copy: its turns, and its IDF, as they were


class MemoryCore:
    """Everything memory does, synchronously. Thread-safe; one per process and data dir."""

    def __init__(
        self, root: Path, embedder: Embedder | str = "auto", url: str | None = None
    ) -> None:
        self.root = root
        self.url = url
        self.store = Store(root / "kanjian.db")
        self.files = ImageFiles(root / "images")
        self.embedder = make_embedder(embedder) if isinstance(embedder, str) else embedder
        self._index: VectorIndex | None = None
        self._index_lock = threading.Lock()

    def close(self) -> None:
        self.store.close()

    # -- the vector index, opened on first use ----------------------------------------------

    @property
    def index(self) -> VectorIndex:
        with self._index_lock:
            if self._index is None:
                client = connect(self.root / "chroma", self.url)
                self._index = VectorIndex(
                    client, self.embedder, self.url or str(self.root / "chroma")
                )
                self._catch_up(self._index)
            return self._index

    def _catch_up(self, index: VectorIndex) -> int:
        """Index what SQLite has and the index lacks (new embedder, crash, lost files)."""
        counts = self.store.counts()
        if index.count() < counts["turns"] - counts["unindexed"]:
            self.store.mark_all_unindexed()
        done = 0
        batch: list[TurnRecord] = []
        for turn in self.store.iter_turns(unindexed_only=True):
            batch.append(turn)
            if len(batch) >= INDEX_BATCH:
                done += self._index_batch(index, batch)
                batch = []
        return done + self._index_batch(index, batch)

    def _index_batch(self, index: VectorIndex, turns: list[TurnRecord]) -> int:
        if turns:
            index.upsert(turns)
            self.store.mark_indexed([(t.session_id, t.seq) for t in turns])
        return len(turns)

    def reindex(self) -> int:
        """Rebuild this embedder's collection from SQLite; returns the turns indexed."""
        index = self.index
        index.reset()
        self.store.mark_all_unindexed()
        return self._catch_up(index)

    # -- sessions and turns -----------------------------------------------------------------

    def new_session(self, title: str | None = None, session_id: str | None = None) -> str:
        return self.store.create_session(session_id, title or "").id

    def add_turn(self, session_id: str, question: str, answer: str, **fields: Any) -> TurnRecord:
        turn = self.store.add_turn(session_id, question, answer, **fields)
        # On failure it stays indexed = 0: lexical search has it now, the index on next open.
        with contextlib.suppress(IndexUnavailable):
            self._index_batch(self.index, [turn])
        return turn

    def get_session(self, session_id: str) -> SessionRecord:
        return self.store.session(session_id)

    def list_sessions(self, limit: int = 50, offset: int = 0) -> list[SessionRecord]:
        return self.store.sessions(limit, offset)

    def forget(self, session_id: str) -> int:
        """Remove a session from SQLite, the vector index and unused image files."""
        orphans = self.store.delete_session(session_id)
        self.index.delete_session(session_id)
        for sha, ext in orphans:
            self.files.delete(sha, ext)
        return len(orphans)

    # -- images -----------------------------------------------------------------------------

    def put_image(self, data: bytes, ext: str | None = None) -> str:
        info = self.files.put(data, ext)
        self.store.add_image(info)
        return info.sha256

    def image(self, sha256: str) -> ImageRecord:
        info = self.store.image(sha256)
        if info is None:
            raise ImageNotFound(f"No stored image with sha256 {sha256!r}; store it with put_image.")
        return ImageRecord(
            info.sha256, info.ext, info.width, info.height, info.size,
            self.files.path(info.sha256, info.ext), self.files.thumbnail(info.sha256),
        )  # fmt: skip

    def image_path(self, sha256: str) -> Path:
        return self.image(sha256).path

    def image_paths(self, refs: Sequence[StoredImageRef]) -> tuple[str, ...]:
        out: list[str] = []
        for ref in refs:
            info = self.store.image(ref.sha256)
            if info is not None:
                out.append(str(self.files.path(info.sha256, info.ext)))
        return tuple(out)

    # -- retrieval --------------------------------------------------------------------------

    def search(
        self, query: str, k: int = 5, *, mode: SearchMode = "hybrid", filters: Filters = NO_FILTERS
    ) -> list[Hit]:
        if k < 1:
            raise MemoryInputError(f"k={k!r} must be at least 1; ask for one hit or more.")
        if mode not in ("hybrid", "vector", "lexical"):
            raise MemoryInputError(f"Unknown search mode {mode!r}; use hybrid, vector or lexical.")
        depth = max(4 * k, 20)
        rankings: dict[str, list[tuple[str, int, float]]] = {}
        if mode in ("hybrid", "vector"):
            rankings["vector"] = self.index.query(query, depth, filters)
        if mode in ("hybrid", "lexical"):
            rankings["lexical"] = self.store.lexical(query, depth, filters)
        fused = fuse(rankings, depth)
        turns = self.store.turns_by_key([key for key, _, _ in fused])
        hits = [
            self._hit(turns[key], score, ranks)
            for key, score, ranks in fused
            if key in turns  # an index entry whose turn was forgotten mid-crash: skip it
        ]
        return hits[:k]

    def _hit(self, turn: TurnRecord, score: float, ranks: dict[str, int]) -> Hit:
        return Hit(
            session=turn.session_id, turn=turn.seq, score=score, text=turn.text,
            images=self.image_paths(turn.images), created=turn.created,
            question=turn.question, answer=turn.answer, ranks=dict(ranks),
        )  # fmt: skip

    def snapshot(self) -> RecallSnapshot:
        """Freeze memory as it is now for :meth:`recall` (``as_of``)."""
        index = self.store.lexical_index()  # synced with SQLite now
        until = time.time()
        with tempfile.TemporaryDirectory(prefix="kanjian-recall-") as folder:
            path = Path(folder) / "lexical.npz"
            index.save(path)
            frozen = LexicalIndex.restore(path)
        return RecallSnapshot(until, frozen or LexicalIndex())

    def recall(
        self,
        question: str,
        budget_tokens: int = 600,
        *,
        exclude_session: str | None = None,
        as_of: RecallSnapshot | None = None,
    ) -> list[Hit]:
        """The past turns that pass the recall gate, best first, within a token budget.

        Nothing when nothing passes (see :mod:`kanjian.memory.gate` for the score and its
        calibration); at most :data:`kanjian.memory.gate.MAX_RECALLED` turns.
        """
        cut = gate.cut_for(self.embedder.name)
        candidates = self.recall_candidates(question, exclude_session=exclude_session, as_of=as_of)
        out: list[Hit] = []
        left = budget_tokens
        for score, hit in cut.select(candidates):
            text = truncate_to_tokens(hit.text, min(RECALL_TURN_TOKENS, left))
            cost = estimate_tokens(text)
            if cost > left or cost < 8:
                break
            out.append(replace(hit, text=text, score=score))
            left -= cost
        return out

    def recall_candidates(
        self,
        question: str,
        *,
        exclude_session: str | None = None,
        as_of: RecallSnapshot | None = None,
    ) -> list[gate.Candidate]:
        """The turns the gate weighs for ``question``: each retriever's best, with features."""
        concepts = gate.concepts(question)
        if not concepts:  # only generic words ("What is in this photo?"): nothing to recall
            return []
        text = " ".join(c.head for c in concepts)
        lexical = self.store.lexical_index() if as_of is None else as_of.lexical
        filters = NO_FILTERS if as_of is None else Filters(until=as_of.until)
        terms = query_terms(text)
        found = lexical.search(terms, RECALL_DEPTH, filters) if terms else []
        lexical_keys = [(s, q) for s, q, _ in found]
        cosines: dict[tuple[str, int], float] = {}
        with contextlib.suppress(IndexUnavailable):  # lexical evidence alone still counts
            index = self.index
            vector = index.embedder.embed([embed_input(index.embedder, text)])[0]
            for sid, seq, cos in index.query_vector(vector, RECALL_DEPTH, filters):
                cosines[(sid, seq)] = cos
            # Turns only the lexical side found get their cosine too: the gate needs both.
            cosines |= index.similarities(vector, [k for k in lexical_keys if k not in cosines])
        keys = [*dict.fromkeys([*cosines, *lexical_keys])]
        turns = self.store.turns_by_key([k for k in keys if k[0] != exclude_session])
        hits = [self._hit(turn, 0.0, {}) for turn in turns.values()]
        return gate.weigh(question, concepts, hits, cosines, lexical)
