"""The vector mirror: turn vectors in SQLite, a NumPy matrix in memory, chromadb caught up."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from kanjian.memory import mirror
from kanjian.memory.core import MemoryCore
from kanjian.memory.embedders import embed_input
from kanjian.memory.store import Filters, Store

TURNS = [
    ("What is the total on this receipt?", "The total is $12.50 at Starbucks."),
    ("地铁站出口标志上写着什么？", "标志上写着：A出口，通往人民广场。"),
    ("Which month had the highest sales?", "March, about 340 units."),
    ("这张照片里的猫是什么颜色的？", "照片里的猫是橘色的。"),
    ("Summarise this rental contract.", "A one-year lease; rent due on the first."),
    ("What does this parking sign say?", "No parking from 8 to 10 on Tuesdays."),
]


def _fill(core: MemoryCore, turns: list[tuple[str, str]] = TURNS) -> list[str]:
    sessions = []
    for question, answer in turns:
        sid = core.new_session(question[:20])
        core.add_turn(sid, question, answer)
        sessions.append(sid)
    return sessions


def _query(core: MemoryCore, text: str) -> list[float]:
    return core.embedder.embed([embed_input(core.embedder, text)])[0]


def test_remembering_writes_sqlite_only_and_the_next_reader_embeds(tmp_path: Path) -> None:
    core = MemoryCore(tmp_path / "m", "hash")
    _fill(core)
    assert mirror.count_missing(core.store, core.space) == (len(TURNS), len(TURNS))
    assert not (tmp_path / "m" / "chroma").exists()
    found = core.vector_mirror()
    assert found is not None and len(found) == len(TURNS)
    assert mirror.count_missing(core.store, core.space) == (0, len(TURNS))
    assert not (tmp_path / "m" / "chroma").exists()  # recall never needs chromadb
    core.close()


def test_the_mirror_and_chromadb_agree_after_catch_up(tmp_path: Path) -> None:
    core = MemoryCore(tmp_path / "m", "hash")
    _fill(core)
    vectors = core.vector_mirror()
    assert vectors is not None
    index = core.synced_index()
    assert index.count() == len(TURNS)
    for text in ("receipt total", "人民广场出口", "cat photo", "parking rules"):
        vector = _query(core, text)
        ours = vectors.top(vector, 4)
        theirs = index.query_vector(vector, 4, Filters())
        # Same scores in the same order (turns tied on a score may come in either order),
        # and each turn's cosine the same in both.
        assert [c for _, _, c in ours] == pytest.approx([c for _, _, c in theirs], abs=1e-5)
        assert ours[0][:2] == theirs[0][:2]
        same = index.similarities(vector, [(s, q) for s, q, _ in ours])
        assert [same[(s, q)] for s, q, _ in ours] == pytest.approx(
            [c for _, _, c in ours], abs=1e-5
        )
    # A turn remembered later reaches both: the mirror on its next use, chromadb on its next.
    late = _fill(core, [("Where did I park the car?", "Level 3, spot 42.")])[0]
    assert (late, 1) in {(s, q) for s, q, _ in core.vector_mirror().top(_query(core, "park"), 10)}  # type: ignore[union-attr]
    assert core.synced_index().count() == len(TURNS) + 1
    core.close()


def test_a_snapshot_is_restored_and_synced_by_the_next_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mirror, "SAVE_AFTER", 2)
    first = MemoryCore(tmp_path / "m", "hash")
    sessions = _fill(first)
    assert first.vector_mirror() is not None
    assert mirror.snapshot_paths(first.store.path, first.space).exists()
    first.forget(sessions[0])
    _fill(first, [("Where did I park the car?", "Level 3, spot 42.")])
    first.close()

    second = MemoryCore(tmp_path / "m", "hash")
    restored = mirror.VectorMirror.restore(second.store.path, second.space, second.embedder.dim)
    assert restored is not None and len(restored) == len(TURNS)  # the snapshot, before sync
    found = second.vector_mirror()
    assert found is not None and len(found) == len(TURNS)  # one forgotten, one added
    keys = {(s, q) for s, q, _ in found.top(_query(second, "receipt"), 10)}
    assert (sessions[0], 1) not in keys and len(keys) == len(TURNS)
    second.close()


@pytest.mark.parametrize("damage", ["pointer", "matrix", "missing-matrix"])
def test_a_corrupt_snapshot_is_rebuilt_from_sqlite_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    monkeypatch.setattr(mirror, "SAVE_AFTER", 2)
    first = MemoryCore(tmp_path / "m", "hash")
    _fill(first)
    first.vector_mirror()
    expected = first.recall("What was the total on the Starbucks receipt?")
    pointer = mirror.snapshot_paths(first.store.path, first.space)
    matrix = first.store.path.with_name(json.loads(pointer.read_text())["matrix"])
    first.close()
    if damage == "pointer":
        pointer.write_text("{not json")
    elif damage == "matrix":
        matrix.write_bytes(matrix.read_bytes()[:100])
    else:
        matrix.unlink()

    second = MemoryCore(tmp_path / "m", "hash")
    with caplog.at_level(logging.WARNING, logger="kanjian"):
        found = second.vector_mirror()
        again = second.recall("What was the total on the Starbucks receipt?")
    assert found is not None and len(found) == len(TURNS)
    assert [(h.session, h.turn) for h in again] == [(h.session, h.turn) for h in expected]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "rebuilding it from the memory database" in warnings[0].message
    assert warnings[0].exc_info is None  # one sentence, no traceback
    second.close()


def test_reindex_rebuilds_vectors_mirror_and_collection(tmp_path: Path) -> None:
    core = MemoryCore(tmp_path / "m", "hash")
    _fill(core)
    core.vector_mirror()
    assert core.reindex() == len(TURNS)
    found = core.vector_mirror()
    assert found is not None and len(found) == len(TURNS)
    assert core.synced_index().count() == len(TURNS)
    core.close()


def test_a_store_made_before_the_mirror_copies_its_vectors_from_chromadb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kanjian.memory.core.BACKFILL_FROM_INDEX", 2)
    core = MemoryCore(tmp_path / "m", "hash")
    _fill(core)
    core.synced_index()
    mirror.drop(core.store, core.space)  # as an older kanjian left it: vectors in chromadb only
    embedded: list[int] = []
    real = core.embedder.embed
    monkeypatch.setattr(
        core.embedder, "embed", lambda texts: embedded.append(len(texts)) or real(texts)
    )
    core.embed_missing()
    assert mirror.count_missing(core.store, core.space)[0] == 0 and embedded == []
    core.close()


def test_a_process_that_remembered_many_turns_embeds_them_on_close(tmp_path: Path) -> None:
    one = MemoryCore(tmp_path / "m", "hash")
    _fill(one, TURNS[:1])
    one.close()  # an ask: its turn is left for the next reader
    assert mirror.count_missing(Store(tmp_path / "m" / "kanjian.db"), one.space)[0] == 1
    many = MemoryCore(tmp_path / "m", "hash")
    _fill(many, TURNS * 2)
    many.close()  # a batch: embedded before exit, the next ask pays nothing
    assert mirror.count_missing(Store(tmp_path / "m" / "kanjian.db"), many.space)[0] == 0


def test_the_mirror_keeps_to_turns_made_before_until(tmp_path: Path) -> None:
    core = MemoryCore(tmp_path / "m", "hash")
    early = _fill(core, TURNS[:3])
    cut = time.time() + 0.01
    time.sleep(0.02)
    _fill(core, TURNS[3:])
    found = core.vector_mirror()
    assert found is not None
    keys = {s for s, _, _ in found.top(_query(core, "receipt cat parking"), 10, until=cut)}
    assert keys == set(early)
    core.close()
