"""Read-only word tables on disk: jieba's word frequencies and CC-CEDICT, looked up in SQLite.

Every process that met one Chinese word used to load both tables whole: jieba's prefix
dictionary (about 580,000 entries, 1.3 s from jieba's own marshal cache on a busy two-core
machine) and the parsed CC-CEDICT (0.9 s from its marshal cache), so a Chinese question
made ``kanjian ask`` two seconds slower with memory on. A question or a turn looks up a
few hundred words, so the tables live in SQLite files instead (a ``WITHOUT ROWID`` table
keyed by the word), built once under the user cache dir, named by a version and the source
file's size and mtime, and written atomically. A lookup is one indexed SELECT, a few
microseconds; opening a table is under a millisecond.

:class:`WordTable` is the read-only mapping both callers need (``in``, ``[]``, ``get``);
:func:`table` returns the one built from a source, building it first when it is missing.
A cache dir that cannot be written leaves ``None``: the caller loads the table whole, as before.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["SEP", "WordTable", "table"]

VERSION = 1
SEP = "\x1f"  # joins a word's senses in one text value
_MISSING = object()


class WordTable:
    """``word -> value`` from a table file; safe to share between threads."""

    def __init__(self, path: Path, decode: Callable[[Any], Any] = lambda v: v) -> None:
        self.path = path
        self._decode = decode
        self._conn = sqlite3.connect(
            f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False
        )
        self._lock = threading.Lock()
        self.meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        # Words repeat (bulk indexing meets the same few thousand again and again): each is
        # looked up in SQLite once per process. At worst this grows to the loaded-whole dict.
        self._memo: dict[str, Any] = {}

    def _lookup(self, word: str) -> Any:
        found = self._memo.get(word, _MISSING)
        if found is not _MISSING:
            return found
        with self._lock:
            row = self._conn.execute("SELECT v FROM words WHERE w = ?", (word,)).fetchone()
        found = _MISSING if row is None else self._decode(row[0])
        self._memo[word] = found
        return found

    def get(self, word: str, default: Any = None) -> Any:
        value = self._lookup(word)
        return default if value is _MISSING else value

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self._lookup(word) is not _MISSING

    def __getitem__(self, word: str) -> Any:
        value = self._lookup(word)
        if value is _MISSING:
            raise KeyError(word)
        return value


def table(
    cache_dir: Path,
    name: str,
    source: Path,
    rows: Callable[[], tuple[Iterable[tuple[str, Any]], dict[str, Any]]],
    decode: Callable[[Any], Any] = lambda v: v,
) -> WordTable | None:
    """The table ``name`` built from ``source`` (``rows()`` gives its rows and meta values).

    Built on first use; None when it can be neither read nor written (the caller then
    falls back to loading the source whole).
    """
    stat = source.stat()
    path = cache_dir / f"{name}-v{VERSION}-{stat.st_size}-{int(stat.st_mtime)}.sqlite"
    if not path.exists():
        try:
            _build(path, *rows())
        except (OSError, sqlite3.Error):
            return None
    try:
        return WordTable(path, decode)
    except sqlite3.Error:  # damaged: build it again next time
        path.unlink(missing_ok=True)
        return None


def _build(path: Path, rows: Iterable[tuple[str, Any]], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        conn = sqlite3.connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("CREATE TABLE words (w TEXT PRIMARY KEY, v) WITHOUT ROWID")
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value)")
            conn.executemany("INSERT OR REPLACE INTO words VALUES (?, ?)", rows)
            conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            conn.commit()
        finally:
            conn.close()
        os.replace(tmp, path)  # readers never see a half-built table
    finally:
        tmp.unlink(missing_ok=True)
