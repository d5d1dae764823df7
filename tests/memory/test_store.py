"""The SQLite store and the image files: schema, round trips, references, deletion."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from kanjian.memory.api import Memory
from kanjian.memory.errors import MemoryInputError, SessionNotFound
from kanjian.memory.migrations import MIGRATIONS
from kanjian.memory.records import StoredImageRef
from kanjian.memory.store import Store


def test_migrations_run_once_and_wal_is_on(tmp_path: Path) -> None:
    Store(tmp_path / "k.db").close()
    store = Store(tmp_path / "k.db")
    applied = store._read("SELECT name FROM _migrations")
    assert [r[0] for r in applied] == [m.__name__ for m in MIGRATIONS]
    assert store._read("PRAGMA journal_mode")[0][0] == "wal"
    assert store.integrity_check() == "ok"


async def test_turn_round_trip_keeps_everything(
    embedded: Memory, png: Callable[..., bytes]
) -> None:
    sid = await embedded.new_session("收据")
    sha = await embedded.put_image(png())
    transcript = [{"role": "user", "content": [{"type": "image_ref", "sha256": sha}]}]
    ref = StoredImageRef(sha, "image_1", "/tmp/r.png")
    first = await embedded.add_turn(
        sid, "总金额是多少？", "总金额是 ¥42.00。", images=[ref], steps=[{"tool": "ocr", "args": {}}],
        usage={"prompt_tokens": 3}, transcript=transcript, ocr_text="合计 42.00", labels=["total"],
    )  # fmt: skip
    second = await embedded.add_turn(sid, "And in dollars?", "About $5.80.")
    assert (first.seq, second.seq) == (1, 2)
    session = await embedded.get_session(sid)
    assert session.title == "收据" and session.turn_count == 2
    stored = session.turns[0]
    assert stored.images == (ref,) and stored.transcript == tuple(transcript)
    assert stored.steps == ({"tool": "ocr", "args": {}},) and stored.labels == ("total",)
    assert stored.usage == {"prompt_tokens": 3} and stored.ocr_text == "合计 42.00"


async def test_existing_session_id_is_kept(embedded: Memory) -> None:
    assert await embedded.new_session(session_id="abc123") == "abc123"
    assert await embedded.new_session("again", session_id="abc123") == "abc123"
    assert [s.id for s in await embedded.list_sessions()] == ["abc123"]


async def test_unknown_session_is_one_clear_sentence(embedded: Memory) -> None:
    with pytest.raises(SessionNotFound, match=r"'nope'.*kanjian memory list"):
        await embedded.add_turn("nope", "q", "a")
    with pytest.raises(SessionNotFound):
        await embedded.get_session("nope")


async def test_turn_with_an_unstored_image_is_refused(embedded: Memory) -> None:
    sid = await embedded.new_session()
    with pytest.raises(MemoryInputError, match="put_image"):
        await embedded.add_turn(sid, "q", "a", images=[StoredImageRef("0" * 64)])
    assert (await embedded.get_session(sid)).turn_count == 0


async def test_images_are_stored_once_with_a_thumbnail(
    embedded: Memory, png: Callable[..., bytes]
) -> None:
    data = png("blue", (800, 600))
    sha = await embedded.put_image(data)
    assert await embedded.put_image(data) == sha
    record = embedded.image(sha)
    assert record.path == embedded.core.root / "images" / sha[:2] / f"{sha}.png"
    assert record.path.read_bytes() == data and (record.width, record.height) == (800, 600)
    from PIL import Image

    with Image.open(record.thumbnail) as thumb:
        assert max(thumb.size) == 256
    assert embedded.core.store.counts()["images"] == 1
    assert not list(record.path.parent.glob(".*.tmp"))


async def test_not_an_image_is_refused(embedded: Memory) -> None:
    with pytest.raises(MemoryInputError, match="not a readable image"):
        await embedded.put_image(b"hello")


async def test_forget_deletes_only_unreferenced_images(
    embedded: Memory, png: Callable[..., bytes]
) -> None:
    shared, own = await embedded.put_image(png("red")), await embedded.put_image(png("green"))
    a, b = await embedded.new_session(), await embedded.new_session()
    await embedded.add_turn(a, "q", "a", images=[StoredImageRef(shared), StoredImageRef(own)])
    await embedded.add_turn(b, "q", "a", images=[StoredImageRef(shared)])
    own_path, shared_path = embedded.image_path(own), embedded.image_path(shared)
    assert await embedded.forget(a) == 1
    assert not own_path.exists() and shared_path.exists()
    assert embedded.core.store.image_refs(shared) == 1
    with pytest.raises(SessionNotFound):
        await embedded.get_session(a)
    counts = embedded.core.store.counts()
    assert (counts["sessions"], counts["turns"], counts["turns_fts"], counts["images"]) == (
        1,
        1,
        1,
        1,
    )


def test_a_corrupt_database_is_a_storage_error(tmp_path: Path) -> None:
    from kanjian.memory.errors import StorageError

    (tmp_path / "k.db").write_bytes(b"not a database" * 100)
    with pytest.raises(StorageError, match="Cannot open the memory database"):
        Store(tmp_path / "k.db")
    assert issubclass(StorageError, Exception) and sqlite3.sqlite_version
