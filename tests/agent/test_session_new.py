"""A new session's first save: no lock and no read (nobody else can know its id), yet it
never replaces a file that is somehow there already."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kanjian.agent import session as session_module
from kanjian.agent.session import Session, sessions_dir


def _turn(session: Session, text: str) -> None:
    session.messages += [
        {"role": "user", "content": [{"type": "text", "text": text}]},
        {"role": "assistant", "content": json.dumps({"answer": text})},
    ]


def test_a_new_session_is_saved_without_the_lock_then_with_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    locked: list[Path] = []
    original = session_module._locked

    def spy(target: Path):  # type: ignore[no-untyped-def]
        locked.append(target)
        return original(target)

    monkeypatch.setattr(session_module, "_locked", spy)
    session = Session()
    assert session.new and len(session.id) == 32
    _turn(session, "first")
    path = session.save()
    assert locked == [] and not session.new
    _turn(session, "second")
    session.save()
    assert locked == [path]  # a later turn: another process may have appended meanwhile
    assert len(Session.load(session.id).messages) == 4
    assert not any(p.name.endswith(".tmp") for p in sessions_dir().iterdir())


def test_a_file_already_there_is_merged_not_replaced() -> None:
    session = Session()
    theirs = Session(id=session.id)
    assert not theirs.new  # an id given, not made here
    _turn(theirs, "theirs")
    theirs.save()
    _turn(session, "ours")
    session.save()
    texts = [m["content"][0]["text"] for m in Session.load(session.id).messages[::2]]
    assert texts == ["theirs", "ours"]


def test_a_session_with_an_id_given_is_not_new() -> None:
    assert not Session(id="abc").new
    assert Session(id="abc").id == "abc"
