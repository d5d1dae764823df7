"""Lexical search in memory: BM25 over the bilingual terms that SQLite stores per turn.

SQLite's FTS5 scores every matching row with ``bm25()`` before it can sort, and a query
whose terms are common (an English gloss, a frequent Chinese word) matches a large share
of the store: at 100,000 turns that cost hundreds of milliseconds. This index keeps the
same terms as NumPy posting lists (term -> doc positions and term frequencies) and scores a
query with a few vector operations, the same BM25 as FTS5 (k1 = 1.2, b = 0.75, its idf with
the same floor), so rankings match while the work per matching turn drops to a few
nanoseconds.

SQLite stays the source of truth (``turns_fts`` rows carry the terms). :class:`LexicalIndex`
is fed by :class:`memory.store.Store`: rows newer than its watermark are added, and sessions
named in the ``forgotten`` log are masked out, so turns written by other processes are
searchable on the next query. New postings go to a small tail that is merged into the
sorted base arrays once it grows, keeping appends cheap and queries vectorised.

A first build reads every turn (1.5 to 4 s at 100,000 turns, by their length), so the
index is also saved to a snapshot file beside the database once enough turns were added
since the last one; the next process restores it in tens of milliseconds and syncs the
rest from SQLite as usual. The snapshot is only a cache: a missing, corrupt or stale one is rebuilt.
"""

from __future__ import annotations

import copy
import json
import math
import os
import threading
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kanjian.memory import bilingual

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy
    import numpy.typing as npt

    from kanjian.memory.store import Filters

    Bools: TypeAlias = npt.NDArray[numpy.bool_]
    Int32s: TypeAlias = npt.NDArray[numpy.int32]
    Int64s: TypeAlias = npt.NDArray[numpy.int64]
    Float32s: TypeAlias = npt.NDArray[numpy.float32]
    Float64s: TypeAlias = npt.NDArray[numpy.float64]

__all__ = [
    "MAX_QUERY_TERMS",
    "SAVE_AFTER",
    "LexicalIndex",
    "TermBatch",
    "query_terms",
    "split_terms",
]

K1 = 1.2
B = 0.75
MIN_IDF = 1e-6  # FTS5's floor for terms in over half the turns: they still match, barely
MAX_QUERY_TERMS = 64
MERGE_POSTINGS = 1 << 16  # tail postings past this are merged into the sorted base
SAVE_AFTER = 10_000  # turns added since the last snapshot before a new one is written
SNAPSHOT_VERSION = 1
_DOC_COLUMNS = ("rowid", "session", "seq", "created", "has_image", "length", "alive")


@dataclass(frozen=True, slots=True)
class TermBatch:
    """Full-text rows as SQLite holds them, column by column, in rowid order.

    ``rowid`` is the ``turns_fts`` rowid; ``terms`` the space-joined bilingual terms.
    Columns, not row objects: a first build reads every turn, and per-row objects
    would cost more than the whole index.
    """

    rowid: Sequence[int]
    session_id: Sequence[str]
    seq: Sequence[int]
    created: Sequence[float]
    has_image: Sequence[int]
    terms: Sequence[str]

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]]) -> TermBatch:
        if not rows:
            return cls((), (), (), (), (), ())
        return cls(*(tuple(column) for column in zip(*rows, strict=True)))

    def __len__(self) -> int:
        return len(self.rowid)


def split_terms(text: str) -> list[str]:
    """Stored or query terms as tokens: split on spaces and case-folded, as FTS5 did."""
    return text.lower().split()


def query_terms(query: str) -> list[str]:
    """The distinct bilingual terms of a query, in order, at most :data:`MAX_QUERY_TERMS`."""
    tokens = chain.from_iterable(split_terms(t) for t in bilingual.terms(query))
    return list(dict.fromkeys(tokens))[:MAX_QUERY_TERMS]


def _np() -> Any:
    from kanjian.memory.blas import numpy

    return numpy()


