"""agent.session and agent.images: ids, persistence by content hash, atomic saves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from kanjian.agent.errors import InputError
from kanjian.agent.images import FileImageStore, ImageRegistry
from kanjian.agent.session import Session, sessions_dir
from kanjian.tools.base import DerivedImage, ToolContext
from kanjian.tools.errors import ToolInputError
from kanjian.vlm.images import load_image

from .helpers import png


def test_registry_numbers_attachments_and_derived_images_in_order(tmp_path: Path) -> None:
    registry = ImageRegistry(store=FileImageStore(tmp_path / "images"))
    first = registry.add(load_image(png(100, 80)))
    crop = registry.add_derived(
        DerivedImage(Image.new("RGB", (10, 8)), "zoom of image_1", "image_1", (5, 5, 15, 13))
    )
    second = registry.add(load_image(png(20, 20, "blue"), name="b.png"))
    assert [first.id, crop.id, second.id] == ["image_1", "image_2", "image_3"]
    assert (
        registry.crop_of("image_2") == ("image_1", (5, 5, 15, 13))
        and registry.crop_of("image_1") is None
    )
    assert isinstance(registry, ToolContext)
    assert registry.wire_url("image_1") is registry.wire_url("image_1")
    assert registry.wire_url("image_1").startswith("data:image/")
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == sorted(
        f"{e.sha256}.png" for e in registry.entries()
    )
    with pytest.raises(
        ToolInputError,
        match="Image 'image_9' does not exist; the images are: image_1, image_2, image_3",
    ):
        registry.image("image_9")


def test_registry_round_trips_through_json_with_the_same_wire_bytes(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path / "images")
    registry = ImageRegistry(store=store)
    registry.add(load_image(png(300, 200)))
    registry.add_derived(DerivedImage(Image.new("RGB", (30, 20), "red"), "overlay", "image_1"))
    urls = [registry.wire_url(i) for i in registry.image_ids()]
    again = ImageRegistry.from_json(json.loads(json.dumps(registry.to_json())), store=store)
    assert again.image_ids() == ["image_1", "image_2"]
    assert [again.wire_url(i) for i in again.image_ids()] == urls
    assert again.image("image_2").size == (30, 20)


def test_truncate_forgets_a_cancelled_turns_images(tmp_path: Path) -> None:
    registry = ImageRegistry(store=FileImageStore(tmp_path / "images"))
    for colour in ("red", "green", "blue"):
        registry.add(load_image(png(colour=colour)))
    registry.truncate(1)
    assert registry.image_ids() == ["image_1"]
    assert registry.add(load_image(png(colour="white"))).id == "image_2"


def test_session_saves_atomically_and_loads_by_id() -> None:
    session = Session()
    session.messages.append({"role": "user", "content": [{"type": "text", "text": "hi"}]})
    path = session.save()
    assert path == sessions_dir() / f"{session.id}.json"
    # No temp file, and no lock: a new session's first save needs none (test_session_new).
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    loaded = Session.load(session.id)
    assert (loaded.id, loaded.messages) == (session.id, session.messages)


def test_unknown_session_is_one_clear_sentence() -> None:
    with pytest.raises(
        InputError, match=r"There is no session 'nope' \(looked for .*nope\.json'\); pass the id"
    ):
        Session.load("nope")


def test_corrupt_session_file_is_one_clear_sentence() -> None:
    bad = sessions_dir() / "x.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    with pytest.raises(
        InputError, match=r"Cannot read session file '.*x\.json': .* Delete it or pass another id\."
    ):
        Session.load("x")
