"""A turn that cannot be stored leaves no session behind (a SIGKILLed ``batch --remember``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kanjian.agent.events import RunFinished
from kanjian.agent.images import ImageEntry, ImageRegistry
from kanjian.agent.remember import record_turn
from kanjian.agent.session import Session
from kanjian.memory.api import Memory
from kanjian.memory.errors import MemoryInputError
from kanjian.vlm.types import Usage


def _finished(session: Session) -> RunFinished:
    return RunFinished(
        id="r1", session=session.id, answer="42", steps=(), images={}, usage=Usage(),
        seconds=0.1, error=None, exit_code=0,
    )  # fmt: skip


async def _record_failing_turn(memory: Memory) -> None:
    session = Session(images=ImageRegistry())
    # An image memory never stored: the turn's insert fails inside its transaction.
    entry = ImageEntry("image_1", "0" * 64, "PNG", "gone.png", 1, 1)
    session.images._entries[entry.id] = entry
    with pytest.raises(MemoryInputError):
        await record_turn(memory, session, _finished(session), "what is it?", 0)


def test_batch_remember_killed_mid_turn_leaves_no_zero_turn_session(tmp_path: Path) -> None:
    memory = Memory.at(tmp_path / "memory", "hash")
    try:
        asyncio.run(_record_failing_turn(memory))
        sessions = memory.core.list_sessions(50, 0)
    finally:
        memory.close()
    assert sessions == []  # the session is created with its first turn, or not at all
