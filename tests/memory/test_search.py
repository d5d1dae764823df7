"""Hybrid search, filters, recall, forget and reindex — embedded and against a Chroma server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kanjian.memory.api import Memory
from kanjian.memory.errors import MemoryInputError
from kanjian.memory.records import StoredImageRef

CONVERSATIONS = [
    (
        "receipt",
        "What is the total on this receipt?",
        "The total is $12.50 at Starbucks: a latte and a muffin.",
        "STARBUCKS LATTE 4.50 MUFFIN 8.00 TOTAL 12.50",
    ),
    ("subway", "地铁站出口标志上写着什么？", "标志上写着：A出口，通往人民广场。", "A出口 人民广场"),
    (
        "chart",
        "Which month had the highest sales in this bar chart?",
        "March had the highest sales, about 340 units.",
        "",
    ),
    ("cat", "这张照片里的猫是什么颜色的？", "照片里的猫是橘色的，趴在沙发上。", ""),
    (
        "contract",
        "Summarise this rental contract.",
        "A one-year apartment lease; rent is due on the first of each month.",
        "",
    ),
]


async def _fill(memory: Memory, png: Callable[..., bytes]) -> dict[str, str]:
    sessions: dict[str, str] = {}
    for i, (name, question, answer, ocr) in enumerate(CONVERSATIONS):
        sid = await memory.new_session(name)
        images = [StoredImageRef(await memory.put_image(png(size=(40 + i, 40))), "image_1")]
        await memory.add_turn(sid, question, answer, images=images if ocr else [], ocr_text=ocr)
        sessions[name] = sid
    return sessions


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("receipt total", "receipt"),  # English -> English
        ("人民广场出口", "subway"),  # Chinese -> Chinese
        ("收据上的总金额", "receipt"),  # Chinese -> English
        ("subway exit sign", "subway"),  # English -> Chinese
        ("photo of a cat", "cat"),  # English -> Chinese
        ("销售图表", "chart"),  # Chinese -> English
    ],
)
async def test_hybrid_search_finds_turns_across_languages(
    memory: Memory, png: Callable[..., bytes], query: str, expected: str
) -> None:
    sessions = await _fill(memory, png)
    hits = await memory.search(query, k=3)
    assert hits[0].session == sessions[expected], [h.text for h in hits]


@pytest.mark.parametrize("mode", ["vector", "lexical"])
async def test_each_retriever_alone_works(
    memory: Memory, png: Callable[..., bytes], mode: str
) -> None:
    sessions = await _fill(memory, png)
    hits = await memory.search("rental lease contract", k=2, mode=mode)  # type: ignore[arg-type]
    assert hits[0].session == sessions["contract"]
    assert list(hits[0].ranks) == [mode]


async def test_filters_session_image_and_dates(memory: Memory, png: Callable[..., bytes]) -> None:
    sessions = await _fill(memory, png)
    only = await memory.search("total", k=5, session=sessions["chart"])
    assert {h.session for h in only} <= {sessions["chart"]}
    with_images = await memory.search("什么", k=5, has_image=True)
    assert with_images and all(h.images for h in with_images)
    future = time.time() + 3600
    assert await memory.search("receipt", since=future) == []
    assert await memory.search("receipt", until=future)


async def test_hit_json_has_the_design_shape(memory: Memory, png: Callable[..., bytes]) -> None:
    await _fill(memory, png)
    hit = (await memory.search("Starbucks latte", k=1))[0]
    data = hit.as_dict()
    assert list(data) == ["session", "turn", "score", "text", "images", "created"]
    assert data["text"].startswith("Q: What is the total") and "A: The total" in data["text"]
    assert data["turn"] == 1 and await asyncio.to_thread(Path(data["images"][0]).is_file)
    assert data["created"].endswith("+00:00")


async def test_recall_fits_the_budget_and_skips_the_current_session(
    memory: Memory, png: Callable[..., bytes]
) -> None:
    sessions = await _fill(memory, png)
    hits = await memory.recall("What was the total on the Starbucks receipt?", budget_tokens=60)
    assert hits and hits[0].session == sessions["receipt"]
    from kanjian.memory.retrieval import estimate_tokens

    assert sum(estimate_tokens(h.text) for h in hits) <= 60
    assert (
        await memory.recall(
            "What was the total on the Starbucks receipt?", 60, exclude_session=sessions["receipt"]
        )
        == []
    )


async def test_forget_removes_the_session_from_the_vector_index(
    memory: Memory, png: Callable[..., bytes]
) -> None:
    sessions = await _fill(memory, png)
    # Remembering writes SQLite only; opening (or using) the index catches it up.
    assert memory.core.synced_index().count() == len(CONVERSATIONS)
    await memory.forget(sessions["receipt"])
    assert memory.core.index.count() == len(CONVERSATIONS) - 1
    for mode in ("vector", "lexical", "hybrid"):
        hits = await memory.search("Starbucks receipt", k=5, mode=mode)  # type: ignore[arg-type]
        assert sessions["receipt"] not in {h.session for h in hits}


async def test_reindex_rebuilds_from_sqlite(memory: Memory, png: Callable[..., bytes]) -> None:
    sessions = await _fill(memory, png)
    memory.core.index.reset()
    assert memory.core.index.count() == 0
    assert await memory.reindex() == len(CONVERSATIONS)
    assert (await memory.search("bar chart sales", mode="vector"))[0].session == sessions["chart"]


async def test_turns_missing_from_the_index_are_indexed_on_next_open(
    tmp_path: Path, backend: str | None, png: Callable[..., bytes]
) -> None:
    root = tmp_path / "memory"
    first = Memory.at(root, "hash", url=backend)
    if backend:
        first.core.index.reset()
    sessions = await _fill(first, png)
    # A turn committed to SQLite whose index write never happened (a crash in between).
    first.core.store.add_turn(sessions["cat"], "猫叫什么名字？", "它叫橘子。")
    first.close()
    second = Memory.at(root, "hash", url=backend)
    assert second.core.index.count() == len(CONVERSATIONS) + 1
    assert second.core.store.counts()["unindexed"] == 0
    second.close()


async def test_a_new_embedder_gets_its_own_collection(
    tmp_path: Path, png: Callable[..., bytes]
) -> None:
    from kanjian.memory.embedders import HashEmbedder

    root = tmp_path / "memory"
    small = Memory.at(root, HashEmbedder(dim=64))
    await _fill(small, png)
    small.core.synced_index()  # remembering alone does not open chromadb
    small.close()
    big = Memory.at(root, HashEmbedder(dim=128))
    assert big.core.index.name == "turns__hash__128"
    assert big.core.index.count() == len(CONVERSATIONS)  # filled from SQLite on open
    names = {c.name for c in big.core.index.client.list_collections()}
    assert {"turns__hash__64", "turns__hash__128"} <= names
    big.close()


async def test_bad_arguments_are_input_errors(embedded: Memory) -> None:
    with pytest.raises(MemoryInputError, match="k=0"):
        await embedded.search("x", k=0)
    with pytest.raises(MemoryInputError, match="'fuzzy'"):
        await embedded.search("x", mode="fuzzy")  # type: ignore[arg-type]


async def test_empty_store_and_empty_query_return_nothing(embedded: Memory) -> None:
    assert await embedded.search("anything") == []
    sid = await embedded.new_session()
    await embedded.add_turn(sid, "hello", "world")
    assert await embedded.search("？？", mode="lexical") == []
