"""Memory at scale: insert throughput and query latency at 100,000 stored turns.

    .venv/bin/python -m bench.memory [--turns 100000] [--queries 200]

Synthetic bilingual turns are stored through the real paths (``Store.add_turn``: one
SQLite transaction per turn with its FTS row; then the vector index catch-up, which
embeds and upserts in batches). Embeddings come from the hashing embedder (256 dims):
MiniLM would need about 25 minutes for 100k turns on 2 cores. Query latency p50/p95 is
printed for hybrid, vector-only and lexical search, beside chromadb's bare
``collection.query`` on the same collection with the same query vectors, in the same run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from memory.core import MemoryCore
from memory.embedders import HashEmbedder
from memory.store import Filters

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
    if i % 2:
        words = rng.sample(EN, 5)
        return (f"What does this {words[0]} say about {words[1]}?",
                f"It shows {words[2]} and {words[3]}, {rng.randint(1, 999)} {words[4]} (#{i}).")  # fmt: skip
    words = rng.sample(ZH, 5)
    return (
        f"这张{words[0]}上的{words[1]}是什么？",
        f"{words[2]}和{words[3]}，{rng.randint(1, 999)}{words[4]}（{i}）。",
    )


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def timed(fn: object, runs: list[object]) -> list[float]:
    out = []
    for arg in runs:
        start = time.perf_counter()
        fn(arg)  # type: ignore[operator]
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        core = MemoryCore(Path(tmp), HashEmbedder(dim=256))
        sessions = [core.new_session(f"s{i}") for i in range(max(1, args.turns // 10))]
        start = time.perf_counter()
        for i in range(args.turns):
            question, answer = synthetic_turn(rng, i)
            core.store.add_turn(sessions[i % len(sessions)], question, answer)
        sqlite_s = time.perf_counter() - start
        start = time.perf_counter()
        index = core.index  # catch-up: embed + upsert every turn in batches
        index_s = time.perf_counter() - start
        print(f"stored {args.turns} turns: SQLite {args.turns / sqlite_s:,.0f} turns/s ({sqlite_s:.1f} s), "
              f"vector index {args.turns / index_s:,.0f} turns/s ({index_s:.1f} s), "
              f"together {args.turns / (sqlite_s + index_s):,.0f} turns/s")  # fmt: skip
        sid = core.new_session("live")
        live = timed(lambda i: core.add_turn(sid, *synthetic_turn(rng, i)), list(range(200)))
        print(f"add_turn one at a time (SQLite + index): p50 {percentile(live, 50):.1f} ms, "
              f"p95 {percentile(live, 95):.1f} ms ({1000 / statistics.mean(live):,.0f} turns/s)")  # fmt: skip

        queries = [" ".join(synthetic_turn(rng, i)[0].split()[:6]) for i in range(args.queries)]
        vectors = index.embedder.embed(queries)
        collection = index._collection
        bare = timed(lambda v: collection.query(query_embeddings=[v], n_results=20), list(vectors))
        rows = {"chroma bare query": bare}
        for mode in ("vector", "lexical", "hybrid"):
            rows[f"memory.search {mode}"] = timed(
                lambda q, m=mode: core.search(q, 5, mode=m, filters=Filters()),
                list(queries),  # type: ignore[misc]
            )
        print(f"\nquery latency at {index.count():,} turns, {args.queries} queries (ms):")
        print(f"{'':<24} {'p50':>8} {'p95':>8}  p50 vs bare chroma")
        base = percentile(bare, 50)
        for name, values in rows.items():
            p50, p95 = percentile(values, 50), percentile(values, 95)
            print(f"{name:<24} {p50:>8.2f} {p95:>8.2f}  {p50 / base:.2f}x")
        core.close()


if __name__ == "__main__":
    main()
