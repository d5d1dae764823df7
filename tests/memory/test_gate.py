"""The recall gate: nothing for unrelated or generic questions, the right turn for related ones."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kanjian.memory import gate
from kanjian.memory.api import Memory
from kanjian.memory.records import Hit
from tests.memory.test_search import _fill


@pytest.mark.parametrize(
    "question",
    [
        "What instrument is the man in this image playing?",
        "Describe this image briefly.",
        "What is in the photo?",
        "这张图片里有什么？",
        "照片里的人在干什么？",
        "Who won the tennis match on the scoreboard?",
    ],
)
async def test_unrelated_and_generic_questions_recall_nothing(
    memory: Memory, png: Callable[..., bytes], question: str
) -> None:
    await _fill(memory, png)
    assert await memory.recall(question) == []


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How much was the Starbucks latte and muffin?", "receipt"),
        ("星巴克的松饼多少钱？", "receipt"),  # Chinese -> English conversation
        ("Which exit of the subway goes to People's Square?", "subway"),
        ("When is the rent due under my apartment lease?", "contract"),
    ],
)
async def test_a_related_question_recalls_its_conversation_first(
    memory: Memory, png: Callable[..., bytes], question: str, expected: str
) -> None:
    sessions = await _fill(memory, png)
    hits = await memory.recall(question)
    assert hits and hits[0].session == sessions[expected]
    assert len(hits) <= gate.MAX_RECALLED
    assert all(h.score >= gate.cut_for(memory.core.embedder.name).threshold for h in hits)


def test_generic_words_are_not_content_in_either_language() -> None:
    assert gate.concepts("What is in this photo?") == []
    assert gate.concepts("描述一下这张照片。") == []
    heads = [c.head for c in gate.concepts("What's the total on this Starbucks receipt?")]
    assert heads == ["total", "starbuck", "receipt"]
    receipt = next(c for c in gate.concepts("这张收据的总金额") if c.head == "收据")
    assert "receipt" in receipt.alternatives  # the CC-CEDICT gloss counts as the word


def test_coverage_weighs_rare_words_and_discounts_common_glosses() -> None:
    question = gate.concepts("Starbucks receipt total")
    df, n = {"starbuck": 1, "receipt": 3, "total": 40}, 50
    assert gate.coverage(question, ["starbuck", "receipt", "total"], df, n) == 1.0
    only_common = gate.coverage(question, ["total"], df, n)
    only_rare = gate.coverage(question, ["starbuck"], df, n)
    assert 0 < only_common < only_rare < 1
    # A Chinese word met through its gloss counts as much as the gloss says.
    chinese = gate.concepts("收据")
    assert gate.coverage(chinese, ["receipt"], {"receipt": 3}, n) == 1.0
    # The prior: one word met of a one-word question is weaker than four of four.
    one = gate.coverage(gate.concepts("receipt"), ["receipt"], df, n, prior=gate.idf(3, n))
    assert one == pytest.approx(0.5)


def test_the_cut_passes_nothing_below_its_threshold_and_keeps_the_best_first() -> None:
    cut = gate.Cut(lexical=0.5, threshold=0.4, min_coverage=0.1, relative=0.6)

    def cand(name: str, cover: float, cosine: float) -> gate.Candidate:
        return gate.Candidate(Hit(name, 1, 0.0, "", (), 0.0), cover, cosine)

    assert cut.select([cand("a", 0.2, 0.3), cand("b", 0.05, 0.9)]) == []
    picked = cut.select([cand("a", 0.5, 0.5), cand("b", 0.9, 0.7), cand("c", 0.45, 0.45)])
    # b scores 0.8; a 0.5 passes; c 0.45 is under 0.6 of the best.
    assert [(h.session, round(s, 2)) for s, h in picked] == [("b", 0.8), ("a", 0.5)]


def test_a_turn_in_the_other_language_gets_the_cross_bonus_only() -> None:
    cut = gate.Cut(lexical=0.0, threshold=0.45, cross_bonus=0.05)
    hit = Hit("zh", 1, 0.0, "", (), 0.0)
    assert cut.score(gate.Candidate(hit, 0.0, 0.42, cross=True)) == pytest.approx(0.47)
    assert cut.score(gate.Candidate(hit, 0.0, 0.42)) == pytest.approx(0.42)
    assert [h.session for _, h in cut.select([gate.Candidate(hit, 0.0, 0.42, cross=True)])] == [
        "zh"
    ]
    assert gate.crosses("我的降压药每天吃几片？", "Lisinopril 10 mg, one tablet")
    assert gate.crosses("How late is the train?", "G102 次列车晚点 25 分钟")
    assert not gate.crosses("停车场一天最多收多少钱？", "停车三小时，收费 25 元。")
    assert not gate.crosses("Was the curry spicy?", "The green curry is marked spicy.")


def test_a_near_miss_beside_a_clear_hit_stays_out() -> None:
    """The other parking garage scores 0.45 beside 0.63: under 0.8 of the best, it is not
    injected though it passes the threshold on its own."""
    cut = gate.cut_for("all-minilm-l6-v2")

    def cand(name: str, cosine: float) -> gate.Candidate:
        return gate.Candidate(Hit(name, 1, 0.0, "", (), 0.0), 0.4, cosine)

    alone = cut.select([cand("other garage", 0.47)])
    assert [h.session for _, h in alone] == ["other garage"]
    both = cut.select([cand("this garage", 0.66), cand("other garage", 0.47)])
    assert [h.session for _, h in both] == ["this garage"]
