"""Memory at scale: insert throughput and query latency at 100,000 stored turns.

    .venv/bin/python -m bench.memory [--turns 100000] [--queries 200] [--data realistic|skewed]
                                     [--keep DIR]

Synthetic bilingual turns are stored through the real paths (``Store.add_turn``: one
SQLite transaction per turn with its FTS row; then the vector index catch-up, which
embeds the turns into SQLite and upserts them into chromadb in batches). Building 100k
turns takes several minutes on two cores: with ``--keep DIR`` the store is built once
under ``DIR`` and reused by later runs (the same seed replays the same turns and queries). Embeddings come from the hashing embedder (256 dims):
MiniLM would need about 25 minutes for 100k turns on 2 cores. Query latency p50/p95 is
printed for hybrid, vector-only and lexical search, beside chromadb's bare
``collection.query`` on the same collection with the same query vectors, in the same run,
and beside the lexical search this replaced (FTS5 ``bm25()`` in SQLite) on 50 queries.

Two kinds of data. ``realistic`` (the default) draws words with a Zipf distribution
(rank r has weight 1/r) from a few thousand: the words of the recall set, the most
frequent words of jieba's dictionary that CC-CEDICT knows, and their English glosses;
queries are a few words of a stored turn. ``skewed`` is the old worst case: ~30 English
and ~25 Chinese words, so every query term matches about a sixth of the store.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import TypeVar

from kanjian.memory.core import MemoryCore
from kanjian.memory.embedders import HashEmbedder
from kanjian.memory.lexical import query_terms
from kanjian.memory.records import SearchMode
from kanjian.memory.store import Filters, Store

EN = [
    "receipt",
    "total",
    "coffee",
    "parking",
    "sign",
    "exit",
    "chart",
    "sales",
    "revenue",
    "contract",
    "lease",
    "invoice",
    "photo",
    "cat",
    "dog",
    "bridge",
    "mountain",
    "train",
    "platform",
    "ticket",
    "hotel",
    "taxi",
    "pharmacy",
    "warranty",
    "passport",
    "flight",
    "menu",
    "price",
    "tax",
    "discount",
]
ZH = [
    "发票",
    "收据",
    "总金额",
    "地铁",
    "出口",
    "标志",
    "图表",
    "销售",
    "合同",
    "照片",
    "猫",
    "狗",
    "火车",
    "车票",
    "酒店",
    "出租车",
    "药店",
    "护照",
    "航班",
    "菜单",
    "价格",
    "折扣",
    "公园",
    "医院",
    "天气",
]


def synthetic_turn(rng: random.Random, i: int) -> tuple[str, str]:
    """A skewed turn: five words out of a tiny vocabulary."""
    if i % 2:
        words = rng.sample(EN, 5)
        return (f"What does this {words[0]} say about {words[1]}?",
                f"It shows {words[2]} and {words[3]}, {rng.randint(1, 999)} {words[4]} (#{i}).")  # fmt: skip
    words = rng.sample(ZH, 5)
    return (
        f"这张{words[0]}上的{words[1]}是什么？",
        f"{words[2]}和{words[3]}，{rng.randint(1, 999)}{words[4]}（{i}）。",
    )


T = TypeVar("T")
LIVE = 200  # turns added one at a time after the bulk fill
ZH_WORDS = 1500
FTS5_QUERIES = 50


@cache
def vocabulary() -> tuple[list[str], list[str]]:
    """English and Chinese words, most frequent first (their rank sets their Zipf weight)."""
    from bench.recall_set import CONVERSATIONS
    from kanjian.memory import bilingual

    text = " ".join(f"{c.question} {c.answer} {c.ocr}" for c in CONVERSATIONS)
    zh = [w for w in bilingual._segments(text, search=False) if bilingual.has_cjk(w)]
    zh += _common_chinese(ZH_WORDS)
    zh = [w for w in dict.fromkeys(zh) if w not in bilingual.ZH_STOP]
    en = re.findall(r"[a-z]{3,}", text.lower())
    en += [g for w in zh for g in bilingual.gloss(w) if g.isalpha()]
    en = [w for w in dict.fromkeys(en) if w not in bilingual.EN_STOP]
    return en, zh


def _common_chinese(limit: int) -> list[str]:
    """jieba's most frequent multi-character words that CC-CEDICT has an entry for."""
    from importlib.util import find_spec

    from kanjian.memory import bilingual

    spec = find_spec("jieba")
    assert spec is not None and spec.origin is not None
    rows = []
    with open(Path(spec.origin).with_name("dict.txt"), encoding="utf-8") as fh:
        for line in fh:
            word, freq, *_ = line.split()
            if len(word) > 1 and bilingual.has_cjk(word):
                rows.append((int(freq), word))
    rows.sort(reverse=True)
    known = (w for _, w in rows if bilingual.gloss(w))
    return list(itertools.islice(known, limit))


