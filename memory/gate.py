"""The recall gate: does a past turn belong in a new conversation's prompt?

Injected notes cost tokens in every later step and a model reads them as context, so a
turn goes in only when a score with an absolute meaning says it is about the question:

* **coverage** (0..1): the IDF-weighted share of the question's content words that the
  turn contains. Stop words and generic image words ("this image", "photo", "这张图片",
  "照片里", "describe", "什么") are dropped first; a Chinese word is met by itself or by
  one of its CC-CEDICT glosses (a gloss counts as much as its own idf says, so "receipt"
  counts fully and "person" barely); a prior of half a rare word in the denominator keeps
  one matching word of a one-word question weak.
* **cosine**: the embedder's similarity between the question's content words and the turn.

The fused score ``lexical * coverage + (1 - lexical) * cosine``, plus ``cross_bonus`` for a
turn in the other language (an English-only embedder sees Chinese through glosses and
scores it lower), must reach the embedder's ``threshold``; turns under ``relative`` of the
best one stay out; at most :data:`MAX_RECALLED` go in, best first. Nothing passes, nothing
is injected.

Calibration (``python -m bench.recall_gate --calibrate``, which asks no held-out question):
160 stored conversations with overlapping topics; a development set of 56 related
questions (26 cross-lingual) and 35 unrelated ones picks the cut (most targets injected
with at most 3.5 % false injections and precision at least 0.8, then the fewest false
injections); a held-out set of 112 related questions (51 cross-lingual) and 55 unrelated
ones measures it. MiniLM (the default), held out::

    calibrated gate  false-injection 3.6 %   target injected 89.3 %  cross-lingual 88.2 %  precision 0.75
    previous gate    false-injection 1.8 %   target injected 88.4 %  cross-lingual 86.3 %  precision 0.66
    any lexical hit  false-injection 98.2 %  target injected 99.1 %  cross-lingual 98.0 %  precision 0.10

(previous: ``Cut(0.05, 0.38, relative=0.7)``, no bonus; any lexical hit: the first gate, any
of the 8 best hybrid hits the lexical side found). The hashing embedder (no model
installed) has its own, weaker cut (held out: 9.1 % false, 71.4 % targets, precision
0.78); an embedder the gate was not calibrated for (an OpenAI-compatible server) gets
:data:`LEXICAL_ONLY`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from kanjian.memory import bilingual
from kanjian.memory.records import Hit

__all__ = [
    "CALIBRATION",
    "MAX_RECALLED",
    "Candidate",
    "Concept",
    "Cut",
    "concepts",
    "content_text",
    "coverage",
    "crosses",
    "cut_for",
    "idf",
    "weigh",
]

# Words that say a question is about an image, or how it is asked, but not what it is about:
# "What is in this photo?" shares them with every stored turn and means none of them.
_GENERIC_EN = [
    "image",
    "picture",
    "pic",
    "photo",
    "photograph",
    "screenshot",
    "screen",
    "shot",
    "snapshot",
    "show",
    "say",
    "tell",
    "read",
    "write",
    "written",
    "describe",
    "description",
    "look",
    "see",
    "seen",
    "display",
    "appear",
    "kind",
    "type",
    "sort",
    "name",
    "call",
    "thing",
    "stuff",
    "something",
    "anything",
    "one",
    "ones",
    "please",
    "help",
    "again",
    "remind",
    "recall",
    "last",
    "earlier",
    "before",
    "previous",
    "ago",
    "still",
    "now",
    "much",
    "many",
    "get",
    "got",
    "do",
    "did",
    "doe",
    "done",
    "doing",
    "know",
    "think",
    "mean",
    "happen",
    "go",
    "going",
    "am",
    "be",
    "being",
    "use",
    "using",
    "used",
    "have",
    "having",
    "make",
    "made",
    "here",
    "there",
    "about",
    "like",
    "some",
    "any",
    "all",
    "which",
    "whose",
    "whom",
    "how",
    "what",
    "whats",
    "brief",
    "briefly",
    "sentence",
    "word",
    "detail",
]
_GENERIC_ZH = [
    "图片",
    "照片",
    "图",
    "图中",
    "图里",
    "图上",
    "照片里",
    "照片中",
    "图片里",
    "图片中",
    "截图",
    "相片",
    "画面",
    "这张",
    "那张",
    "张",
    "这",
    "这个",
    "这些",
    "那",
    "那个",
    "那些",
    "这是",
    "那是",
    "上面",
    "里面",
    "里",
    "中",
    "上",
    "什么",
    "怎么",
    "怎么样",
    "多少",
    "几",
    "哪",
    "哪里",
    "哪儿",
    "哪个",
    "哪些",
    "是不是",
    "是否",
    "吗",
    "呢",
    "吧",
    "写",
    "写着",
    "写的",
    "显示",
    "说",
    "看",
    "看到",
    "看看",
    "能",
    "可以",
    "一下",
    "描述",
    "告诉",
    "请",
    "帮",
    "帮我",
    "我",
    "你",
    "他",
    "她",
    "它",
    "我们",
    "你们",
    "他们",
    "上次",
    "那次",
    "之前",
    "以前",
    "来着",
    "到底",
    "一",
    "有",
    "没有",
    "是",
    "的",
    "了",
    "在",
    "拍",
    "拍的",
    "东西",
    "内容",
    "叫",
    "名字",
    "干",
    "做",
    "干什么",
    "在干什么",
]
MAX_RECALLED = 3
# Coverage is smoothed as if every question had half a rare word more that no turn meets:
# one matching word of a one-word question is weak evidence, four of four strong.
PRIOR = 0.5
GENERIC = (
    frozenset(bilingual.stem(w) for w in _GENERIC_EN) | frozenset(_GENERIC_ZH) | bilingual.ZH_STOP
)


@dataclass(frozen=True, slots=True)
class Concept:
    """One content word of a question, with the terms that count as meeting it."""

    head: str
    alternatives: frozenset[str]  # the head and, for a Chinese word, its English glosses


def concepts(question: str) -> list[Concept]:
    """The content words of ``question``: stop words and generic image words removed."""
    out: dict[str, Concept] = {}
    if not bilingual.has_cjk(question):
        for term in bilingual.terms(question):
            if is_content(term) and term not in out:
                out[term] = Concept(term, frozenset([term]))
        return list(out.values())
    for segment in bilingual.words(question):
        if segment in GENERIC or segment in out:
            continue
        if bilingual.has_cjk(segment):
            glosses = [g for w in bilingual.known_words(segment) for g in bilingual.gloss(w)]
            out[segment] = Concept(segment, frozenset([segment, *glosses]) - GENERIC)
        else:
            for term in bilingual.terms(segment):
                if is_content(term) and term not in out:
                    out[term] = Concept(term, frozenset([term]))
    return list(out.values())


def content_text(question: str) -> str:
    """The question without generic words: what the vector index is asked for recall."""
    return " ".join(c.head for c in concepts(question))


def idf(df: int, n: int) -> float:
    """BM25's idf, kept positive (a term in every turn still weighs a little)."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def concept_weight(concept: Concept, df: Mapping[str, int], n: int) -> float:
    """How much meeting ``concept`` says: the idf of its head, or, when no turn has the
    head (a Chinese word in an English store), of its rarest gloss that some turn has;
    a concept no turn has at all weighs most."""
    if df.get(concept.head, 0):
        return idf(df[concept.head], n)
    present = [df[t] for t in concept.alternatives if df.get(t, 0)]
    return idf(min(present) if present else 0, n)


