"""Recall@5 on the bilingual set: vector-only, lexical-only and hybrid side by side.

    .venv/bin/python -m bench.recall [--embedder auto|minilm|hash]

Stores the 100 conversations of :mod:`bench.recall_set` in a fresh memory (embedded
Chroma, temp dir), runs every query in each mode and prints recall@5 per query kind
(en, zh, cross-lingual), plus each mode's ratio to the lexical baseline measured in the
same run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.recall_set import CONVERSATIONS, QUERIES, Conversation, Query
from kanjian.memory.core import MemoryCore
from kanjian.memory.records import SearchMode
from kanjian.memory.store import Filters

K = 5
MODES: tuple[SearchMode, ...] = ("vector", "lexical", "hybrid")


def build(
    root: Path, embedder: str, conversations: Sequence[Conversation] = CONVERSATIONS
) -> tuple[MemoryCore, dict[str, str]]:
    core = MemoryCore(root, embedder)
    sessions: dict[str, str] = {}
    for conv in conversations:
        sid = core.new_session(conv.id)
        core.store.add_turn(sid, conv.question, conv.answer, ocr_text=conv.ocr)
        sessions[sid] = conv.id
    core.index  # noqa: B018  # opening the index embeds everything in batches
    return core, sessions


def evaluate(
    core: MemoryCore, sessions: dict[str, str], queries: Sequence[Query]
) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for mode in MODES:
        found: dict[str, list[bool]] = {"en": [], "zh": [], "cross": []}
        for query in queries:
            hits = core.search(query.text, K, mode=mode, filters=Filters())
            found[query.kind].append(query.target in {sessions[h.session] for h in hits})
        row = {kind: sum(v) / len(v) for kind, v in found.items()}
        row["all"] = sum(sum(v) for v in found.values()) / len(queries)
        table[mode] = row
    return table


def main() -> None:
    from bench.recall_more import QUESTIONS, STORE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", default="auto", help="auto, minilm or hash")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        core, sessions = build(Path(tmp), args.embedder, STORE)
        built = time.perf_counter() - start
        tables = {
            "paraphrased questions (bench.recall_more)": (
                QUESTIONS,
                evaluate(core, sessions, QUESTIONS),
            ),
            "keyword queries (bench.recall_set)": (QUERIES, evaluate(core, sessions, QUERIES)),
        }
        core.close()
    print(
        f"recall@{K}, {len(STORE)} conversations; embedder {core.embedder.name} "
        f"(stored and indexed in {built:.1f} s)"
    )
    for title, (queries, table) in tables.items():
        kinds = {k: sum(q.kind == k for q in queries) for k in ("en", "zh", "cross")}
        print(f"{title}: {len(queries)} {kinds}")
        print(f"{'mode':<8} {'en':>6} {'zh':>6} {'cross':>6} {'all':>6}  vs lexical")
        base = table["lexical"]["all"] or 1.0
        for mode, row in table.items():
            cells = " ".join(f"{row[k]:>6.2f}" for k in ("en", "zh", "cross", "all"))
            print(f"{mode:<8} {cells}  {row['all'] / base:.2f}x")


if __name__ == "__main__":
    main()
