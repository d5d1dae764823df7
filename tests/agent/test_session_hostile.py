"""Session files and ids as hostile input, and sessions continued by several processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kanjian.agent.errors import InputError
from kanjian.agent.images import ImageRegistry
from kanjian.agent.session import Session, sessions_dir
from kanjian.vlm.images import load_image
from tests.agent.helpers import png


def user(text: str, *images: str) -> dict[str, object]:
    parts = [{"type": "image", "image_id": i} for i in images]
    return {"role": "user", "content": [*parts, {"type": "text", "text": text}]}


@pytest.mark.parametrize("given", ["../../x", "/abs/path.json", "x.json", "a/b", "..", ""])
def test_session_id_that_is_a_path_is_refused_as_not_an_id(given: str) -> None:
    with pytest.raises(InputError, match=r"is not a session id: an id is 1 to 64 letters"):
        Session.load(given)


def test_forged_id_inside_a_session_file_cannot_steer_the_save(tmp_path: Path) -> None:
    folder = sessions_dir()
    folder.mkdir(parents=True)
    forged = {"version": 1, "id": "../../outside/pwned", "images": [], "messages": []}
    (folder / "abc.json").write_text(json.dumps(forged))
    with pytest.raises(InputError, match=r"is not a kanjian session .*is not a session id"):
        Session.load("abc")
    (folder / "abd.json").write_text(json.dumps({**forged, "id": "other"}))
    with pytest.raises(InputError, match="says its id is 'other', not 'abd'"):
        Session.load("abd")
    with pytest.raises(InputError, match="is not a session id"):
        Session(id="../../outside/pwned").save()
    assert not (folder.parent.parent / "outside").exists()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ('"just a string"', "it holds a JSON str, not an object"),
        ('{"id": "s1", "messages": "hi"}', "its 'messages' is not a list"),
        ('{"id": "s1", "images": [1]}', "its 'images' is not a list of"),
        ('{"id": "s1", "created": "noon"}', "could not convert"),
    ],
)
def test_malformed_session_file_is_one_sentence_not_an_attribute_error(
    content: str, why: str
) -> None:
    folder = sessions_dir()
    folder.mkdir(parents=True)
    (folder / "s1.json").write_text(content)
    with pytest.raises(InputError) as caught:
        Session.load("s1")
    message = str(caught.value)
    assert "is not a kanjian session" in message and why in message
    assert "attribute" not in message


def test_two_continuations_saved_at_once_keep_both_turns_and_renumber_images() -> None:
    first = Session(images=ImageRegistry())
    first.images.add(load_image(png(colour="red")))
    first.messages.append(user("what is it?", "image_1"))
    first.save()
    a, b = Session.load(first.id), Session.load(first.id)
    a.images.add(load_image(png(colour="green")))
    a.messages += [user("and this one?", "image_2"), {"role": "assistant", "content": "A"}]
    b.images.add(load_image(png(colour="blue")))
    b.messages += [user("zoom on image_2", "image_2"), {"role": "assistant", "content": "B"}]
    b.turn_start = 1
    a.save()
    b.save()  # a saved first: b's turn goes after a's, its image_2 becomes image_3
    merged = Session.load(first.id)
    assert [m["content"] for m in merged.messages if m["role"] == "assistant"] == ["A", "B"]
    assert merged.messages[3] == user("zoom on image_3", "image_3")
    assert [e.sha256 for e in merged.images.entries()] == [
        load_image(png(colour=c)).sha256 for c in ("red", "green", "blue")
    ]
    assert b.turn_start == 3  # memory records b's own turn, not a's
