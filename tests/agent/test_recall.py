"""Recall in the loop with a real memory: the gate decides, the prompt shows it, the run reports it.

A real scripted model server on 127.0.0.1, a real SQLite + chromadb memory (hashing
embedder, so it stays quick), the same recall hook ``Kanjian`` builds.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kanjian.agent.events import Recalled, RecallEvent, RunFinished
from kanjian.agent.loop import Agent
from kanjian.agent.remember import format_recall
from kanjian.agent.session import Session
from kanjian.memory.api import Memory
from kanjian.vlm.client import SGLangClient
from kanjian.vlm.fake_server import ScriptedServer

from .helpers import answer, collect, png, texts

PAST = [
    (
        "lease",
        "Summarise this rental contract.",
        "A one-year apartment lease; rent of $1,850 is due on the first of each month.",
    ),
    (
        "receipt",
        "What's the total on this Starbucks receipt?",
        "The total is $12.50 for a latte and a blueberry muffin.",
    ),
    ("subway", "地铁站出口标志上写着什么？", "标志写着 A 出口通往人民广场和南京路。"),
]
NOTES_HEAD = "Notes from earlier conversations"


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[Memory]:
    mem = Memory.at(tmp_path / "memory", "hash")
    yield mem
    mem.close()


async def _agent(memory: Memory, client: SGLangClient) -> tuple[Agent, dict[str, str]]:
    sessions = {}
    for name, question, reply in PAST:
        sessions[name] = await memory.new_session(name)
        await memory.add_turn(sessions[name], question, reply)

    async def recall(question: str) -> tuple[str | None, tuple[Recalled, ...]]:
        return await format_recall(memory, question, 600, None)

    return Agent(client, recall=recall), sessions


def _raw_messages(body: bytes) -> bytes:
    text = body.decode()
    start = text.index('"messages":') + len('"messages":')
    _, length = json.JSONDecoder().raw_decode(text[start:])
    return text[start : start + length].encode()


async def test_an_unrelated_question_gets_nothing_injected(
    server: ScriptedServer, client: SGLangClient, memory: Memory
) -> None:
    agent, _ = await _agent(memory, client)
    server.enqueue(answer("A violin."))
    events = await collect(agent.run("What instrument is the man in this image playing?", [png()]))
    assert [e for e in events if isinstance(e, RecallEvent)] == [RecallEvent(())]
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.to_json()["recalled"] == []
    user = texts(server.chat_requests[0].json["messages"][1])
    assert not any(NOTES_HEAD in part for part in user)


async def test_a_related_question_gets_its_session_first_and_before_the_image(
    server: ScriptedServer, client: SGLangClient, memory: Memory
) -> None:
    agent, sessions = await _agent(memory, client)
    server.enqueue(answer("On the first."))
    question = "When is the rent due under my apartment lease?"
    events = await collect(agent.run(question, [png()]))
    recall = next(e for e in events if isinstance(e, RecallEvent))
    assert recall.recalled and recall.recalled[0].session == sessions["lease"]
    finished = events[-1]
    assert isinstance(finished, RunFinished)
    record = finished.to_json()["recalled"][0]
    assert (record["session"], record["turn"]) == (sessions["lease"], 1) and record["score"] > 0
    user = texts(server.chat_requests[0].json["messages"][1])
    # The notes, then the image (label and picture), then the question: never in between.
    assert user[0].startswith(NOTES_HEAD) and f"[session {sessions['lease']}, turn 1]" in user[0]
    assert user[-2:] == ["<img>", question]


async def test_recall_keeps_the_prefix_byte_identical_for_follow_ups(
    server: ScriptedServer, client: SGLangClient, memory: Memory
) -> None:
    agent, _ = await _agent(memory, client)
    server.enqueue(answer("On the first."), answer("$1,850."), answer("Yes."))
    session = Session()
    await collect(
        agent.run("When is the rent due under my apartment lease?", [png()], session=session)
    )
    resumed = Session.from_json(json.loads(json.dumps(session.to_json())))
    events = await collect(agent.run("And how much is the rent?", session=resumed))
    # A follow-up is not a new conversation: no recall, and earlier bytes stay as they were.
    assert not [e for e in events if isinstance(e, RecallEvent)]
    await collect(agent.run("Is that monthly?", session=resumed))
    arrays = [_raw_messages(r.body) for r in server.chat_requests]
    for earlier, later in itertools.pairwise(arrays):
        assert later.startswith(earlier[:-1]) and len(later) > len(earlier)
    assert NOTES_HEAD.encode() in arrays[0]
