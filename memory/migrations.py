"""Ordered schema migrations for the SQLite store (the spirit of simonw/llm's migrations.py).

Each migration is a function registered in order with :func:`migration`; the
``_migrations`` table records which ran, so each runs exactly once per database, inside
the same transaction as its bookkeeping row. Never edit a migration that has shipped:
append a new one.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

__all__ = ["MIGRATIONS", "migrate"]

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Run the migrations this database has not seen; returns their names."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL NOT NULL)"
    )
    ran: list[str] = []
    for fn in MIGRATIONS:
        # BEGIN IMMEDIATE takes the write lock first, so two processes opening a fresh
        # store at once cannot both run the same migration.
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (fn.__name__,))
            if done.fetchone() is None:
                fn(conn)
                conn.execute("INSERT INTO _migrations VALUES (?, ?)", (fn.__name__, time.time()))
                ran.append(fn.__name__)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return ran


@migration
def m001_initial(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            created REAL NOT NULL,
            updated REAL NOT NULL
        )"""
    )
    conn.execute(
        """CREATE TABLE turns (
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL DEFAULT 'user',
            question TEXT NOT NULL,
            answer TEXT NOT NULL,
            images TEXT NOT NULL DEFAULT '[]',
            steps TEXT NOT NULL DEFAULT '[]',
            usage TEXT NOT NULL DEFAULT '{}',
            transcript TEXT NOT NULL DEFAULT '[]',
            ocr_text TEXT NOT NULL DEFAULT '',
            labels TEXT NOT NULL DEFAULT '[]',
            created REAL NOT NULL,
            has_image INTEGER NOT NULL DEFAULT 0,
            -- 0 until the vector index holds this turn: a crash between the SQLite commit
            -- and the index write leaves 0, and the next open indexes it.
            indexed INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (session_id, seq)
        )"""
    )
    conn.execute("CREATE INDEX turns_created ON turns(created)")
    conn.execute("CREATE INDEX turns_unindexed ON turns(indexed) WHERE indexed = 0")
    conn.execute(
        """CREATE TABLE images (
            sha256 TEXT PRIMARY KEY,
            ext TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            size INTEGER NOT NULL,
            created REAL NOT NULL
        )"""
    )
    # Which turn uses which image: reference counts are computed from here, never stored.
    conn.execute(
        """CREATE TABLE turn_images (
            session_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            sha256 TEXT NOT NULL REFERENCES images(sha256),
            name TEXT NOT NULL DEFAULT '',
            origin TEXT NOT NULL DEFAULT '',
            FOREIGN KEY (session_id, seq) REFERENCES turns(session_id, seq) ON DELETE CASCADE
        )"""
    )
    conn.execute("CREATE INDEX turn_images_sha ON turn_images(sha256)")
    conn.execute("CREATE INDEX turn_images_turn ON turn_images(session_id, seq)")
    # Pre-tokenised bilingual terms (jieba words + English words + dictionary glosses),
    # space-joined, so FTS5's unicode61 tokenizer only has to split on spaces.
    conn.execute(
        "CREATE VIRTUAL TABLE turns_fts USING fts5("
        "terms, session_id UNINDEXED, seq UNINDEXED, tokenize = 'unicode61')"
    )


@migration
def m002_forgotten_log(conn: sqlite3.Connection) -> None:
    # Which sessions were forgotten, in order: an in-memory lexical index in any process
    # replays the entries it has not seen (AUTOINCREMENT: ids are never reused).
    conn.execute(
        """CREATE TABLE forgotten (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL,
            at REAL NOT NULL
        )"""
    )


@migration
def m003_turn_vectors(conn: sqlite3.Connection) -> None:
    # Each turn's vector per vector space (embedder and dimension), float32 bytes: what the
    # in-memory mirror (kanjian.memory.mirror) is read from. AUTOINCREMENT: a mirror syncs
    # by the highest id it has seen, so ids are never reused (a re-embedded turn gets a
    # new one); the foreign key drops the vectors with their turn.
    conn.execute(
        """CREATE TABLE turn_vectors (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            space TEXT NOT NULL,
            session_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            -- the turn's rowid: "is any turn newer than the newest vector?" is two index probes
            turn_rowid INTEGER NOT NULL,
            vector BLOB NOT NULL,
            UNIQUE (space, session_id, seq),
            FOREIGN KEY (session_id, seq) REFERENCES turns(session_id, seq) ON DELETE CASCADE
        )"""
    )
    conn.execute("CREATE INDEX turn_vectors_space ON turn_vectors(space, id)")
    conn.execute("CREATE INDEX turn_vectors_turn ON turn_vectors(space, turn_rowid)")
