"""``kanjian ask --schema`` and ``kanjian batch`` with schemas, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kanjian.vlm.fake_server import ScriptedServer
from kanjian.vlm.schema import load_schema
from tests.schema.conftest import RECEIPT_SCHEMA, TICKET_SCHEMA, Doc, SignUp

REPO = Path(__file__).resolve().parents[2]


def kanjian(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from kanjian.tui.cli import main; main()", *args],
        capture_output=True, text=True, timeout=120, cwd=REPO, env={**os.environ, "KANJIAN_URL": url},
    )  # fmt: skip


def _chats(server: ScriptedServer) -> list[dict[str, Any]]:
    return [r.json for r in server.requests if r.json and "messages" in r.json]


def test_ask_schema_json_puts_the_object_in_answer(
    server: ScriptedServer, documents: list[Doc]
) -> None:
    ticket = next(d for d in documents if d.kind == "ticket")
    result = kanjian(
        "ask",
        "Read the ticket.",
        "-i",
        str(ticket.path),
        "--schema",
        TICKET_SCHEMA,
        "--json",
        url=server.url,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["answer"] == ticket.truth and record["error"] is None
    union = _chats(server)[-1]["response_format"]["json_schema"]["schema"]["anyOf"]
    assert union[-1]["properties"]["answer"] == load_schema(TICKET_SCHEMA).schema


def test_plain_ask_schema_prints_the_json_object(
    server: ScriptedServer, documents: list[Doc], tmp_path: Path
) -> None:
    schema_file = tmp_path / "receipt.schema.json"
    schema_file.write_text(json.dumps(RECEIPT_SCHEMA), encoding="utf-8")
    receipt = documents[0]
    result = kanjian(
        "ask", "Read it.", "-i", str(receipt.path), "--schema", str(schema_file), url=server.url
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == receipt.truth
    assert result.stderr.startswith("evidence: image_1 [")


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ('{"type": "object", "not": {}}', "keyword 'not'"),
        ("total money", "type 'money'"),
        ("nothere.json", "does not exist"),
        (
            '{"type": "string", "enum": [' + ",".join(f'"{i}"' for i in range(300)) + "]}",
            "over the limit",
        ),
    ],
)
def test_a_bad_schema_exits_2_before_any_model_call(
    server: ScriptedServer, documents: list[Doc], schema: str, words: str
) -> None:
    result = kanjian(
        "ask", "Read it.", "-i", str(documents[0].path), "--schema", schema, url=server.url
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("kanjian: ") and words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert server.requests == []


def _tasks(tmp_path: Path, documents: list[Doc]) -> Path:
    """Per-task schemas in each form: a file next to the tasks, concise, an object; forms
    take ``batch --schema``'s."""
    (tmp_path / "receipt.json").write_text(json.dumps(RECEIPT_SCHEMA), encoding="utf-8")
    rows = []
    for i, doc in enumerate(documents):
        row: dict[str, Any] = {
            "id": f"{doc.kind}-{i}",
            "question": "Extract it.",
            "images": [str(doc.path)],
        }
        if doc.kind == "receipt":
            row["schema"] = "receipt.json"
        elif doc.kind == "ticket":
            row["schema"] = TICKET_SCHEMA if i % 2 else load_schema(TICKET_SCHEMA).schema
        rows.append(row)
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("processes", ["1", "2"])
def test_batch_with_per_task_schemas_validates_every_line(
    server: ScriptedServer, documents: list[Doc], tmp_path: Path, processes: str
) -> None:
    tasks = _tasks(tmp_path, documents)
    form_schema = json.dumps(SignUp.model_json_schema())
    result = kanjian(
        "batch",
        str(tasks),
        "-c",
        "4",
        "-j",
        processes,
        "--no-tools",
        "--schema",
        form_schema,
        url=server.url,
    )
    assert result.returncode == 0, result.stderr
    records = {r["id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert len(records) == len(documents) >= 30
    kinds = {"receipt": RECEIPT_SCHEMA, "ticket": TICKET_SCHEMA, "form": SignUp}
    for i, doc in enumerate(documents):
        record = records[f"{doc.kind}-{i}"]
        assert record["error"] is None and record["answer"] == doc.truth
        assert load_schema(kinds[doc.kind]).error(record["answer"]) is None


def test_batch_names_the_line_of_a_bad_task_schema(server: ScriptedServer, tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(
        '{"id": 1, "question": "q", "schema": "a int"}\n{"id": 2, "question": "q", "schema": {"type": "object", "uniqueItems": true}}\n',
        encoding="utf-8",
    )
    result = kanjian("batch", str(tasks), url=server.url)
    assert result.returncode == 2 and result.stdout == ""
    assert f"{tasks}:2: The schema keyword 'uniqueItems'" in result.stderr
    assert _chats(server) == []
