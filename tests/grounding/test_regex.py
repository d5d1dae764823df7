"""The grounding regex compiles with xgrammar (what SGLang runs) and takes real outputs."""

from __future__ import annotations

import re

import pytest
import xgrammar
from xgrammar.testing import _is_grammar_accept_string as accepts

from kanjian.vlm.grounding import GROUNDING_REGEX, grounding_regex, parse_grounding

GOOD = [
    "<ref>the red car</ref><box>[[12, 340, 560, 999]]</box>",
    "<ref>cat</ref><box>[[0, 0, 1000, 1000], [5, 6, 7, 8]]</box>",
    "<ref>cat</ref><box>[[1, 2, 3, 4]]</box>\n<ref>dog</ref><box>[[10, 20, 30, 40]]</box>",
    "<ref>cat</ref><box>[[1, 2, 3, 4]]</box><ref>dog</ref><box>[[10, 20, 30, 40]]</box>",
    "<ref>红色的汽车</ref><box>[[100, 200, 300, 400]]</box>",
]
BAD = [
    "<ref>a</ref><box>[[1, 2, 3, 1001]]</box>",
    "<ref>a</ref><box>[[01, 2, 3, 4]]</box>",
    "<ref>a</ref><box>[[1, 2, 3]]</box>",
    "<ref>a</ref><box>[]</box>",
    "<box>[[1, 2, 3, 4]]</box>",
    "<ref></ref><box>[[1, 2, 3, 4]]</box>",
    "Sure: <ref>a</ref><box>[[1, 2, 3, 4]]</box>",
]


@pytest.fixture(scope="module")
def grammar() -> xgrammar.Grammar:
    return xgrammar.Grammar.from_regex(GROUNDING_REGEX)


@pytest.mark.parametrize("text", GOOD)
def test_xgrammar_accepts_model_outputs(grammar: xgrammar.Grammar, text: str) -> None:
    assert accepts(grammar, text)
    assert re.fullmatch(GROUNDING_REGEX, text)
    assert parse_grounding(text)


@pytest.mark.parametrize("text", BAD)
def test_xgrammar_rejects_malformed_outputs(grammar: xgrammar.Grammar, text: str) -> None:
    assert not accepts(grammar, text)
    assert not re.fullmatch(GROUNDING_REGEX, text)


def test_truncated_output_is_a_prefix_but_not_complete(grammar: xgrammar.Grammar) -> None:
    text = "<ref>cat</ref><box>[[1, 2, 3"
    assert not accepts(grammar, text)
    assert accepts(grammar, text, require_termination=False)


def test_pinned_label_accepts_only_that_label() -> None:
    phrase = "the (big) cat? 1+1 [x] {y} a.b|c $5 ^ \\ / -"
    regex = grounding_regex(phrase)
    grammar = xgrammar.Grammar.from_regex(regex)
    good = f"<ref>{phrase}</ref><box>[[1, 2, 3, 4]]</box>"
    assert accepts(grammar, good)
    assert re.fullmatch(regex, good)
    assert not accepts(grammar, "<ref>the big cat</ref><box>[[1, 2, 3, 4]]</box>")


def test_blank_phrase_falls_back_to_the_free_label() -> None:
    assert grounding_regex(None) == GROUNDING_REGEX
    assert grounding_regex("  ") == GROUNDING_REGEX


def test_regex_compiles_against_a_tokenizer_vocabulary() -> None:
    # What SGLang does per request: compile against the model's vocabulary, then match tokens.
    vocab = ["<ref>", "</ref>", "<box>", "</box>", "[[", "]]", "[", "]", ", ", "cat", " "]
    vocab += [str(d) for d in range(10)] + ["<eos>"]
    info = xgrammar.TokenizerInfo(vocab, stop_token_ids=[len(vocab) - 1])
    compiled = xgrammar.GrammarCompiler(info).compile_regex(GROUNDING_REGEX)
    matcher = xgrammar.GrammarMatcher(compiled)
    pieces = ["<ref>", "cat", "</ref>", "<box>", "[[", "1", ", ", "2", ", ", "3", ", ", "4"]
    pieces += ["]]", "</box>", "<eos>"]
    for piece in pieces:
        assert matcher.accept_token(vocab.index(piece)), piece
    assert matcher.is_terminated()
