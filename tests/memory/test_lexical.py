"""The in-memory lexical index: FTS5's BM25 ranking, kept in step with SQLite across processes."""

from __future__ import annotations

import math
import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kanjian.memory.lexical import K1, MIN_IDF, B, LexicalIndex, TermBatch, query_terms
from kanjian.memory.store import Filters, Store

WORDS = ["receipt", "total", "coffee", "parking", "sign", "exit", "chart", "sales", "invoice",
         "taxi", "hotel", "ticket", "发票", "地铁", "出口", "照片"]  # fmt: skip
NO_FILTERS = Filters()


def _fill(store: Store, turns: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    sessions = [store.create_session(title=f"s{i}").id for i in range(4)]
    for i in range(turns):
        words = [*rng.choices(WORDS[:8], k=rng.randint(2, 6)), rng.choice(WORDS[8:])]
        store.add_turn(sessions[i % 4], " ".join(words[:3]), " ".join(words[3:]), created=i)
    return sessions


def _fts5(store: Store, query: str, k: int) -> list[tuple[str, int, float]]:
    """The same query ranked by SQLite's own FTS5 bm25(), as lexical search used to."""
    match = " OR ".join(f'"{t}"' for t in query_terms(query))
    rows = store._read(
        "SELECT session_id, seq, bm25(turns_fts) AS score FROM turns_fts "
        "WHERE turns_fts MATCH ? ORDER BY score LIMIT ?",
        [match, k],
    )
    return [(sid, int(seq), -float(score)) for sid, seq, score in rows]


def test_ranking_and_scores_match_fts5_bm25(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    _fill(store, 60)
    for query in ["receipt total", "invoice", "发票 taxi", "parking exit chart hotel"]:
        ours = store.lexical(query, 60, NO_FILTERS)
        theirs = _fts5(store, query, 60)
        assert {(s, q) for s, q, _ in ours} == {(s, q) for s, q, _ in theirs}, query
        by_key = {(s, q): score for s, q, score in theirs}
        for session, seq, score in ours:
            assert math.isclose(score, by_key[(session, seq)], rel_tol=1e-4), (query, session)
        assert [round(s, 3) for *_, s in ours] == sorted((round(s, 3) for *_, s in ours), reverse=True)  # fmt: skip


def test_turns_written_by_another_connection_are_found_on_the_next_query(tmp_path: Path) -> None:
    reader, writer = Store(tmp_path / "m.db"), Store(tmp_path / "m.db")
    sessions = _fill(writer, 12)
    assert len(reader.lexical("receipt total coffee", 50, NO_FILTERS)) > 0
    writer.add_turn(sessions[0], "What does the zeppelin sign say?", "Zeppelin parking only.")
    hits = reader.lexical("zeppelin", 5, NO_FILTERS)
    assert [(s, q) for s, q, _ in hits] == [(sessions[0], 4)]


def test_a_forgotten_session_disappears_for_every_connection(tmp_path: Path) -> None:
    reader, writer = Store(tmp_path / "m.db"), Store(tmp_path / "m.db")
    sessions = _fill(writer, 12)
    assert sessions[1] in {s for s, _, _ in reader.lexical("invoice taxi hotel", 50, NO_FILTERS)}
    writer.delete_session(sessions[1])
    for store in (reader, writer):
        found = {s for s, _, _ in store.lexical("invoice taxi hotel ticket", 50, NO_FILTERS)}
        assert found and sessions[1] not in found


def test_a_turn_reusing_a_forgotten_rowid_is_found(tmp_path: Path) -> None:
    # SQLite gives the highest rowid out again once its row is deleted: the newest turn
    # forgotten, the next turn written takes its rowid, and the index must not skip it.
    reader, writer = Store(tmp_path / "m.db"), Store(tmp_path / "m.db")
    old = writer.create_session(title="old").id
    writer.add_turn(old, "receipt", "total")
    last = writer.create_session(title="last").id
    writer.add_turn(last, "zeppelin", "hangar")
    assert len(reader.lexical("zeppelin", 5, NO_FILTERS)) == 1
    writer.delete_session(last)
    fresh = writer.create_session(title="fresh").id
    writer.add_turn(fresh, "airship", "blimp")
    assert [s for s, _, _ in reader.lexical("airship", 5, NO_FILTERS)] == [fresh]
    assert reader.lexical("zeppelin", 5, NO_FILTERS) == []


def test_filters_apply_inside_the_index(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    sessions = _fill(store, 40)
    query = "receipt total coffee parking sign exit chart sales"
    only = store.lexical(query, 50, Filters(session=sessions[2]))
    assert only and {s for s, _, _ in only} == {sessions[2]}
    assert store.lexical(query, 50, Filters(session="no-such-session")) == []
    window = store.lexical(query, 50, Filters(since=10, until=20))
    created = {t.seq: t.created for t in store.turns(sessions[0])}
    assert window and all(10 <= created[q] < 20 for s, q, _ in window if s == sessions[0])
    assert store.lexical(query, 50, Filters(has_image=True)) == []
    assert len(store.lexical(query, 50, Filters(has_image=False))) == 40


# -- the index alone, against a brute-force BM25 -----------------------------------------


def _brute_force(docs: dict[int, tuple[str, list[str]]], terms: list[str]) -> dict[int, float]:
    """BM25 exactly as FTS5 defines it, one turn at a time (rowid -> score)."""
    n = len(docs)
    avg = sum(len(toks) for _, toks in docs.values()) / n
    out: dict[int, float] = {}
    for term in dict.fromkeys(terms):
        df = sum(term in toks for _, toks in docs.values())
        if not df:
            continue
        idf = max(math.log((n - df + 0.5) / (df + 0.5)), MIN_IDF)
        for rowid, (_, toks) in docs.items():
            tf = toks.count(term)
            if tf:
                norm = K1 * (1 - B + B * len(toks) / avg)
                out[rowid] = out.get(rowid, 0.0) + idf * tf * (K1 + 1) / (tf + norm)
    return out


_batches = st.lists(st.lists(st.sampled_from(WORDS), max_size=6), min_size=1, max_size=5)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), _batches),
        st.tuples(st.just("forget"), st.sampled_from(["a", "b", "c"])),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=40, deadline=None)
