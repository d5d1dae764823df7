"""Word tables on disk (jieba's frequencies, CC-CEDICT): the same answers as loading them whole."""

from __future__ import annotations

from pathlib import Path

from kanjian.memory import bilingual, lexicon

SENTENCES = [
    "这张发票上的税是多少？",
    "地铁站出口标志上写着：A出口，通往人民广场。",
    "照片里的猫是橘色的，趴在沙发上。",
    "请帮我总结这份租房合同的主要条款",
]


def test_jieba_with_the_word_table_segments_as_jieba_loaded_whole() -> None:
    import jieba

    whole = jieba.Tokenizer()
    whole.initialize()
    bilingual.words(SENTENCES[0])  # our jieba: its dictionary is the word table
    assert isinstance(jieba.dt.FREQ, lexicon.WordTable)
    for sentence in SENTENCES:
        assert bilingual.words(sentence) == [w.strip() for w in whole.cut(sentence) if w.strip()]
        assert list(jieba.cut_for_search(sentence)) == list(whole.cut_for_search(sentence))


def test_cedict_lookups_match_the_parsed_dictionary() -> None:
    table = bilingual._cedict()
    assert isinstance(table, lexicon.WordTable)
    whole = bilingual._cedict_dict()
    for word in ("成功", "药", "发票", "地铁", "猫", "合同", "not-a-word"):
        assert table.get(word) == whole.get(word)
        assert (word in table) == (word in whole)


def test_a_damaged_table_is_dropped_and_none_returned(tmp_path: Path) -> None:
    source = tmp_path / "words.txt"
    source.write_text("a 1\n")
    built = lexicon.table(tmp_path, "t", source, lambda: ([("a", 1)], {"total": 1}))
    assert built is not None and built["a"] == 1 and "b" not in built
    built.path.write_bytes(b"not a database at all" * 100)
    assert lexicon.table(tmp_path, "u", source, lambda: ([("a", 1)], {})) is not None
    again = lexicon.table(tmp_path, "t", source, lambda: ([("a", 1)], {}))
    assert again is None and not built.path.exists()  # rebuilt on the next call
    rebuilt = lexicon.table(tmp_path, "t", source, lambda: ([("a", 2)], {}))
    assert rebuilt is not None and rebuilt["a"] == 2