def coverage(
    question: Sequence[Concept],
    doc_terms: Iterable[str],
    df: Mapping[str, int],
    n: int,
    prior: float = 0.0,
) -> float:
    """IDF-weighted share of the question's concepts the turn contains, in [0, 1].

    ``df`` holds each alternative's document frequency among ``n`` turns. A concept met
    through a gloss earns that gloss's weight (capped at the concept's): a rare gloss
    ("receipt") counts fully, one that half the store contains ("person") barely counts.
    ``prior`` is added to the denominator (see :data:`PRIOR`).
    """
    terms = set(doc_terms)
    total, met = prior, 0.0
    for concept in question:
        own = concept_weight(concept, df, n)
        total += own
        if concept.head in terms:
            met += own
            continue
        best = max((idf(df.get(t, 0), n) for t in concept.alternatives & terms), default=0.0)
        met += min(own, best)
    return met / total if total else 0.0


def is_content(term: str) -> bool:
    """Not generic, and not a stray letter ("s" of "what's"): numbers and words count."""
    return term not in GENERIC and (len(term) > 1 or term.isdigit())


@dataclass(frozen=True, slots=True)
class Candidate:
    """A past turn weighed for recall: its lexical coverage of the question, its cosine,
    and whether the two are in different languages (see :attr:`Cut.cross_bonus`)."""

    hit: Hit
    coverage: float
    cosine: float
    cross: bool = False


