"""The Chinese–English bridge: segmentation, glosses and the English view."""

from __future__ import annotations

from kanjian.memory.bilingual import english_view, gloss, stem, terms
from kanjian.memory.lexical import query_terms


def test_chinese_words_carry_their_english_glosses() -> None:
    got = terms("这张发票的总金额")
    assert "发票" in got and "invoice" in got and "receipt" in got
    assert "的" not in got


def test_english_is_stemmed_and_stop_words_dropped() -> None:
    assert terms("The receipts of the cats") == ["receipt", "cat"]
    assert stem("charts") == "chart" and stem("boxes") == "boxe" and stem("glass") == "glass"


def test_unknown_words_fall_back_to_dictionary_pieces() -> None:
    assert "money" in terms("总金额")  # 总金额 is not a CC-CEDICT headword; 金额 is


def test_english_view_replaces_chinese_words() -> None:
    assert english_view("地铁站出口") == "subway station an exit"
    assert english_view("plain English stays") == "plain English stays"
    assert gloss("不存在的词语xyz") == []


def test_query_terms_are_distinct_case_folded_and_operator_free() -> None:
    assert query_terms('say "OR" NEAR(a b) Say') == ["say", "near", "b"]
    assert query_terms("出口 出口") == ["出口", "exit", "speak", "export"]
