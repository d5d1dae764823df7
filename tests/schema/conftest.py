"""Extraction documents rendered with Pillow, and a scripted model that reads them.

Three kinds of document, each with the schema form a user would give for it: receipts (a
JSON Schema file with nested items), train tickets (llm's concise form) and sign-up forms
(a pydantic model). Each image carries a small marker square in its top-left corner whose
colour names the document; the scripted model reads that pixel from the image it was sent
(decoded from the request, as a model sees it) and answers with the document's fields,
shaped by the answer branch of the request's ``response_format`` the way a constraining
server would shape it, citing the box where the total or key field was drawn.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from pydantic import BaseModel

from kanjian.vlm.fake_server import ScriptedServer

W, H = 400, 300
RECEIPT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "merchant": {"type": "string"},
        "date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "price": {"type": "number"}},
                "required": ["name", "price"],
            },
            "minItems": 1,
        },
        "total": {"type": "number"},
    },
    "required": ["merchant", "date", "items", "total"],
}
TICKET_SCHEMA = "passenger, train, origin, destination, date, seat, price float"


class SignUp(BaseModel):
    name: str
    email: str
    age: int
    newsletter: bool


@dataclass
class Doc:
    kind: str
    marker: tuple[int, int, int]
    truth: dict[str, Any]
    # Where the key field (total, seat, email) was drawn, in pixels.
    key_box: tuple[int, int, int, int]
    path: Path = field(default_factory=Path)


def _marker(index: int) -> tuple[int, int, int]:
    return (10 + index * 6, 240 - index * 5, 60 + (index * 37) % 150)


def _documents() -> list[Doc]:
    merchants = ["ACME Foods", "Bean There", "Tea House", "Noodle Bar", "Corner Deli", "Fresh Mart"]
    names = ["Li Wei", "Ana Silva", "Tom Berg", "Mei Chen", "Omar Haddad", "Sara Rossi"]
    docs: list[Doc] = []
    for i in range(12):
        items = [
            {"name": f"item {k + 1}", "price": round(1.25 + i + k * 0.5, 2)}
            for k in range(1 + i % 3)
        ]
        total = round(sum(it["price"] for it in items), 2)
        truth = {
            "merchant": merchants[i % 6],
            "date": f"2024-0{1 + i % 9}-1{i % 10}",
            "items": items,
            "total": total,
        }
        docs.append(Doc("receipt", _marker(len(docs)), truth, (40, 230, 360, 262)))
    for i in range(10):
        truth = {
            "passenger": names[i % 6], "train": f"G{100 + i}", "origin": "Beijing", "destination": "Shanghai",
            "date": f"2024-05-{10 + i}", "seat": f"{i + 1:02d}A", "price": 553.0 + i,
        }  # fmt: skip
        docs.append(Doc("ticket", _marker(len(docs)), truth, (40, 150, 200, 180)))
    for i in range(10):
        truth = {
            "name": names[i % 6],
            "email": f"user{i}@example.com",
            "age": 20 + i,
            "newsletter": i % 2 == 0,
        }
        docs.append(Doc("form", _marker(len(docs)), truth, (40, 100, 380, 130)))
    return docs


def _render(doc: Doc, path: Path) -> None:
    image = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 15, 15), fill=doc.marker)
    y = 30
    for key, value in doc.truth.items():
        text = (
            ", ".join(f"{v['name']} {v['price']}" for v in value)
            if isinstance(value, list)
            else value
        )
        draw.text((40, y), f"{key}: {text}", fill="black")
        y += 24
    draw.rectangle(doc.key_box, outline="red")
    image.save(path)


@pytest.fixture(scope="session")
def documents(tmp_path_factory: pytest.TempPathFactory) -> list[Doc]:
    folder = tmp_path_factory.mktemp("docs")
    docs = _documents()
    for i, doc in enumerate(docs):
        doc.path = folder / f"{doc.kind}-{i}.png"
        _render(doc, doc.path)
    return docs


# ---------------------------------------------------------------------------- the model


def _images(request: dict[str, Any]) -> list[Image.Image]:
    found = []
    for message in request["messages"]:
        content = message["content"]
        for part in content if isinstance(content, list) else []:
            if part.get("type") == "image_url":
                data = part["image_url"]["url"].split(",", 1)[1]
                found.append(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))
    return found


def _answer_branch(request: dict[str, Any]) -> dict[str, Any] | None:
    fmt = request.get("response_format")
    if not fmt:
        return None
    schema = fmt["json_schema"]["schema"]
    for branch in schema.get("anyOf", [schema]):
        if "answer" in branch["properties"]:
            return dict(branch["properties"]["answer"])
    return None


def _last_user_text(request: dict[str, Any]) -> str:
    content = request["messages"][-1]["content"]
    return " ".join(p.get("text", "") for p in content if isinstance(p, dict))


def _requested_fields(request: dict[str, Any]) -> list[str]:
    """From the response_format when constrained, else from the schema note in the question."""
    branch = _answer_branch(request)
    if branch is None:
        for message in request["messages"]:
            content = message["content"]
            for part in content if isinstance(content, list) else []:
                match = re.search(r"JSON Schema:\n(\{.*\})", part.get("text", ""), re.S)
                if match:
                    branch = json.loads(match.group(1))
    assert branch is not None, "the request carries no schema"
    return list(branch["properties"])


@dataclass
class ReadingModel:
    """Reads the marker of image_1 and answers that document's fields."""

    docs: list[Doc]
    # "exact": well-formed (as constrained decoding makes it); "sloppy": prose, a fence, a
    # number as a string, until the retry feedback; "hopeless": always a string total.
    mode: str = "exact"
    outputs: list[tuple[dict[str, Any], str]] = field(default_factory=list)

    def doc_of(self, request: dict[str, Any]) -> Doc:
        pixel = _images(request)[0].getpixel((7, 7))
        return min(
            self.docs, key=lambda d: sum(abs(a - b) for a, b in zip(d.marker, pixel, strict=True))
        )

    def __call__(self, request: dict[str, Any]) -> str:
        doc = self.doc_of(request)
        fields = _requested_fields(request)
        value = {k: doc.truth[k] for k in fields}
        x1, y1, x2, y2 = doc.key_box
        box = [x1 * 1000 // W, y1 * 1000 // H, -(-x2 * 1000 // W), -(-y2 * 1000 // H)]
        action = {
            "thought": f"a {doc.kind}",
            "answer": value,
            "evidence": [{"image": "image_1", "box": box}],
        }
        retried = "could not be used" in _last_user_text(request)
        if self.mode == "hopeless" or (self.mode == "sloppy" and not retried):
            key = next(
                k
                for k, v in value.items()
                if isinstance(v, float | int) and not isinstance(v, bool)
            )
            action["answer"] = {**value, key: f"{value[key]} CNY"}
            text = "Here you go:\n```json\n" + json.dumps(action, ensure_ascii=False) + "\n```"
        else:
            text = json.dumps(action, ensure_ascii=False)
        self.outputs.append((request, text))
        return text


@pytest.fixture
def reading_model(documents: list[Doc]) -> ReadingModel:
    return ReadingModel(documents)


@pytest.fixture
def server(reading_model: ReadingModel) -> Iterator[ScriptedServer]:
    with ScriptedServer(responder=reading_model) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _quick_config(_hermetic_env: Path) -> None:
    (_hermetic_env / "config.toml").write_text(
        "[vlm]\nretries = 0\n\n[memory]\nenabled = false\n", encoding="utf-8"
    )
