"""The vector mirror: every turn's vector in one NumPy matrix, so recall needs no chromadb.

Importing chromadb and opening its client took over a second of every ``kanjian ask``
with memory on, more than the whole question costs. Recall (and hybrid search on a store
of up to :data:`MIRROR_MAX_TURNS` turns) therefore reads the turn vectors from here:

- SQLite holds them (``turn_vectors``: one row per turn and embedder, float32 bytes, an
  AUTOINCREMENT id; a foreign key deletes them with their turn), so they are written and
  read in the same transactions as the turns and can never disagree with them;
- :class:`VectorMirror` holds them in memory as a matrix; a query is one matrix-vector
  product (exact cosine, no HNSW approximation): about a millisecond at 10,000 turns;
- like the lexical index, it syncs from SQLite before each use (rows past its watermark,
  sessions in the ``forgotten`` log), and once enough rows were added since the last
  snapshot it saves one beside the database: the matrix as a ``.npy`` file that the next
  process memory-maps, and a small JSON file naming it, with the keys. The snapshot is only
  a cache: a missing one is rebuilt from SQLite, and so is a corrupt one (with a warning).

Turns are embedded lazily (:meth:`kanjian.memory.core.MemoryCore.mirror`): remembering a
turn writes SQLite only, and the next recall or search embeds what has no vector yet.
chromadb stays the index for ``memory search``, for stores past :data:`MIRROR_MAX_TURNS`
and for a Chroma server (``memory.url``); it is caught up from these vectors, not by
embedding again.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kanjian.memory.store import Store

__all__ = [
    "MIRROR_MAX_TURNS",
    "SAVE_AFTER",
    "VectorMirror",
    "count_missing",
    "drop",
    "fetch",
    "missing_keys",
    "newest_missing",
    "put",
    "remove_snapshot",
    "snapshot_paths",
    "sync",
    "valid_for",
]

# Past this many turns the matrix-vector product (4 bytes x dim read per turn: 77 MB for
# MiniLM at 50,000 turns, ~10 ms) costs more than opening chromadb and its HNSW search.
MIRROR_MAX_TURNS = 50_000
SAVE_AFTER = 1_000  # rows added since the last snapshot before a new one is written
SNAPSHOT_VERSION = 1
log = logging.getLogger("kanjian")

Key = tuple[str, int]


def _np() -> Any:
    from kanjian.memory.blas import numpy

    return numpy()


def snapshot_paths(db: Path, space: str) -> Path:
    """The JSON file that names the snapshot matrix of vector space ``space``."""
    return db.with_name(f"{db.name}.vectors.{space}.json")


class VectorMirror:
    """Unit vectors of one embedder, by turn; fed with :meth:`add` and :meth:`forget`."""

    def __init__(self, space: str, dim: int) -> None:
        np = _np()
        self.space = space
        self.dim = dim
        self.lock = threading.RLock()
        self.watermark = 0  # highest turn_vectors id seen
        self.forgotten_id = 0  # last forgotten-log id applied
        self.unsaved = 0
        self.n = 0
        self._matrix: Any = np.zeros((0, dim), np.float32)
        self._alive: Any = np.zeros(0, np.bool_)
        self._created: Any = np.zeros(0, np.float64)  # the turn's time, for ``until``
        self._keys: list[Key] = []
        self._pos: dict[Key, int] = {}
        self._newest: Key | None = None  # when restored: the key of the snapshot's newest row

    def __len__(self) -> int:
        return len(self._pos)

    # -- keeping in step with SQLite ------------------------------------------------------

    def add(self, rows: Sequence[tuple[int, str, int, bytes, float]]) -> None:
        """Rows ``(id, session, seq, float32 bytes, created)`` past the watermark; a key seen
        again (the turn re-embedded) replaces its older vector."""
        np = _np()
        with self.lock:
            rows = [r for r in rows if r[0] > self.watermark]
            if not rows:
                return
            vectors = np.frombuffer(b"".join(r[3] for r in rows), np.float32)
            vectors = vectors.reshape(len(rows), self.dim)
            self._grow(self.n + len(rows))
            self._matrix[self.n : self.n + len(rows)] = vectors
            self._alive[self.n : self.n + len(rows)] = True
            self._created[self.n : self.n + len(rows)] = [r[4] for r in rows]
            for i, (_, sid, seq, _, _) in enumerate(rows):
                key = (sid, int(seq))
                old = self._pos.get(key)
                if old is not None:
                    self._alive[old] = False
                self._pos[key] = self.n + i
                self._keys.append(key)
            self.n += len(rows)
            self.watermark = max(r[0] for r in rows)
            self.unsaved += len(rows)

    def _grow(self, need: int) -> None:
        np = _np()
        if need <= len(self._matrix) and self._matrix.flags.writeable:
            return
        size = max(need, 2 * len(self._matrix), 256)
        matrix = np.zeros((size, self.dim), np.float32)
        matrix[: self.n] = self._matrix[: self.n]  # a memory-mapped snapshot is copied once
        alive = np.zeros(size, np.bool_)
        alive[: self.n] = self._alive[: self.n]
        created = np.zeros(size, np.float64)
        created[: self.n] = self._created[: self.n]
        self._matrix, self._alive, self._created = matrix, alive, created

    def forget(self, sessions: Iterable[str], log_id: int) -> None:
        with self.lock:
            self.forgotten_id = max(self.forgotten_id, log_id)
            gone = set(sessions)
            for key in [k for k in self._pos if k[0] in gone]:
                self._alive[self._pos.pop(key)] = False

    # -- queries --------------------------------------------------------------------------

    def top(
        self,
        vector: Sequence[float],
        k: int,
        exclude: str | None = None,
        until: float | None = None,
        since: float | None = None,
    ) -> list[tuple[str, int, float]]:
        """The ``k`` most similar turns (made from ``since`` and before ``until``, not in
        session ``exclude``): (session, seq, cosine), best first."""
        np = _np()
        with self.lock:
            if not self._pos or k < 1:
                return []
            scores = self._matrix[: self.n] @ np.asarray(vector, np.float32)
            if len(self._pos) < self.n:  # rows replaced or forgotten
                scores[~self._alive[: self.n]] = -np.inf
            live = len(self._pos)
            if exclude is not None:
                for key, pos in self._pos.items():
                    if key[0] == exclude:
                        scores[pos] = -np.inf
                        live -= 1
            if until is not None:
                scores[self._created[: self.n] >= until] = -np.inf
            if since is not None:
                scores[self._created[: self.n] < since] = -np.inf
            if until is not None or since is not None:
                live = int(np.isfinite(scores).sum())
            live = min(k, live)
            if live < 1:
                return []
            found = np.argpartition(-scores, live - 1)[:live]
            found = found[np.argsort(-scores[found], kind="stable")]
            return [(*self._keys[i], float(scores[i])) for i in found.tolist()]

    def similarities(self, vector: Sequence[float], keys: Sequence[Key]) -> dict[Key, float]:
        """Cosine of ``vector`` to each turn of ``keys`` that has a vector."""
        np = _np()
        with self.lock:
            known = [(key, self._pos[key]) for key in keys if key in self._pos]
            if not known:
                return {}
            rows = self._matrix[[pos for _, pos in known]]
            scores = rows @ np.asarray(vector, np.float32)
            return {key: float(s) for (key, _), s in zip(known, scores.tolist(), strict=True)}

    def vectors(self, keys: Sequence[Key]) -> dict[Key, list[float]]:
        with self.lock:
            return {k: self._matrix[self._pos[k]].tolist() for k in keys if k in self._pos}

    # -- snapshots ------------------------------------------------------------------------

    def newest(self) -> tuple[int, Key] | None:
        """(id, key) of the newest row: a snapshot is checked against SQLite by it."""
        with self.lock:
            if not self.n:
                return None
            return self.watermark, self._keys[self.n - 1]

    def save(self, db: Path) -> None:
        """Write the live rows beside ``db`` atomically; another process may be reading."""
        np = _np()
        with self.lock:
            live = sorted(self._pos.values())
            pointer = snapshot_paths(db, self.space)
            try:
                old = _read_pointer(pointer)
            except ValueError:  # a damaged one is simply replaced
                old = None
            name = f"{db.name}.vectors.{self.space}.{secrets.token_hex(4)}.npy"
            np.save(db.with_name(name), np.ascontiguousarray(self._matrix[live]))
            meta = {
                "version": SNAPSHOT_VERSION, "space": self.space, "dim": self.dim,
                "matrix": name, "watermark": self.watermark, "forgotten": self.forgotten_id,
                "newest": [self._keys[self.n - 1][0], self._keys[self.n - 1][1]],
                "keys": [list(self._keys[i]) for i in live],
                "created": self._created[live].tolist(),
            }  # fmt: skip
            tmp = pointer.with_name(f"{pointer.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, pointer)
            # Readers that mapped the old matrix keep it until they close it (POSIX).
            if old and old.get("matrix") not in (None, name):
                db.with_name(str(old["matrix"])).unlink(missing_ok=True)
            self.unsaved = 0

    @classmethod
    def restore(cls, db: Path, space: str, dim: int) -> VectorMirror | None:
        """The snapshot beside ``db``; None when there is none (or, with a warning, when it
        cannot be read: the caller rebuilds from SQLite)."""
        np = _np()
        pointer = snapshot_paths(db, space)
        if not pointer.exists():
            return None
        try:
            meta = _read_pointer(pointer)
            if meta is None or meta.get("version") != SNAPSHOT_VERSION:
                raise ValueError("unknown format")
            matrix = np.load(db.with_name(str(meta["matrix"])), mmap_mode="r")
            keys = [(str(s), int(q)) for s, q in meta["keys"]]
            if matrix.dtype != np.float32 or matrix.shape != (len(keys), dim):
                raise ValueError(f"matrix {matrix.shape} for {len(keys)} keys of dim {dim}")
            mirror = cls(space, dim)
            mirror._matrix, mirror._keys, mirror.n = matrix, keys, len(keys)
            mirror._alive = np.ones(len(keys), np.bool_)
            mirror._created = np.asarray(meta["created"], np.float64)
            if len(mirror._created) != len(keys):
                raise ValueError(f"{len(mirror._created)} times for {len(keys)} keys")
            mirror._pos = {key: i for i, key in enumerate(keys)}
            mirror.watermark, mirror.forgotten_id = int(meta["watermark"]), int(meta["forgotten"])
            newest = meta["newest"]
            mirror._newest = (str(newest[0]), int(newest[1]))
            return mirror
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning(
                "kanjian: warning: the vector mirror %s is unreadable (%s); rebuilding it "
                "from the memory database.", pointer, exc,
            )  # fmt: skip
            return None

    def restored_newest(self) -> tuple[int, Key] | None:
        if self._newest is None:
            return self.newest()
        return self.watermark, self._newest


def _read_pointer(pointer: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(pointer.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"unreadable {pointer.name}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{pointer.name} is not an object")
    return data


# -- SQLite side -------------------------------------------------------------------------


def sync(store: Store, mirror: VectorMirror) -> None:
    """Bring ``mirror`` up to date with ``store`` (forgets, then new rows) in one snapshot."""

    def read(conn: Any) -> tuple[list[Any], list[Any]]:
        forgotten = conn.execute(
            "SELECT id, session_id FROM forgotten WHERE id > ? ORDER BY id", (mirror.forgotten_id,)
        ).fetchall()
        rows = conn.execute(
            "SELECT v.id, v.session_id, v.seq, v.vector, t.created FROM turn_vectors v "
            "JOIN turns t ON t.session_id = v.session_id AND t.seq = v.seq "
            "WHERE v.space = ? AND v.id > ? ORDER BY v.id",
            (mirror.space, mirror.watermark),
        ).fetchall()
        return forgotten, rows

    forgotten, rows = store.read_snapshot(read)
    if forgotten:
        mirror.forget([sid for _, sid in forgotten], int(forgotten[-1][0]))
    mirror.add([(int(i), str(s), int(q), bytes(v), float(c)) for i, s, q, v, c in rows])


def valid_for(store: Store, mirror: VectorMirror) -> bool:
    """Whether a restored snapshot belongs to this database as it is now."""
    newest = mirror.restored_newest()
    if newest is None:
        return True
    found = store.read(
        "SELECT session_id, seq FROM turn_vectors WHERE id = ? AND space = ?",
        (newest[0], mirror.space),
    )
    if found:
        return (str(found[0][0]), int(found[0][1])) == newest[1]
    # Deleted: by a forget (the log says so; before or after the snapshot was saved) or by
    # a reindex (start afresh).
    gone = store.read("SELECT 1 FROM forgotten WHERE session_id = ? LIMIT 1", (newest[1][0],))
    return bool(gone)


def count_missing(store: Store, space: str) -> tuple[int, int]:
    """(turns without a vector in ``space``, all turns): two counts, cheap on every query."""
    turns = int(store.read("SELECT COUNT(*) FROM turns")[0][0])
    have = int(store.read("SELECT COUNT(*) FROM turn_vectors WHERE space = ?", (space,))[0][0])
    return max(turns - have, 0), turns


def newest_missing(store: Store, space: str) -> bool:
    """Whether a turn is newer than the newest one with a vector (two index probes).

    Turns are embedded in rowid order and :func:`count_missing` fills any gap once per
    process, so after that a turn without a vector is always a newer one. A forgotten
    newest turn takes its vector with it, so a new turn reusing its rowid is still seen.
    """
    top = store.read("SELECT MAX(rowid) FROM turns")[0][0]
    have = store.read("SELECT MAX(turn_rowid) FROM turn_vectors WHERE space = ?", (space,))
    return top is not None and (have[0][0] is None or int(top) > int(have[0][0]))


def missing_keys(store: Store, space: str, limit: int) -> list[Key]:
    rows = store.read(
        "SELECT t.session_id, t.seq FROM turns t WHERE NOT EXISTS (SELECT 1 FROM turn_vectors v "
        "WHERE v.space = ? AND v.session_id = t.session_id AND v.seq = t.seq) "
        "ORDER BY t.rowid LIMIT ?",
        (space, limit),
    )
    return [(str(s), int(q)) for s, q in rows]


def put(store: Store, space: str, vectors: Mapping[Key, Sequence[float]]) -> None:
    """Store vectors (a turn forgotten meanwhile is skipped; a re-embedded one replaced)."""
    np = _np()
    rows = [
        (space, sid, seq, np.asarray(vec, np.float32).tobytes())
        for (sid, seq), vec in vectors.items()
    ]

    def write(conn: Any) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO turn_vectors (space, session_id, seq, vector, turn_rowid) "
            "SELECT ?, ?, ?, ?, rowid FROM turns WHERE session_id = ?2 AND seq = ?3",
            rows,
        )

    store.write(write)


def fetch(store: Store, space: str, keys: Sequence[Key]) -> dict[Key, list[float]]:
    """The stored vectors of ``keys`` (a key with none is left out)."""
    np = _np()
    out: dict[Key, list[float]] = {}
    for sid, seq in keys:
        rows = store.read(
            "SELECT vector FROM turn_vectors WHERE space = ? AND session_id = ? AND seq = ?",
            (space, sid, seq),
        )
        if rows:
            out[(sid, seq)] = np.frombuffer(bytes(rows[0][0]), np.float32).tolist()
    return out


def remove_snapshot(db: Path, space: str) -> None:
    pointer = snapshot_paths(db, space)
    try:
        meta = _read_pointer(pointer)
    except ValueError:
        meta = None
    pointer.unlink(missing_ok=True)
    if meta and isinstance(meta.get("matrix"), str):
        db.with_name(meta["matrix"]).unlink(missing_ok=True)


def drop(store: Store, space: str) -> None:
    store.write(lambda c: c.execute("DELETE FROM turn_vectors WHERE space = ?", (space,)))