class _Docs:
    """Per-turn columns in growable arrays (capacity doubles, so appends are amortised)."""

    def __init__(self) -> None:
        np = _np()
        self.n = 0
        self.rowid: Int64s = np.zeros(0, np.int64)
        self.session: Int32s = np.zeros(0, np.int32)
        self.seq: Int64s = np.zeros(0, np.int64)
        self.created: Float64s = np.zeros(0, np.float64)
        self.has_image: Bools = np.zeros(0, np.bool_)
        self.length: Float32s = np.zeros(0, np.float32)
        self.alive: Bools = np.zeros(0, np.bool_)

    def append(self, columns: dict[str, Any]) -> None:
        count = len(columns["rowid"])
        need = self.n + count
        for name, values in columns.items():
            array = getattr(self, name)
            if need > len(array):
                grown = _np().zeros(max(need, 2 * len(array), 1024), array.dtype)
                grown[: self.n] = array[: self.n]
                array = grown
                setattr(self, name, array)
            array[self.n : need] = values
        self.n = need


class LexicalIndex:
    """BM25 over every turn's terms; feed it with :meth:`add` and :meth:`forget`."""

    def __init__(self, merge_postings: int = MERGE_POSTINGS) -> None:
        np = _np()
        self.merge_postings = merge_postings
        self.lock = threading.RLock()
        self.watermark = 0  # highest turns_fts rowid seen
        self.forgotten_id = 0  # last forgotten-log id applied
        self.unsaved = 0  # turns added since the index was built, restored or saved
        self._docs = _Docs()
        self._sessions: dict[str, int] = {}
        self._session_names: list[str] = []
        self._vocab: dict[str, int] = {}
        self._where: dict[tuple[int, int], int] = {}  # see _positions
        self._where_n = 0
        self._live = 0
        self._dead = 0  # forgotten turns whose postings are still in the arrays
        self._total_length = 0.0
        self._norm: Any = None  # BM25 length normalisation per doc, until docs change
        # Base postings, sorted by term: term t owns [_indptr[t], _indptr[t + 1]).
        self._indptr: Int64s = np.zeros(1, np.int64)
        self._post_doc: Int32s = np.zeros(0, np.int32)
        self._post_tf: Float32s = np.zeros(0, np.float32)
        # Tail postings, unsorted: appended by add(), merged into the base past MERGE_POSTINGS.
        self._tail_term: Int32s = np.zeros(0, np.int32)
        self._tail_doc: Int32s = np.zeros(0, np.int32)
        self._tail_tf: Float32s = np.zeros(0, np.float32)

    def __len__(self) -> int:
        return self._live

    # -- keeping in step with SQLite ------------------------------------------------------

    def add(self, rows: TermBatch) -> int:
        """Index rows past the watermark (earlier rowids are known already); returns how many."""
        with self.lock:
            fresh = [i for i, rowid in enumerate(rows.rowid) if rowid > self.watermark]
            if len(fresh) < len(rows):
                rows = TermBatch(*(tuple(col[i] for i in fresh) for col in _columns(rows)))
            if fresh:
                self.watermark = max(rows.rowid)
                self._add_docs(rows)
            return len(fresh)

    def forget(self, sessions: Iterable[str], log_id: int) -> None:
        """Mask out every turn of ``sessions`` (entries of the forgotten log up to ``log_id``).

        SQLite hands the highest rowid out again once its row is deleted, so the watermark
        drops to the highest rowid still alive: a turn written after the forget may reuse
        the rowid of a forgotten one and must not be skipped.
        """
        np = _np()
        with self.lock:
            self.forgotten_id = max(self.forgotten_id, log_id)
            docs, n = self._docs, self._docs.n
            codes = [self._sessions[s] for s in sessions if s in self._sessions]
            gone = np.flatnonzero(np.isin(docs.session[:n], codes) & docs.alive[:n])
            if not len(gone):
                return
            docs.alive[gone] = False
            self._live -= len(gone)
            self._dead += len(gone)
            self._total_length -= float(docs.length[gone].sum())
            self._norm = None
            alive = docs.rowid[:n][docs.alive[:n]]
            self.watermark = min(self.watermark, int(alive.max()) if len(alive) else 0)

    def _add_docs(self, rows: TermBatch) -> None:
        np = _np()
        start = self._docs.n
        tokens = list(map(str.split, map(str.lower, rows.terms)))
        lengths = np.fromiter(map(len, tokens), np.int64, len(rows))
        for name in dict.fromkeys(rows.session_id):
            if name not in self._sessions:
                self._sessions[name] = len(self._session_names)
                self._session_names.append(name)
        self._docs.append(
            {
                "rowid": rows.rowid,
                "session": list(map(self._sessions.__getitem__, rows.session_id)),
                "seq": rows.seq,
                "created": rows.created,
                "has_image": rows.has_image,
                "length": lengths,
                "alive": True,
            }
        )
        self._live += len(rows)
        self.unsaved += len(rows)
        self._total_length += float(lengths.sum())
        self._norm = None
        self._append_postings(tokens, lengths, start)

    def _append_postings(self, tokens: list[list[str]], lengths: Any, start: int) -> None:
        np = _np()
        flat = list(chain.from_iterable(tokens))
        vocab = self._vocab
        for word in dict.fromkeys(flat):  # new words get ids in first-seen order
            vocab.setdefault(word, len(vocab))
        terms = np.fromiter(map(vocab.__getitem__, flat), np.int64, len(flat))
        docs = np.repeat(np.arange(start, start + len(tokens), dtype=np.int64), lengths)
        # One posting per (term, doc) with its count: unique over a combined key.
        stride = self._docs.n + 1
        keys, counts = np.unique(terms * stride + docs, return_counts=True)
        self._tail_term = np.concatenate([self._tail_term, (keys // stride).astype(np.int32)])
        self._tail_doc = np.concatenate([self._tail_doc, (keys % stride).astype(np.int32)])
        self._tail_tf = np.concatenate([self._tail_tf, counts.astype(np.float32)])
        if len(self._tail_term) > self.merge_postings:
            self._merge()

    def _merge(self) -> None:
        """Fold the tail into the sorted base, dropping postings of forgotten turns."""
        np = _np()
        base_term = np.repeat(
            np.arange(len(self._indptr) - 1, dtype=np.int32), np.diff(self._indptr)
        )
        term = np.concatenate([base_term, self._tail_term])
        doc = np.concatenate([self._post_doc, self._tail_doc])
        tf = np.concatenate([self._post_tf, self._tail_tf])
        keep = self._docs.alive[doc]
        term, doc, tf = term[keep], doc[keep], tf[keep]
        order = np.argsort(term, kind="stable")
        self._post_doc, self._post_tf = doc[order], tf[order]
        self._indptr = np.zeros(len(self._vocab) + 1, np.int64)
        np.cumsum(np.bincount(term, minlength=len(self._vocab)), out=self._indptr[1:])
        self._tail_term = self._tail_term[:0]
        self._tail_doc = self._tail_doc[:0]
        self._tail_tf = self._tail_tf[:0]
        self._dead = 0  # no posting of a forgotten turn is left to filter out

    # -- snapshots -------------------------------------------------------------------------

    def last_doc(self) -> tuple[int, str, int] | None:
        """(rowid, session, seq) of the newest live turn: what a snapshot is checked by."""
        np = _np()
        with self.lock:
            docs, n = self._docs, self._docs.n
            live = np.flatnonzero(docs.alive[:n])
            if not len(live):
                return None
            doc = int(live[np.argmax(docs.rowid[live])])
            name = self._session_names[int(docs.session[doc])]
            return int(docs.rowid[doc]), name, int(docs.seq[doc])

    def copy(self) -> LexicalIndex:
        """An independent copy of the index as it is now (a recall snapshot: later adds and
        forgets to either never reach the other)."""
        with self.lock:
            state = {key: value for key, value in vars(self).items() if key != "lock"}
            twin = LexicalIndex.__new__(LexicalIndex)
            vars(twin).update(copy.deepcopy(state))
            twin.lock = threading.RLock()
            return twin

    def save(self, path: Path) -> None:
        """Write the index to ``path`` atomically (another process may be reading it)."""
        np = _np()
        with self.lock:
            self._merge()
            n = self._docs.n
            data = {name: getattr(self._docs, name)[:n] for name in _DOC_COLUMNS}
            data |= {
                "meta": np.array([SNAPSHOT_VERSION, self.watermark, self.forgotten_id], np.int64),
                "indptr": self._indptr,
                "post_doc": self._post_doc,
                "post_tf": np.minimum(self._post_tf, 65535).astype(np.uint16),
                "vocab": _blob(list(self._vocab)),
                "sessions": _blob(self._session_names),
            }
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            try:
                with open(tmp, "wb") as fh:
                    np.savez(fh, **data)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            self.unsaved = 0

    @classmethod
    def restore(cls, path: Path) -> LexicalIndex | None:
        """The index saved at ``path``, or None when there is none or it cannot be read."""
        np = _np()
        try:
            with np.load(path) as data:
                meta = data["meta"].tolist()
                if meta[0] != SNAPSHOT_VERSION:
                    return None
                index = cls()
                index._load(data, meta)
                return index
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None  # a cache: unreadable means rebuild, never an error

    def _load(self, data: Any, meta: list[int]) -> None:
        np = _np()
        self.watermark, self.forgotten_id = meta[1], meta[2]
        for name in _DOC_COLUMNS:
            setattr(self._docs, name, data[name])
        docs = self._docs
        docs.n = len(docs.rowid)
        self._where, self._where_n = {}, 0
        self._indptr, self._post_doc = data["indptr"], data["post_doc"]
        self._post_tf = data["post_tf"].astype(np.float32)
        words: list[str] = json.loads(data["vocab"].tobytes())
        self._vocab = dict(zip(words, range(len(words)), strict=True))
        self._session_names = json.loads(data["sessions"].tobytes())
        self._sessions = {name: i for i, name in enumerate(self._session_names)}
        alive = docs.alive[: docs.n]
        self._live = int(alive.sum())  # snapshots are saved merged: no dead postings
        self._total_length = float(docs.length[: docs.n][alive].sum())
        if len(self._indptr) != len(words) + 1 or len(self._post_doc) != self._indptr[-1]:
            raise ValueError("inconsistent lexical snapshot")

    # -- search ---------------------------------------------------------------------------

    def search(
        self, terms: Sequence[str], k: int, filters: Filters
    ) -> list[tuple[str, int, float]]:
        """The ``k`` best turns for ``terms`` by BM25: (session, seq, score), best first."""
        np = _np()
        with self.lock:
            if self._total_length <= 0 or k < 1:  # no turns, or none with a single term
                return []
            weighted = [(self._idf(len(doc)), doc, tf) for doc, tf in self._matches(terms)]
            mask = self._filter_mask(filters)
            # Terms in over half the turns add at most ~1e-6: score the rest first, and only
            # if they leave fewer than k turns, the common ones (they then rank last, as in
            # FTS5), instead of touching half the store for every such term.
            scores = self._scores([w for w in weighted if w[0] > MIN_IDF], mask)
            if np.count_nonzero(scores) < k:
                scores = self._scores(weighted, mask)
            return self._top(scores, k)

    def doc_freq(self, terms: Iterable[str]) -> dict[str, int]:
        """How many live turns contain each term (0 for a term no turn has)."""
        with self.lock:
            out: dict[str, int] = {}
            for term in terms:
                tid = self._vocab.get(term)
                out[term] = 0 if tid is None else len(self._postings(tid)[0])
            return out

    def terms_in(
        self, terms: Iterable[str], keys: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], set[str]]:
        """Which of ``terms`` each turn of ``keys`` contains (from the postings, no text).

        The recall gate calls this for every new conversation, so its cost follows the
        candidates and the terms, not the store: turns are found through
        :meth:`_positions` and each term's postings are binary-searched.
        """
        np = _np()
        with self.lock:
            where, alive = self._positions(), self._docs.alive
            positions: dict[int, tuple[str, int]] = {}
            for sid, seq in keys:
                pos = where.get((self._sessions.get(sid, -1), seq))
                if pos is not None and alive[pos]:
                    positions[pos] = (sid, seq)
            out: dict[tuple[str, int], set[str]] = {key: set() for key in positions.values()}
            wanted = np.fromiter(sorted(positions), np.int64, len(positions))
            for term in set(terms):
                tid = self._vocab.get(term)
                if tid is None or not len(wanted):
                    continue
                # A term's postings are in position order: the base is sorted by term with
                # a stable sort of position-ordered postings, and the tail only appends.
                docs = self._postings(tid)[0]
                at = np.minimum(np.searchsorted(docs, wanted), len(docs) - 1)
                for pos in wanted[docs[at] == wanted].tolist() if len(docs) else []:
                    out[positions[pos]].add(term)
            return out

    def _positions(self) -> dict[tuple[int, int], int]:
        """(session code, seq) -> the turn's latest position, extended over new appends."""
        docs = self._docs
        if self._where_n < docs.n:
            pairs = zip(docs.session[self._where_n : docs.n].tolist(), docs.seq[self._where_n : docs.n].tolist(), strict=True)  # fmt: skip
            self._where.update(zip(pairs, range(self._where_n, docs.n), strict=True))
            self._where_n = docs.n
        return self._where

    def _matches(self, terms: Sequence[str]) -> list[tuple[Any, Any]]:
        out = []
        for term in dict.fromkeys(terms):
            tid = self._vocab.get(term)
            if tid is not None:
                doc, tf = self._postings(tid)
                if len(doc):
                    out.append((doc, tf))
        return out

    def _scores(self, weighted: Sequence[tuple[float, Any, Any]], mask: Any) -> Any:
        np = _np()
        docs = self._docs
        if self._norm is None:
            avg = self._total_length / self._live
            self._norm = K1 * (1 - B + B * docs.length[: docs.n] / avg)
        scores = np.zeros(docs.n, np.float32)
        for idf, doc, tf in weighted:
            scores[doc] += idf * tf * (K1 + 1) / (tf + self._norm[doc])
        if mask is not None:
            scores *= mask
        return scores

    def _postings(self, tid: int) -> tuple[Any, Any]:
        np = _np()
        doc, tf = self._post_doc[0:0], self._post_tf[0:0]
        if tid + 1 < len(self._indptr):
            lo, hi = self._indptr[tid], self._indptr[tid + 1]
            doc, tf = self._post_doc[lo:hi], self._post_tf[lo:hi]
        if len(self._tail_term):
            in_tail = self._tail_term == tid
            if in_tail.any():
                doc = np.concatenate([doc, self._tail_doc[in_tail]])
                tf = np.concatenate([tf, self._tail_tf[in_tail]])
        if self._dead:  # forgotten turns count neither in df nor in scores
            keep = self._docs.alive[doc]
            doc, tf = doc[keep], tf[keep]
        return doc, tf

    def _idf(self, df: int) -> float:
        return max(math.log((self._live - df + 0.5) / (df + 0.5)), MIN_IDF)

    def _filter_mask(self, filters: Filters) -> Any:
        docs, n = self._docs, self._docs.n
        mask = None
        if filters.session is not None:
            code = self._sessions.get(filters.session, -1)
            mask = docs.session[:n] == code
        if filters.since is not None:
            mask = _and(mask, docs.created[:n] >= filters.since)
        if filters.until is not None:
            mask = _and(mask, docs.created[:n] < filters.until)
        if filters.has_image is not None:
            mask = _and(mask, docs.has_image[:n] == filters.has_image)
        return mask

    def _top(self, scores: Any, k: int) -> list[tuple[str, int, float]]:
        np = _np()
        found = np.flatnonzero(scores)
        if len(found) > k:
            found = found[np.argpartition(-scores[found], k - 1)[:k]]
        # Best score first; among equal scores the newer turn first.
        order = np.lexsort((-found, -scores[found]))
        found = found[order]
        names, sessions = self._session_names, self._docs.session[found].tolist()
        seqs, values = self._docs.seq[found].tolist(), scores[found].tolist()
        return [(names[c], q, v) for c, q, v in zip(sessions, seqs, values, strict=True)]


def _blob(items: list[str]) -> Any:
    return _np().frombuffer(json.dumps(items, ensure_ascii=False).encode(), _np().uint8)


def _columns(rows: TermBatch) -> tuple[Sequence[Any], ...]:
    return (rows.rowid, rows.session_id, rows.seq, rows.created, rows.has_image, rows.terms)


def _and(mask: Any, other: Any) -> Any:
    return other if mask is None else mask & other
