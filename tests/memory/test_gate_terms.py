"""The gate's coverage lookup (``LexicalIndex.terms_in``) against the turns' own terms."""

from __future__ import annotations

import random

from kanjian.memory.lexical import LexicalIndex, TermBatch

WORDS = [f"w{i}" for i in range(40)]


def _rows(rng: random.Random, start: int, count: int) -> list[tuple[object, ...]]:
    return [
        (i + 1, f"s{i // 3}", i % 3, 0.0, 0, " ".join(rng.choices(WORDS, k=rng.randint(1, 8))))
        for i in range(start, start + count)
    ]


def test_terms_in_matches_each_turns_terms_across_merges_and_forgetting() -> None:
    rng = random.Random(7)
    index = LexicalIndex(merge_postings=64)  # small: batches land in the tail and the base
    rows: list[tuple[object, ...]] = []
    for start, count in [*((s, 37) for s in range(0, 296, 37)), (296, 4)]:  # last: tail only
        batch = _rows(rng, start, count)
        rows += batch
        index.add(TermBatch.from_rows(batch))
        index.terms_in(["w1"], [("s0", 0)])  # positions are extended between appends
    index.forget(["s5", "s40"], log_id=1)
    assert len(index._tail_doc)  # the query reads merged and unmerged postings
    keys = [(f"s{i // 3}", i % 3) for i in rng.sample(range(len(rows)), 60)]
    keys += [(f"s{i // 3}", i % 3) for i in range(296, 300)] + [("nope", 0)]
    terms = rng.sample(WORDS, 12)
    got = index.terms_in(terms, keys)
    expected = {
        (str(sid), int(str(seq))): set(str(text).split()) & set(terms)
        for _, sid, seq, _, _, text in rows
        if (sid, seq) in keys and sid not in ("s5", "s40")
    }
    assert got == expected