def zipf_turn(rng: random.Random, i: int) -> tuple[str, str]:
    """A realistic turn: 5-10 question words and 10-25 answer words, Zipf-distributed."""
    en, zh = vocabulary()
    words, sep = (en, " ") if i % 2 else (zh, "")
    weights = _zipf_weights(len(words))
    question = sep.join(rng.choices(words, cum_weights=weights, k=rng.randint(5, 10)))
    answer = sep.join(rng.choices(words, cum_weights=weights, k=rng.randint(10, 25)))
    return (question + ("?" if sep else "？"), f"{answer} ({rng.randint(1, 999)})")


@cache
def _zipf_weights(n: int) -> list[float]:
    total, out = 0.0, []
    for rank in range(1, n + 1):
        total += 1.0 / rank
        out.append(total)
    return out


def zipf_query(rng: random.Random, turn: tuple[str, str]) -> str:
    """Two to four words of a stored realistic turn (a few characters of a Chinese one)."""
    text = " ".join(turn)
    if " " in turn[1].strip(" (0123456789)"):
        words = text.split()
        return " ".join(rng.sample(words, min(len(words), rng.randint(2, 4))))
    start = rng.randrange(max(1, len(text) - 8))
    return text[start : start + rng.randint(4, 8)]


def skewed_query(rng: random.Random, turn: tuple[str, str]) -> str:
    return " ".join(turn[0].split()[:6])


Turns = Callable[[random.Random, int], tuple[str, str]]
Queries = Callable[[random.Random, tuple[str, str]], str]
DATA: dict[str, tuple[Turns, Queries]] = {
    "realistic": (zipf_turn, zipf_query),
    "skewed": (synthetic_turn, skewed_query),
}


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def timed(fn: Callable[[T], object], runs: Sequence[T]) -> list[float]:
    out = []
    for arg in runs:
        start = time.perf_counter()
        fn(arg)
        out.append((time.perf_counter() - start) * 1000)
    return out


