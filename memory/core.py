"""The synchronous memory engine: the SQLite store, the image files and the vector index.

:class:`memory.api.Memory` wraps this for async callers (every method runs in a worker
thread); benchmarks and scripts may use it directly. Remembering a turn writes SQLite only
(the source of truth, one transaction): it costs an ``ask`` milliseconds. Indexing is
deferred to the next reader: recall and search first embed the turns that have no vector
yet (stored in SQLite, see :mod:`kanjian.memory.mirror`), and opening chromadb upserts the
turns it lacks (``indexed = 0``) from those stored vectors. A crash anywhere loses nothing.

Recall reads the vectors from the in-memory mirror, never from chromadb, while the store
holds at most :data:`kanjian.memory.mirror.MIRROR_MAX_TURNS` turns: importing chromadb and
opening its client alone cost more than a second of every ``kanjian ask``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kanjian.memory import gate, mirror
from kanjian.memory.embedders import Embedder, embed_input, make_embedder
from kanjian.memory.errors import (
    ImageNotFound,
    IndexUnavailable,
    MemoryInputError,
    MemoryStoreError,
)
from kanjian.memory.images import ImageFiles
from kanjian.memory.index import VectorIndex, collection_name, connect, turn_document
from kanjian.memory.lexical import LexicalIndex, query_terms
from kanjian.memory.mirror import VectorMirror
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
# A store (made before the mirror) whose turns have no vectors yet, but chromadb has them:
# past this many, copying them from chromadb beats embedding them again.
BACKFILL_FROM_INDEX = 64
Key = tuple[str, int]
EMBED_ON_CLOSE = 8  # turns remembered by one process past which close() embeds them


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
        self._index_lock = threading.RLock()
        self._index_verified = False  # its count checked against SQLite since opening
        self._mirror: VectorMirror | None = None
        self._mirror_lock = threading.RLock()
        self._space: str | None = None
        self._turns: int | None = None  # turns in the store when last counted
        self._added = 0  # turns this process remembered
        self._threads: ThreadPoolExecutor | None = None  # hybrid search's vector half

    def close(self) -> None:
        with contextlib.suppress(MemoryStoreError):
            if self.url and self._added:
                # A Chroma server is shared by machines that do not share this SQLite file:
                # they find what this process remembered only there.
                self.synced_index()
            elif self._added >= EMBED_ON_CLOSE:
                # A process that remembered many turns (a batch, a long chat) embeds them
                # before it goes, so the next `kanjian ask` does not pay for them.
                self.embed_missing()
        if self._threads is not None:
            self._threads.shutdown(wait=False)
        self.store.close()

    # -- vectors: stored in SQLite, mirrored in memory, indexed in chromadb ------------------

    @property
    def space(self) -> str:
        """The vector space (embedder and dimension) this memory's vectors belong to."""
        if self._space is None:
            self._space = collection_name(self.embedder)
        return self._space

    @property
    def index(self) -> VectorIndex:
        """chromadb's collection, opened on first use and then caught up with SQLite."""
        with self._index_lock:
            if self._index is not None and self._index_verified:
                return self._index
        return self.synced_index()

    def _open_index(self) -> VectorIndex:
        with self._index_lock:
            if self._index is None:
                client = connect(self.root / "chroma", self.url)
                self._index = VectorIndex(
                    client, self.embedder, self.url or str(self.root / "chroma")
                )
            return self._index

    def synced_index(self) -> VectorIndex:
        """chromadb's collection with every turn SQLite has, including those other
        processes (``kanjian ask``) remembered since it was opened."""
        index = self._open_index()
        self._catch_up(index, verify=not self._index_verified)
        self._index_verified = True
        return index

    def _catch_up(self, index: VectorIndex, *, verify: bool = False) -> int:
        """Upsert what SQLite has and chromadb lacks: new turns, and with ``verify`` (on
        opening) everything when the collection has fewer (new embedder, lost files)."""
        if verify:
            counts = self.store.counts()
            if index.count() < counts["turns"] - counts["unindexed"]:
                self.store.mark_all_unindexed()
        if not self.store.has_unindexed():  # one probe of a partial index: every search
            return 0
        self.embed_missing()  # before the index lock: embed_missing may take it itself
        with self._index_lock:
            done = 0
            batch: list[TurnRecord] = []
            for turn in self.store.iter_turns(unindexed_only=True):
                batch.append(turn)
                if len(batch) >= INDEX_BATCH:
                    done += self._index_batch(index, batch)
                    batch = []
            return done + self._index_batch(index, batch)

    def _index_batch(self, index: VectorIndex, turns: list[TurnRecord]) -> int:
        if not turns:
            return 0
        stored = mirror.fetch(self.store, self.space, [t.key_tuple for t in turns])
        missing = [t for t in turns if t.key_tuple not in stored]
        if missing:  # written after embed_missing ran: embed them here
            stored |= self._embed(missing)
        index.upsert_vectors(
            turns, [stored[t.key_tuple] for t in turns], [turn_document(t) for t in turns]
        )
        self.store.mark_indexed([t.key_tuple for t in turns])
        return len(turns)

    def embed_missing(self) -> int:
        """Embed and store the vectors of turns that have none yet; returns the turn count."""
        with self._mirror_lock:
            if self._turns is not None and not mirror.newest_missing(self.store, self.space):
                return self._turns  # the common case: two index probes
            # Counting costs milliseconds per 10,000 turns: once per process, then on news.
            missing, turns = mirror.count_missing(self.store, self.space)
            self._turns = turns
            if missing and missing > BACKFILL_FROM_INDEX:
                self._backfill_from_index()
            for _ in range(missing // INDEX_BATCH + 2):  # bounded: others may write meanwhile
                keys = mirror.missing_keys(self.store, self.space, INDEX_BATCH)
                if not keys:
                    break
                found = self.store.turns_by_key(keys)
                mirror.put(self.store, self.space, self._embed(list(found.values())))
            return turns

    def _embed(self, turns: Sequence[TurnRecord]) -> dict[Key, list[float]]:
        texts = [embed_input(self.embedder, turn_document(t)) for t in turns]
        vectors = self.embedder.embed(texts) if texts else []
        return {t.key_tuple: v for t, v in zip(turns, vectors, strict=True)}

    def _backfill_from_index(self) -> None:
        """Copy vectors chromadb already holds (a store made before the mirror existed)."""
        if not self.url and not (self.root / "chroma").exists():
            return
        with contextlib.suppress(IndexUnavailable):
            index = self._open_index()
            while keys := mirror.missing_keys(self.store, self.space, INDEX_BATCH):
                vectors = index.vectors(keys)
                if not vectors:
                    return
                mirror.put(self.store, self.space, vectors)
                if len(vectors) < len(keys):
                    return  # the rest is embedded by the caller

    def vector_mirror(self) -> VectorMirror | None:
        """Every turn's vector in memory, up to date; None past ``MIRROR_MAX_TURNS`` turns
        (chromadb's HNSW answers then)."""
        with self._mirror_lock:
            if self.embed_missing() > mirror.MIRROR_MAX_TURNS:
                return None
            if self._mirror is None:
                restored = VectorMirror.restore(self.store.path, self.space, self.embedder.dim)
                if restored is not None and not mirror.valid_for(self.store, restored):
                    restored = None
                self._mirror = restored or VectorMirror(self.space, self.embedder.dim)
            found = self._mirror
            mirror.sync(self.store, found)
            if found.unsaved >= mirror.SAVE_AFTER:
                with contextlib.suppress(OSError):  # a cache: the next process rebuilds it
                    found.save(self.store.path)
            return found

    def warm(self) -> None:
        """Load what the first recall needs (NumPy, the embedder, the lexical index, the
        vector mirror), so that a chat app can do it while the user types. Best effort:
        a failure shows where it matters, at the first recall."""
        with contextlib.suppress(MemoryStoreError):
            self.store.lexical_index()
            self.vector_mirror()
            self.embedder.embed(["warm"])

    def reindex(self) -> int:
        """Embed every turn again and rebuild this embedder's collection; returns the turns."""
        with self._mirror_lock:
            mirror.drop(self.store, self.space)
            self._mirror = self._turns = None
            mirror.remove_snapshot(self.store.path, self.space)
            index = self.index
            index.reset()
            self.store.mark_all_unindexed()
            return self._catch_up(index)

    # -- sessions and turns -----------------------------------------------------------------

    def new_session(self, title: str | None = None, session_id: str | None = None) -> str:
        return self.store.create_session(session_id, title or "").id

    def add_turn(self, session_id: str, question: str, answer: str, **fields: Any) -> TurnRecord:
        """Store a turn (SQLite only: lexical search finds it at once, and the next recall or
        search embeds and indexes it; see the module docstring)."""
        turn = self.store.add_turn(session_id, question, answer, **fields)
        self._added += 1
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
        if mode == "lexical":
            rankings["lexical"] = self.store.lexical(query, depth, filters)
        else:
            vector = self.embedder.embed([embed_input(self.embedder, query)])[0]
            vectors = self._mirror_for(filters)
            if vectors is not None:
                # Exact, and no chromadb to open (its import alone is ~1.4 s of a
                # `kanjian memory search`, or of the model's first memory_search step).
                nearest = vectors.top(vector, depth, until=filters.until, since=filters.since)
                rankings["vector"] = nearest
                if mode == "hybrid":
                    rankings["lexical"] = self.store.lexical(query, depth, filters)
                return self._read_hits(fuse(rankings, depth), k)
            index = self.synced_index()
            if mode == "vector":
                rankings["vector"] = index.query_vector(vector, depth, filters)
            else:
                # chromadb's query runs in Rust without the GIL: the keyword half runs
                # meanwhile here (hybrid took vector + lexical time, now about the larger).
                found = self._pool().submit(index.query_vector, vector, depth, filters)
                lexical = self.store.lexical(query, depth, filters)
                rankings = {"vector": found.result(), "lexical": lexical}
        return self._read_hits(fuse(rankings, depth), k)

    def _mirror_for(self, filters: Filters) -> VectorMirror | None:
        """The vector mirror when it can answer a search with these filters (it knows each
        turn's time, not its session or images); None: chromadb answers."""
        if filters.session is not None or filters.has_image is not None:
            return None
        return self.vector_mirror()

    def _read_hits(self, fused: list[tuple[Key, float, dict[str, int]]], k: int) -> list[Hit]:
        hits: list[Hit] = []
        # Only the best k are read back (reading all 4k cost more than chromadb's query);
        # an index entry whose turn was forgotten mid-crash is skipped, and the next read.
        while fused and len(hits) < k:
            batch, fused = fused[: k - len(hits)], fused[k - len(hits) :]
            turns = self.store.turns_by_key([key for key, _, _ in batch])
            hits += [self._hit(turns[key], s, r) for key, s, r in batch if key in turns]
        return hits

    def _pool(self) -> ThreadPoolExecutor:
        with self._index_lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(1, thread_name_prefix="kanjian-search")
            return self._threads

    def _hit(self, turn: TurnRecord, score: float, ranks: dict[str, int]) -> Hit:
        return Hit(
            session=turn.session_id, turn=turn.seq, score=score, text=turn.text,
            images=self.image_paths(turn.images), created=turn.created,
            question=turn.question, answer=turn.answer, ranks=dict(ranks),
        )  # fmt: skip

    def snapshot(self) -> RecallSnapshot:
        """Freeze memory as it is now for :meth:`recall` (``as_of``)."""
        index = self.store.lexical_index()  # synced with SQLite now
        return RecallSnapshot(time.time(), index.copy())

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

    def _cosines(
        self, text: str, also: Sequence[Key], until: float | None = None
    ) -> dict[Key, float]:
        """The nearest turns to ``text`` (made before ``until``) and the cosine of the turns
        ``also`` names (the gate needs both features for every candidate)."""
        vectors = self.vector_mirror()
        vector = self.embedder.embed([embed_input(self.embedder, text)])[0]
        source: VectorMirror | VectorIndex
        if vectors is not None:
            source = vectors
            cosines = {(s, q): c for s, q, c in vectors.top(vector, RECALL_DEPTH, until=until)}
        else:
            source = self.synced_index()
            found = source.query_vector(vector, RECALL_DEPTH, Filters(until=until))
            cosines = {(s, q): c for s, q, c in found}
        return cosines | source.similarities(vector, [k for k in also if k not in cosines])

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
            until = None if as_of is None else as_of.until
            cosines = self._cosines(text, lexical_keys, until)
        keys = [*dict.fromkeys([*cosines, *lexical_keys])]
        turns = self.store.turns_by_key([k for k in keys if k[0] != exclude_session])
        hits = [self._hit(turn, 0.0, {}) for turn in turns.values()]
        return gate.weigh(question, concepts, hits, cosines, lexical)
