"""The recall gate: what a new conversation gets injected, calibrated and held out.

    .venv/bin/python -m bench.recall_gate [--embedder auto|minilm|hash] [--calibrate]

Stores the 160 conversations of :mod:`bench.recall_more` in a fresh memory, then asks the
gate about related questions (each about one stored conversation, a third cross-lingual)
and unrelated ones (topics no conversation touches, many worded "this image", "照片里").
Prints, for the held-out questions: the false-injection rate (an unrelated question got
anything injected), target injected (the related question's conversation was among the
injected turns; overall and cross-lingual), the precision of the injected turns, and the
mean number injected, beside the previous calibrated cut and the first gate (any lexical
hit among the 8 best of a hybrid search passes) measured in the same run. ``--calibrate``
grid-searches the cut on the development questions only (no held-out question is asked)
and prints the best one (what ``memory.gate.CALIBRATION`` holds). The gate's own cost per
question (goal <= 1 ms) is printed last.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from bench.recall import build
from bench.recall_more import STORE, dev, held_out
from bench.recall_set import Query
from kanjian.memory import gate
from kanjian.memory.core import MemoryCore
from kanjian.memory.lexical import LexicalIndex, TermBatch
from kanjian.memory.records import Hit
from kanjian.memory.retrieval import estimate_tokens, truncate_to_tokens

Picker = Callable[[str], list[Hit]]
# The calibrated cuts before the language-aware gate (2026-12-03), printed beside it.
PREVIOUS = {
    "all-minilm-l6-v2": gate.Cut(0.05, 0.38, relative=0.7),
    "hash": gate.Cut(0.45, 0.35),
}


def any_lexical_hit(core: MemoryCore, question: str, budget: int = 600) -> list[Hit]:
    """The gate before this one: any of the 8 best hybrid hits that the lexical side found."""
    out: list[Hit] = []
    left = budget
    for hit in core.search(question, k=8):
        if "lexical" not in hit.ranks:
            continue
        cost = estimate_tokens(truncate_to_tokens(hit.text, min(200, left)))
        if cost > left or cost < 8:
            break
        out.append(hit)
        left -= cost
    return out


def _gate_alone(
    cut: gate.Cut, question: str, candidates: list[gate.Candidate], postings: gate.Postings
) -> float:
    """CPU seconds the gate itself adds to a recall: what the retrievers do not compute
    anyway (content words, each candidate's coverage and language, the cut)."""
    hits = [c.hit for c in candidates]
    cosines = {(c.hit.session, c.hit.turn): c.cosine for c in candidates}
    # CPU time: on a shared machine a wall clock mostly times the scheduler at this scale.
    start = time.process_time()
    cut.select(gate.weigh(question, gate.concepts(question), hits, cosines, postings))
    return time.process_time() - start


def gate_at_scale(cut: gate.Cut, turns: int = 100_000, rounds: int = 200) -> list[float]:
    """:func:`_gate_alone` over a lexical index of ``turns`` synthetic turns (Zipf-drawn
    words), 18 candidates a question as recall gives: the cost must not grow with the store."""
    rng = random.Random(10)
    words = [f"w{i}" for i in range(5000)]
    weights = [1 / rank for rank in range(1, len(words) + 1)]
    rows = [
        (i + 1, f"s{i // 3}", i % 3, 0.0, 0, " ".join(rng.choices(words, weights, k=20)))
        for i in range(turns)
    ]
    postings = LexicalIndex()
    postings.add(TermBatch.from_rows(rows))
    del rows  # a process holds the index, not 100,000 row tuples for the collector to walk
    seconds = []
    for _ in range(rounds):
        picked = rng.sample(range(turns), 18)
        candidates = [
            gate.Candidate(Hit(f"s{i // 3}", i % 3, 0.0, "", (), 0.0), 0.0, rng.random())
            for i in picked
        ]
        question = " ".join(rng.choices(words, weights, k=6))
        seconds.append(_gate_alone(cut, question, candidates, postings))
    return seconds


def measure(
    pick: Picker, related: Sequence[Query], unrelated: Sequence[str], names: dict[str, str]
) -> dict[str, float]:
    """The gate's figures on one set of questions; ``pick`` answers each with what it injects."""
    false = injected = right = 0
    found: dict[str, list[bool]] = {"all": [], "cross": []}
    for question in unrelated:
        got = pick(question)
        false += bool(got)
        injected += len(got)
    for query in related:
        names_got = [names.get(h.session, "") for h in pick(query.text)]
        hit = query.target in names_got
        found["all"].append(hit)
        if query.kind == "cross":
            found["cross"].append(hit)
        right += names_got.count(query.target)
        injected += len(names_got)
    return {
        "false": false / len(unrelated),
        "target": statistics.mean(found["all"]),
        "cross": statistics.mean(found["cross"]),
        "precision": right / injected if injected else 1.0,
        "mean": injected / (len(related) + len(unrelated)),
    }


def picker(cut: gate.Cut, cache: dict[str, list[gate.Candidate]]) -> Picker:
    return lambda question: [hit for _, hit in cut.select(cache[question])]


def grid() -> Iterator[gate.Cut]:
    """The cuts :func:`calibrate` tries."""
    for lexical in [i / 20 for i in range(11)]:
        for threshold in [i / 100 for i in range(30, 61)]:
            for relative in (0.6, 0.7, 0.75, 0.8, 0.85, 0.9):
                for bonus in (0.0, 0.02, 0.04, 0.05, 0.06, 0.08, 0.1):
                    yield gate.Cut(lexical, threshold, 0.0, relative, bonus)


def calibrate(
    cache: dict[str, list[gate.Candidate]],
    related: Sequence[Query],
    unrelated: Sequence[str],
    names: dict[str, str],
    max_false: float = 0.035,
    min_precision: float = 0.8,
) -> tuple[gate.Cut, dict[str, float]]:
    """The cut with the most targets injected on the dev set within both bounds.

    The bounds are tighter than the goals (5 % and 0.7): a held-out set loses some of
    what a cut picked on 90 questions gains. Among cuts injecting as many targets, the
    one with the fewest false injections, then the most precise, wins: the safe side.
    """
    best: tuple[tuple[float, ...], gate.Cut, dict[str, float]] | None = None
    for cut in grid():
        row = measure(picker(cut, cache), related, unrelated, names)
        if row["false"] > max_false or row["precision"] < min_precision:
            continue
        # Cross-lingual targets weigh 1.5: they are the ones an English embedder misses.
        key = (row["target"] + 0.5 * row["cross"], -row["false"], row["precision"])
        if best is None or key > best[0]:
            best = (key, cut, row)
    if best is None:
        raise SystemExit("no cut meets the false-injection bound on the dev set")
    return best[1], best[2]


def fmt(row: dict[str, float]) -> str:
    return (
        f"false-injection {row['false']:6.1%}  target injected {row['target']:6.1%}  "
        f"cross-lingual {row['cross']:6.1%}  precision {row['precision']:.2f}  "
        f"turns/question {row['mean']:.2f}"
    )


def ms(seconds: Sequence[float], q: float) -> float:
    return statistics.quantiles(seconds, n=100)[int(q * 100) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", default="auto", help="auto, minilm or hash")
    parser.add_argument(
        "--calibrate", action="store_true", help="grid-search the dev set (held-out not read)"
    )
    args = parser.parse_args()
    dev_related, dev_unrelated = dev()
    test_related, test_unrelated = held_out()
    if args.calibrate:  # the held-out questions are not even asked
        test_related, test_unrelated = [], []
    with tempfile.TemporaryDirectory() as tmp:
        core, names = build(Path(tmp), args.embedder, STORE)
        cut = gate.cut_for(core.embedder.name)
        related = [*dev_related, *test_related]
        questions = [q.text for q in related] + [*dev_unrelated, *test_unrelated]
        cache = {q: core.recall_candidates(q) for q in questions}
        timed = [q.text for q in related[:60]]
        timings = []
        for question in timed:
            start = time.perf_counter()
            cut.select(core.recall_candidates(question))
            timings.append(time.perf_counter() - start)
        postings = core.store.lexical_index()
        gate_only = [_gate_alone(cut, q, cache[q], postings) for q in timed for _ in range(5)]
        old = {q: any_lexical_hit(core, q) for q in questions}
        core.close()
    print(
        f"recall gate, {len(STORE)} conversations, embedder {core.embedder.name}; held-out: "
        f"{len(test_related)} related ({sum(q.kind == 'cross' for q in test_related)} "
        f"cross-lingual), {len(test_unrelated)} unrelated; dev: {len(dev_related)} related "
        f"({sum(q.kind == 'cross' for q in dev_related)} cross-lingual), "
        f"{len(dev_unrelated)} unrelated"
    )
    print(f"cut {cut}")
    if args.calibrate:
        best, row = calibrate(cache, dev_related, dev_unrelated, names)
        print(
            f"dev       calibrated gate  {fmt(measure(picker(cut, cache), dev_related, dev_unrelated, names))}"
        )
        print(f"best cut on dev: {best}\n  dev {fmt(row)}")
        return
    new_row = measure(picker(cut, cache), test_related, test_unrelated, names)
    old_row = measure(old.__getitem__, test_related, test_unrelated, names)
    print(f"held-out  calibrated gate  {fmt(new_row)}")
    if core.embedder.name in PREVIOUS:
        before = picker(PREVIOUS[core.embedder.name], cache)
        print(
            f"held-out  previous gate    {fmt(measure(before, test_related, test_unrelated, names))}"
        )
    print(f"held-out  any-lexical-hit  {fmt(old_row)}")
    dev_row = measure(picker(cut, cache), dev_related, dev_unrelated, names)
    print(f"dev       calibrated gate  {fmt(dev_row)}")
    print(
        f"recall (both retrievers + gate) p50 {statistics.median(timings) * 1000:.1f} ms; "
        f"the gate's own CPU time per question (content words, coverage and language of every "
        f"candidate, cut) p50 {ms(gate_only, 0.5):.2f} ms, p95 {ms(gate_only, 0.95):.2f} ms "
        f"(goal <= 1 ms)"
    )
    scale = gate_at_scale(cut)
    print(
        f"the gate's own CPU time at 100,000 stored turns (synthetic, 18 candidates) "
        f"p50 {ms(scale, 0.5):.2f} ms, p95 {ms(scale, 0.95):.2f} ms"
    )


if __name__ == "__main__":
    main()
