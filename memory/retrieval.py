"""Hybrid retrieval: vector and lexical rankings fused with reciprocal rank fusion.

Each retriever returns ``(session, seq, score)`` best first. RRF scores a turn by
``sum(1 / (RRF_K + rank))`` over the lists that found it, so neither retriever's raw
scores (cosine similarity, bm25) need calibrating against the other. The recall budget
helpers estimate tokens the way CJK-heavy text needs: one per Han character, four
characters per token for the rest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = ["RRF_K", "Ranked", "estimate_tokens", "fuse", "truncate_to_tokens"]

RRF_K = 60
Ranked = tuple[str, int, float]
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def fuse(
    rankings: Mapping[str, Sequence[Ranked]], k: int
) -> list[tuple[tuple[str, int], float, dict[str, int]]]:
    """Reciprocal rank fusion of named rankings: ((session, seq), score, ranks), best first."""
    scores: dict[tuple[str, int], float] = {}
    ranks: dict[tuple[str, int], dict[str, int]] = {}
    for name, ranking in rankings.items():
        for rank, (session, seq, _score) in enumerate(ranking, start=1):
            key = (session, seq)
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank)
            ranks.setdefault(key, {})[name] = rank
    # Ties (same fused score) go to the turn found by more retrievers, then the newer key.
    order = sorted(scores, key=lambda key: (-scores[key], -len(ranks[key]), key))
    return [(key, scores[key], ranks[key]) for key in order[:k]]


def estimate_tokens(text: str) -> int:
    han = len(_HAN.findall(text))
    return han + (len(text) - han + 3) // 4


def truncate_to_tokens(text: str, budget: int) -> str:
    """``text`` cut (with an ellipsis) so that :func:`estimate_tokens` fits ``budget``."""
    if estimate_tokens(text) <= budget:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that fits, by bisection
        mid = (lo + hi + 1) // 2
        if estimate_tokens(text[:mid]) + 1 <= budget:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "…"