@given(ops=_ops, query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4))
def test_any_history_of_adds_and_forgets_scores_like_brute_force(
    ops: list[tuple[str, object]], query: list[str]
) -> None:
    index = LexicalIndex(merge_postings=5)  # merge often, so base and tail both get used
    docs: dict[int, tuple[str, list[str]]] = {}
    rowid = 0
    for i, (op, arg) in enumerate(ops):
        if op == "forget":
            docs = {r: d for r, d in docs.items() if d[0] != arg}
            index.forget([str(arg)], i + 1)
            continue
        batch = []
        for words in arg:  # type: ignore[attr-defined]
            rowid += 1
            session = "abc"[rowid % 3]
            docs[rowid] = (session, words)
            batch.append((rowid, session, rowid, float(rowid), 0, " ".join(words)))
        index.add(TermBatch.from_rows(batch))
    expected = _brute_force(docs, query) if docs else {}
    got = index.search(query, 100, NO_FILTERS)
    assert {seq for _, seq, _ in got} == set(expected)
    for _, seq, score in got:
        assert math.isclose(score, expected[seq], rel_tol=1e-4, abs_tol=1e-6)


# -- the snapshot a later process starts from --------------------------------------------


def _saving_store(path: Path) -> Store:
    store = Store(path)
    store.lexical_save_after = 1  # write the snapshot on every sync that adds a turn
    return store


def test_a_new_process_restores_the_snapshot_and_syncs_what_came_after(tmp_path: Path) -> None:
    first = _saving_store(tmp_path / "m.db")
    sessions = _fill(first, 30)
    query = "receipt total invoice taxi"
    before = first.lexical(query, 50, NO_FILTERS)
    assert first.lexical_snapshot.is_file()
    writer = Store(tmp_path / "m.db")  # writes after the snapshot, by another connection
    added = writer.add_turn(sessions[3], "zeppelin invoice", "hangar receipt")
    writer.delete_session(sessions[1])  # it holds the snapshot's newest turn
    second = Store(tmp_path / "m.db")
    restored = second._restore_lexical()
    assert restored is not None and len(restored) == 30 - 8  # the forget applied on restore
    expected = [(s, q) for s, q, _ in before if s != sessions[1]] + [(sessions[3], added.seq)]
    got = second.lexical(query + " zeppelin", 50, NO_FILTERS)
    assert {(s, q) for s, q, _ in got} == set(expected)
    rebuilt = LexicalIndex()
    second._sync_lexical(rebuilt)  # from SQLite alone, no snapshot: the same ranking
    assert got == rebuilt.search(query_terms(query + " zeppelin"), 50, NO_FILTERS)


def test_a_snapshot_of_another_database_is_not_used(tmp_path: Path) -> None:
    old = _saving_store(tmp_path / "m.db")
    _fill(old, 10)
    old.lexical("receipt", 5, NO_FILTERS)
    snapshot = old.lexical_snapshot.read_bytes()
    old.close()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"m.db{suffix}").unlink(missing_ok=True)
    fresh = Store(tmp_path / "m.db")  # the user moved the database aside and started afresh
    fresh.lexical_snapshot.write_bytes(snapshot)
    sid = fresh.create_session(title="new").id
    fresh.add_turn(sid, "receipt", "zeppelin")
    assert fresh._restore_lexical() is None
    assert [s for s, _, _ in fresh.lexical("receipt", 5, NO_FILTERS)] == [sid]


def test_a_corrupt_snapshot_is_rebuilt_from_sqlite(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db")
    _fill(store, 10)
    store.lexical_snapshot.write_bytes(b"PK\x03\x04 not really a zip")
    assert LexicalIndex.restore(store.lexical_snapshot) is None
    assert len(store.lexical(" ".join(WORDS), 50, NO_FILTERS)) == 10