def crosses(question: str, turn_text: str) -> bool:
    """Whether ``question`` and a turn are in different languages (Chinese or not)."""
    return bilingual.has_cjk(question) != bilingual.has_cjk(turn_text)


class Postings(Protocol):
    """What the gate reads from the lexical index (:class:`memory.lexical.LexicalIndex`)."""

    def __len__(self) -> int: ...

    def doc_freq(self, terms: Iterable[str]) -> dict[str, int]: ...

    def terms_in(
        self, terms: Iterable[str], keys: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], set[str]]: ...


def weigh(
    question: str,
    content: Sequence[Concept],
    hits: Sequence[Hit],
    cosines: Mapping[tuple[str, int], float],
    postings: Postings,
) -> list[Candidate]:
    """The retrievers' hits as candidates: coverage read from the postings (no text is
    segmented again), the cosine each retriever found (0 if none), and the language."""
    df = postings.doc_freq({t for c in content for t in c.alternatives})
    n = max(len(postings), 1)
    prior = PRIOR * idf(0, n)
    keys = [(h.session, h.turn) for h in hits]
    contained = postings.terms_in(df, keys)
    return [
        Candidate(
            hit,
            coverage(content, contained.get(key, set()), df, n, prior),
            cosines.get(key, 0.0),
            crosses(question, f"{hit.question} {hit.answer}"),
        )
        for hit, key in zip(hits, keys, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class Cut:
    """Where the gate passes a turn.

    The score is ``lexical * coverage + (1 - lexical) * cosine``, plus ``cross_bonus`` for
    a turn in the other language, and must reach ``threshold``; coverage must reach
    ``min_coverage`` too (a cosine alone, with no word of the question in the turn, is a
    neighbouring topic: a butterfly for a bird). The bonus is there because an
    English-only embedder sees a Chinese text through the first sense of each word's
    gloss: the same question scores a Chinese turn lower than its English twin.
    ``relative`` keeps only turns scoring at least that share of the best one, so a near
    miss beside a clear hit (the other parking garage, the other prescription) stays out.
    """

    lexical: float
    threshold: float
    min_coverage: float = 0.0
    relative: float = 0.0
    cross_bonus: float = 0.0

    def score(self, candidate: Candidate) -> float:
        if candidate.coverage < self.min_coverage:
            return 0.0
        cosine = max(candidate.cosine, 0.0)
        bonus = self.cross_bonus if candidate.cross else 0.0
        return self.lexical * candidate.coverage + (1.0 - self.lexical) * cosine + bonus

    def select(self, candidates: Iterable[Candidate]) -> list[tuple[float, Hit]]:
        """The candidates that pass, best first, at most :data:`MAX_RECALLED`."""
        scored = sorted(
            ((self.score(c), c.hit) for c in candidates),
            key=lambda pair: (-pair[0], pair[1].session, pair[1].turn),
        )
        if not scored or scored[0][0] < self.threshold:
            return []
        floor = max(self.threshold, self.relative * scored[0][0])
        return [pair for pair in scored if pair[0] >= floor][:MAX_RECALLED]


# Per embedder: cosine similarities differ between models. Any other embedder (an OpenAI
# server) gets the lexical cut alone.
CALIBRATION: dict[str, Cut] = {
    "all-minilm-l6-v2": Cut(0.1, 0.41, relative=0.8, cross_bonus=0.05),
    "hash": Cut(0.3, 0.35, relative=0.6, cross_bonus=0.06),
}
LEXICAL_ONLY = Cut(1.0, 0.6, relative=0.8)


def cut_for(embedder: str) -> Cut:
    return CALIBRATION.get(embedder, LEXICAL_ONLY)