def fill(core: MemoryCore, make: Turns, turns: int, rng: random.Random) -> list[tuple[str, str]]:
    """Store ``turns`` turns (SQLite, then the index catch-up); returns every 97th one."""
    sessions = [core.new_session(f"s{i}") for i in range(max(1, turns // 10))]
    samples = []
    start = time.perf_counter()
    for i in range(turns):
        question, answer = make(rng, i)
        core.store.add_turn(sessions[i % len(sessions)], question, answer)
        if i % 97 == 0:
            samples.append((question, answer))
    sqlite_s = time.perf_counter() - start
    start = time.perf_counter()
    core.synced_index()  # catch-up: embed into SQLite + upsert every turn, in batches
    index_s = time.perf_counter() - start
    print(f"stored {turns} turns: SQLite {turns / sqlite_s:,.0f} turns/s ({sqlite_s:.1f} s), "
          f"vector index {turns / index_s:,.0f} turns/s ({index_s:.1f} s), "
          f"together {turns / (sqlite_s + index_s):,.0f} turns/s")  # fmt: skip
    sid = core.new_session("live")
    live = timed(lambda i: core.add_turn(sid, *make(rng, turns + i)), list(range(LIVE)))
    print(f"add_turn one at a time (SQLite; indexed by the next reader): p50 "
          f"{percentile(live, 50):.1f} ms, p95 {percentile(live, 95):.1f} ms "
          f"({1000 / statistics.mean(live):,.0f} turns/s)")  # fmt: skip
    return samples


def replay(make: Turns, turns: int, rng: random.Random) -> list[tuple[str, str]]:
    """The samples :func:`fill` returned for a kept store, ``rng`` left where fill left it."""
    samples = [turn for i in range(turns) if (turn := make(rng, i)) and i % 97 == 0]
    for i in range(LIVE):
        make(rng, turns + i)
    return samples


def latencies(core: MemoryCore, queries: list[str]) -> dict[str, list[float]]:
    """Per-query milliseconds: bare chroma, then memory.search in each mode.

    Query by query, the four in turn (not all of one, then all of the next), so that the
    machine's load, which drifts on a shared box, weighs on each of them alike.
    """
    index = core.index
    vectors = index.embedder.embed(queries)
    collection = index._collection
    modes: tuple[SearchMode, ...] = ("vector", "lexical", "hybrid")
    rows: dict[str, list[float]] = {"chroma bare query": []}
    rows |= {f"memory.search {mode}": [] for mode in modes}
    for query, vector in zip(queries, vectors, strict=True):
        rows["chroma bare query"] += timed(
            lambda v: collection.query(query_embeddings=[v], n_results=20), [vector]
        )
        for mode in modes:
            search = functools.partial(core.search, k=5, mode=mode, filters=Filters())
            rows[f"memory.search {mode}"] += timed(search, [query])
    old = queries[:FTS5_QUERIES]  # hundreds of ms each on skewed data: a sample will do
    rows[f"old FTS5 lexical ({len(old)} q)"] = timed(lambda q: fts5_lexical(core, q), old)
    return rows


def gate_cost(core: MemoryCore, queries: list[str]) -> None:
    """What the recall gate itself adds per question (its features and cut), beside the
    whole recall, at this store size (issue 10: the gate adds at most 1 ms)."""
    from kanjian.memory import gate

    cut = gate.cut_for(core.embedder.name)
    found = [core.recall_candidates(q) for q in queries]
    whole = timed(core.recall, queries)
    alone = timed(lambda c: cut.select(c), found)
    concepts = timed(gate.concepts, queries)
    print(f"recall p50 {percentile(whole, 50):.2f} ms (both retrievers, gate, texts); "
          f"the gate alone: content words p50 {percentile(concepts, 50):.3f} ms, "
          f"the cut over its candidates p50 {percentile(alone, 50):.3f} ms")  # fmt: skip


def fts5_lexical(core: MemoryCore, query: str, k: int = 20) -> list[tuple[str, int, float]]:
    """Lexical search as it was: FTS5 ``bm25()`` over every match, joined to turns."""
    match = " OR ".join('"' + t.replace('"', '""') + '"' for t in query_terms(query))
    rows = core.store._read(
        "SELECT f.session_id, f.seq, bm25(turns_fts) AS score FROM turns_fts f "
        "JOIN turns t ON t.session_id = f.session_id AND t.seq = f.seq "
        "WHERE turns_fts MATCH ? AND 1 ORDER BY score LIMIT ?",
        [match, k],
    )
    return [(sid, int(seq), -float(score)) for sid, seq, score in rows]


def lexical_cold_start(core: MemoryCore) -> None:
    """What the first lexical query pays: a build from SQLite, then a snapshot restore."""
    core.store.lexical_save_after = 1  # save even below SAVE_AFTER turns (--turns 2000)
    core.store.lexical_snapshot.unlink(missing_ok=True)  # a kept store has one: build afresh
    start = time.perf_counter()
    turns = len(core.store.lexical_index())  # builds, then writes the snapshot
    built = time.perf_counter() - start
    fresh = Store(core.store.path)  # a new process opening the same store
    start = time.perf_counter()
    fresh.lexical_index()
    restored = time.perf_counter() - start
    fresh.close()
    size = core.store.lexical_snapshot.stat().st_size / 2**20
    print(f"lexical index of {turns:,} turns: built from SQLite and saved in {built:.2f} s; "
          f"a fresh process restores it in {restored:.2f} s ({size:.0f} MiB snapshot)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data", choices=sorted(DATA), default="realistic")
    parser.add_argument("--keep", type=Path, help="build the store under this folder once")
    args = parser.parse_args()
    make_turn, make_query = DATA[args.data]
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) if args.keep is None else args.keep / f"{args.data}-{args.turns}"
        done = root / "complete"
        core = MemoryCore(root, HashEmbedder(dim=256))
        if done.exists():
            print(f"reusing the store of {args.turns:,} turns kept at {root}")
            samples = replay(make_turn, args.turns, rng)
        else:
            samples = fill(core, make_turn, args.turns, rng)
            done.touch()
        lexical_cold_start(core)
        queries = [make_query(rng, samples[i % len(samples)]) for i in range(args.queries)]
        rows = latencies(core, queries)
        gate_cost(core, queries)
        print(f"\nquery latency at {core.index.count():,} turns ({args.data} data), "
              f"{args.queries} queries (ms):")  # fmt: skip
        print(f"{'':<24} {'p50':>8} {'p95':>8}  p50 vs bare chroma")
        base = percentile(rows["chroma bare query"], 50)
        for name, values in rows.items():
            p50, p95 = percentile(values, 50), percentile(values, 95)
            print(f"{name:<24} {p50:>8.2f} {p95:>8.2f}  {p50 / base:.2f}x")
        old = next(v for name, v in rows.items() if name.startswith("old FTS5"))
        new = rows["memory.search lexical"][: len(old)]
        print(f"lexical search vs the old FTS5 path on the same {len(old)} queries: "
              f"p50 {percentile(old, 50) / percentile(new, 50):.0f}x, "
              f"p95 {percentile(old, 95) / percentile(new, 95):.0f}x faster")  # fmt: skip
        core.close()


if __name__ == "__main__":
    main()
