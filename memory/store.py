"""The SQLite store: sessions, turns, image rows and the bilingual full-text index.

SQLite is the source of truth; the vector index can always be rebuilt from it. The
database runs in WAL mode with a busy timeout, so several processes can use one store at
once (readers never block, writers queue). Every turn is written in one transaction with
its image references and its full-text row, so a process killed mid-write leaves either
the whole turn or nothing.

Lexical search reads the full-text rows into :class:`memory.lexical.LexicalIndex` on first
use and, before every query, brings it up to date with what any process has written
since (rows past its watermark, sessions in the ``forgotten`` log) in one read snapshot.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kanjian.memory import bilingual
from kanjian.memory.errors import MemoryInputError, SessionNotFound, StorageError
from kanjian.memory.images import ImageInfo
from kanjian.memory.lexical import SAVE_AFTER, LexicalIndex, TermBatch, query_terms
from kanjian.memory.migrations import migrate
from kanjian.memory.records import SessionRecord, StoredImageRef, TurnRecord

__all__ = ["Filters", "Store"]

BUSY_TIMEOUT_MS = 30_000
_TURN_COLUMNS = (
    "session_id, seq, role, question, answer, images, steps, usage, transcript, "
    "ocr_text, labels, created"
)


@dataclass(frozen=True, slots=True)
class Filters:
    """Which turns a search may return (all None: every turn)."""

    session: str | None = None
    since: float | None = None
    until: float | None = None
    has_image: bool | None = None

    def sql(self, alias: str = "t") -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if self.session is not None:
            clauses.append(f"{alias}.session_id = ?")
            args.append(self.session)
        if self.since is not None:
            clauses.append(f"{alias}.created >= ?")
            args.append(self.since)
        if self.until is not None:
            clauses.append(f"{alias}.created < ?")
            args.append(self.until)
        if self.has_image is not None:
            clauses.append(f"{alias}.has_image = ?")
            args.append(int(self.has_image))
        return " AND ".join(clauses) or "1", args


def index_terms(question: str, answer: str, ocr_text: str, labels: Sequence[str]) -> str:
    return " ".join(bilingual.terms("\n".join([question, answer, ocr_text, *labels])))


class Store:
    """One SQLite connection to ``memory/kanjian.db``; safe to share between threads."""

    lexical_save_after = SAVE_AFTER  # turns added before the lexical snapshot is rewritten

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._lexical: LexicalIndex | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = _open(path)
        except (sqlite3.Error, OSError) as exc:  # OSError: a read-only KANJIAN_HOME
            raise StorageError(
                f"Cannot open the memory database '{path}': {exc}; check the file and its "
                "folder's permissions, or move it aside to start afresh."
            ) from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- transactions -------------------------------------------------------------------

    def _write(self, sql_fn: Any, *args: Any) -> Any:
        """Run ``sql_fn(conn, *args)`` in one IMMEDIATE transaction."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    result = sql_fn(self._conn, *args)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StorageError(f"The memory database '{self.path}' failed: {exc}.") from exc
            return result

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                cur = self._conn.execute(sql, args)
                return list(cur.fetchall())
            except sqlite3.Error as exc:
                raise StorageError(f"The memory database '{self.path}' failed: {exc}.") from exc

    # The vector mirror (memory.mirror) keeps its own SQL; it runs it through these.
    read = _read
    write = _write

    def read_snapshot(self, fn: Any) -> Any:
        """``fn(conn)`` inside one read transaction: what it reads is one snapshot."""
        with self._lock:
            try:
                self._conn.execute("BEGIN")
                try:
                    return fn(self._conn)
                finally:
                    self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StorageError(f"The memory database '{self.path}' failed: {exc}.") from exc

    # -- sessions -----------------------------------------------------------------------

    def create_session(self, session_id: str | None = None, title: str = "") -> SessionRecord:
        sid = session_id or secrets.token_hex(6)
        now = time.time()

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO sessions (id, title, created, updated) VALUES (?,?,?,?)",
                (sid, title, now, now),
            )

        self._write(insert)
        return self.session(sid, with_turns=False)

    def session(self, session_id: str, *, with_turns: bool = True) -> SessionRecord:
        rows = self._read(
            "SELECT id, title, created, updated, "
            "(SELECT COUNT(*) FROM turns WHERE session_id = s.id) FROM sessions s WHERE id = ?",
            (session_id,),
        )
        if not rows:
            raise SessionNotFound(
                f"No stored session {session_id!r}; run 'kanjian memory list' to see the ids."
            )
        sid, title, created, updated, count = rows[0]
        turns = tuple(self.turns(sid)) if with_turns else ()
        return SessionRecord(sid, title, created, updated, count, turns)

    def sessions(self, limit: int = 50, offset: int = 0) -> list[SessionRecord]:
        rows = self._read(
            "SELECT id, title, created, updated, "
            "(SELECT COUNT(*) FROM turns WHERE session_id = s.id) FROM sessions s "
            "ORDER BY updated DESC, id LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [SessionRecord(*row) for row in rows]

    def set_title(self, session_id: str, title: str) -> None:
        self.session(session_id, with_turns=False)
        self._write(
            lambda c: c.execute("UPDATE sessions SET title=? WHERE id=?", (title, session_id))
        )

    def delete_session(self, session_id: str) -> list[tuple[str, str]]:
        """Delete a session and its turns; returns the (sha256, ext) images now unused."""
        self.session(session_id, with_turns=False)

        def delete(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            used = [r[0] for r in conn.execute(
                "SELECT DISTINCT sha256 FROM turn_images WHERE session_id = ?", (session_id,)
            )]  # fmt: skip
            conn.execute("DELETE FROM turns_fts WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM turn_images WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM turns WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            conn.execute(
                "INSERT INTO forgotten (session_id, at) VALUES (?, ?)", (session_id, time.time())
            )
            orphans: list[tuple[str, str]] = []
            for sha in used:
                if conn.execute("SELECT 1 FROM turn_images WHERE sha256=?", (sha,)).fetchone():
                    continue
                row = conn.execute("SELECT ext FROM images WHERE sha256=?", (sha,)).fetchone()
                conn.execute("DELETE FROM images WHERE sha256 = ?", (sha,))
                if row:
                    orphans.append((sha, row[0]))
            return orphans

        result: list[tuple[str, str]] = self._write(delete)
        return result

    # -- turns --------------------------------------------------------------------------

    def add_turn(
        self,
        session_id: str,
        question: str,
        answer: str,
        *,
        images: Sequence[StoredImageRef] = (),
        steps: Sequence[dict[str, Any]] = (),
        usage: dict[str, Any] | None = None,
        transcript: Sequence[dict[str, Any]] = (),
        ocr_text: str = "",
        labels: Sequence[str] = (),
        role: str = "user",
        created: float | None = None,
        title: str | None = None,
    ) -> TurnRecord:
        """Append a turn to a session, with its image refs and full-text row, atomically.

        With ``title`` the session is created too if it is missing, in the same transaction:
        a process killed in between never leaves a session with no turns.
        """
        if title is None:
            self.session(session_id, with_turns=False)
        when = time.time() if created is None else created
        terms = index_terms(question, answer, ocr_text, labels)

        def insert(conn: sqlite3.Connection) -> int:
            if title is not None:
                conn.execute(
                    "INSERT OR IGNORE INTO sessions (id, title, created, updated) VALUES (?,?,?,?)",
                    (session_id, title, when, when),
                )
            seq = int(conn.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM turns WHERE session_id = ?", (session_id,)
            ).fetchone()[0])  # fmt: skip
            conn.execute(
                f"INSERT INTO turns ({_TURN_COLUMNS}, has_image) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    session_id, seq, role, question, answer,
                    _dumps([r.as_dict() for r in images]), _dumps(list(steps)),
                    _dumps(usage or {}), _dumps(list(transcript)), ocr_text,
                    _dumps(list(labels)), when, int(bool(images)),
                ),
            )  # fmt: skip
            for ref in images:
                conn.execute(
                    "INSERT INTO turn_images (session_id, seq, sha256, name, origin) "
                    "VALUES (?,?,?,?,?)",
                    (session_id, seq, ref.sha256, ref.name, ref.origin),
                )
            conn.execute(
                "INSERT INTO turns_fts (terms, session_id, seq) VALUES (?,?,?)",
                (terms, session_id, seq),
            )
            conn.execute("UPDATE sessions SET updated = ? WHERE id = ?", (when, session_id))
            return seq

        try:
            seq: int = self._write(insert)
        except StorageError as exc:
            if "FOREIGN KEY" in str(exc):
                raise MemoryInputError(
                    f"Turn refers to an image that is not stored ({[r.sha256[:12] for r in images]!r}); "
                    "store it with put_image first."
                ) from exc
            raise
        return TurnRecord(
            session_id, seq, question, answer, when, tuple(images), tuple(steps),
            dict(usage or {}), tuple(transcript), ocr_text, tuple(labels), role,
        )  # fmt: skip

    def turns(self, session_id: str) -> list[TurnRecord]:
        rows = self._read(
            f"SELECT {_TURN_COLUMNS} FROM turns WHERE session_id = ? ORDER BY seq", (session_id,)
        )
        return [_turn(row) for row in rows]

    def turns_by_key(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], TurnRecord]:
        """The turns of ``keys`` that exist, in one query."""
        if not keys:
            return {}
        found: dict[tuple[str, int], TurnRecord] = {}
        for start in range(0, len(keys), 100):
            part = keys[start : start + 100]
            # OR of key lookups, not a row-value IN: SQLite scans the table for that one.
            where = " OR ".join("(session_id = ? AND seq = ?)" for _ in part)
            rows = self._read(
                f"SELECT {_TURN_COLUMNS} FROM turns WHERE {where}", [v for key in part for v in key]
            )
            for row in rows:
                turn = _turn(row)
                found[turn.key_tuple] = turn
        return {key: found[key] for key in keys if key in found}

    def iter_turns(self, *, unindexed_only: bool = False, batch: int = 256) -> Iterator[TurnRecord]:
        """Every turn (or those not yet in the vector index), in insertion order, in batches."""
        where = "WHERE indexed = 0" if unindexed_only else ""
        last = -1
        while True:
            rows = self._read(
                f"SELECT rowid, {_TURN_COLUMNS} FROM turns {where} "
                f"{'AND' if where else 'WHERE'} rowid > ? ORDER BY rowid LIMIT ?",
                (last, batch),
            )
            if not rows:
                return
            last = rows[-1][0]
            yield from (_turn(row[1:]) for row in rows)

    def mark_indexed(self, keys: Sequence[tuple[str, int]], value: bool = True) -> None:
        def update(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE turns SET indexed = ? WHERE session_id = ? AND seq = ?",
                [(int(value), sid, seq) for sid, seq in keys],
            )

        self._write(update)

    def has_unindexed(self) -> bool:
        return bool(self._read("SELECT 1 FROM turns WHERE indexed = 0 LIMIT 1"))

    def mark_all_unindexed(self) -> None:
        self._write(lambda c: c.execute("UPDATE turns SET indexed = 0"))

    def lexical(self, query: str, k: int, filters: Filters) -> list[tuple[str, int, float]]:
        """Turns matching the bilingual terms of ``query``, best first, with BM25 scores."""
        terms = query_terms(query)
        if not terms:
            return []
        index = self.lexical_index()
        return index.search(terms, k, filters)

    @property
    def lexical_snapshot(self) -> Path:
        return self.path.with_name(self.path.name + ".lexical.npz")

    def lexical_index(self) -> LexicalIndex:
        """The in-memory lexical index, restored or built on first use, synced each call."""
        with self._lock:
            if self._lexical is None:
                self._lexical = self._restore_lexical() or LexicalIndex()
            index = self._lexical
        with index.lock:
            self._sync_lexical(index)
            if index.unsaved >= self.lexical_save_after:
                with contextlib.suppress(OSError):  # a cache: the next process rebuilds
                    index.save(self.lexical_snapshot)
        return index

    def _restore_lexical(self) -> LexicalIndex | None:
        """The saved index if it belongs to this database as it is now, else None."""
        index = LexicalIndex.restore(self.lexical_snapshot)
        if index is None:
            return None
        # Forgets since the snapshot first: its newest turn may be among them.
        self._forget_lexical(index)
        newest = index.last_doc()
        if newest is not None:
            row = self._read("SELECT session_id, seq FROM turns_fts WHERE rowid = ?", (newest[0],))
            if not row or (row[0][0], int(row[0][1])) != newest[1:]:
                return None  # a snapshot of another database (moved aside, restored)
        return index

    def _forget_lexical(self, index: LexicalIndex) -> None:
        forgotten = self._read(
            "SELECT id, session_id FROM forgotten WHERE id > ? ORDER BY id", (index.forgotten_id,)
        )
        if forgotten:
            index.forget([sid for _, sid in forgotten], int(forgotten[-1][0]))

    def _sync_lexical(self, index: LexicalIndex) -> None:
        # One read transaction: the forgotten log and the new rows come from one snapshot,
        # and forgetting first lowers the watermark past rowids SQLite may have reused.
        with self._lock:
            try:
                self._conn.execute("BEGIN")
                try:
                    self._forget_lexical(index)
                    rows = self._conn.execute(
                        "SELECT f.rowid, f.session_id, f.seq, t.created, t.has_image, f.terms "
                        "FROM turns_fts f JOIN turns t ON t.session_id = f.session_id "
                        "AND t.seq = f.seq WHERE f.rowid > ? ORDER BY f.rowid",
                        (index.watermark,),
                    ).fetchall()
                finally:
                    self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StorageError(f"The memory database '{self.path}' failed: {exc}.") from exc
        if rows:
            index.add(TermBatch.from_rows(rows))

    # -- images -------------------------------------------------------------------------

    def add_image(self, info: ImageInfo) -> None:
        self._write(lambda c: c.execute(
            "INSERT OR IGNORE INTO images (sha256, ext, width, height, size, created) "
            "VALUES (?,?,?,?,?,?)",
            (info.sha256, info.ext, info.width, info.height, info.size, time.time()),
        ))  # fmt: skip

    def image(self, sha256: str) -> ImageInfo | None:
        rows = self._read(
            "SELECT sha256, ext, width, height, size FROM images WHERE sha256 = ?", (sha256,)
        )
        return ImageInfo(*rows[0]) if rows else None

    def image_refs(self, sha256: str) -> int:
        return int(self._read("SELECT COUNT(*) FROM turn_images WHERE sha256 = ?", (sha256,))[0][0])

    # -- health -------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        names = ("sessions", "turns", "images", "turns_fts")
        out = {n: int(self._read(f"SELECT COUNT(*) FROM {n}")[0][0]) for n in names}
        out["unindexed"] = int(self._read("SELECT COUNT(*) FROM turns WHERE indexed = 0")[0][0])
        return out

    def integrity_check(self) -> str:
        return str(self._read("PRAGMA integrity_check")[0][0])


def _open(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with the schema migrated, retried while the file is locked.

    Two processes opening a fresh store at once (``kanjian batch -j 2 --remember``) race to
    switch it to WAL mode and create the schema; SQLite answers the loser "database is
    locked" at once, without waiting out the busy timeout (it would be a deadlock), so the
    whole open is retried with backoff for up to the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.02
    while True:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys=ON")
            # NORMAL is durable against a killed process in WAL mode (only power loss can
            # drop the last commits), and much faster than FULL.
            conn.execute("PRAGMA synchronous=NORMAL")
            migrate(conn)
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        except BaseException:
            conn.close()
            raise


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _turn(row: Sequence[Any]) -> TurnRecord:
    sid, seq, role, question, answer, images, steps, usage, transcript, ocr, labels, created = row
    return TurnRecord(
        session_id=sid,
        seq=int(seq),
        question=question,
        answer=answer,
        created=float(created),
        images=tuple(StoredImageRef.from_dict(d) for d in json.loads(images)),
        steps=tuple(json.loads(steps)),
        usage=json.loads(usage),
        transcript=tuple(json.loads(transcript)),
        ocr_text=ocr,
        labels=tuple(json.loads(labels)),
        role=role,
    )
