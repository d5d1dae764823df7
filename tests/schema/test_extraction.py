"""32 extraction tasks (receipts, tickets, forms) through the scripted server and the real agent.

Every answer must validate; the user's schema must reach the wire as the answer branch of
``response_format``; xgrammar (what SGLang runs) must compile each schema sent and accept
each reply; a server that cannot or does not constrain still yields valid answers (one
repair round) or a clear per-task error.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
from xgrammar import Grammar
from xgrammar.testing import _is_grammar_accept_string as accepts

from kanjian.agent.api import Kanjian
from kanjian.vlm.fake_server import ScriptedServer
from kanjian.vlm.schema import load_schema
from tests.schema.conftest import (
    RECEIPT_SCHEMA,
    TICKET_SCHEMA,
    Doc,
    ReadingModel,
    SignUp,
)

SCHEMAS: dict[str, Any] = {"receipt": RECEIPT_SCHEMA, "ticket": TICKET_SCHEMA, "form": SignUp}
QUESTION = "Extract the fields of this document."


@cache
def _grammar(schema_text: str) -> Grammar:
    return Grammar.from_json_schema(schema_text)


def _expected(doc: Doc) -> dict[str, Any]:
    return doc.truth


def _chats(server: ScriptedServer) -> list[dict[str, Any]]:
    return [r.json for r in server.requests if r.json and "messages" in r.json]


async def test_every_extraction_validates_and_the_schema_is_on_the_wire(
    server: ScriptedServer, documents: list[Doc], reading_model: ReadingModel
) -> None:
    assert len(documents) >= 30
    async with Kanjian(url=server.url, use_tools=False) as kanjian:
        for doc in documents:
            schema = SCHEMAS[doc.kind]
            result = await kanjian.ask(QUESTION, [doc.path], schema=schema)
            assert result.error is None, (doc.kind, result.error)
            assert load_schema(schema).error(result.answer) is None
            assert result.answer == _expected(doc)
            sent = server.requests[-1].json["response_format"]
            answer_branch = sent["json_schema"]["schema"]["properties"]["answer"]
            assert answer_branch == load_schema(schema).schema
    # xgrammar compiles every schema that went out and accepts every reply it was given.
    for request, text in reading_model.outputs:
        schema_text = json.dumps(request["response_format"]["json_schema"]["schema"])
        assert accepts(_grammar(schema_text), text), text


async def test_the_pydantic_model_comes_back_as_an_instance(
    server: ScriptedServer, documents: list[Doc]
) -> None:
    form = next(d for d in documents if d.kind == "form")
    async with Kanjian(url=server.url, use_tools=False) as kanjian:
        signup = await kanjian.extract(QUESTION, [form.path], schema=SignUp)
    assert isinstance(signup, SignUp) and signup.model_dump() == form.truth


def test_the_blocking_api_extracts_too(server: ScriptedServer, documents: list[Doc]) -> None:
    ticket = next(d for d in documents if d.kind == "ticket")
    with Kanjian.blocking(url=server.url, use_tools=False) as kanjian:
        value = kanjian.extract(QUESTION, [ticket.path], schema=TICKET_SCHEMA)
    assert value == ticket.truth


async def test_tools_still_run_before_a_structured_answer(
    documents: list[Doc], reading_model: ReadingModel
) -> None:
    receipt = documents[0]

    def zoom_first(request: dict[str, Any]) -> str:
        observed = any(
            isinstance(m["content"], list)
            and any(
                str(p.get("text", "")).startswith("Observation from zoom") for p in m["content"]
            )
            for m in request["messages"]
        )
        if not observed:
            action = {
                "thought": "look closer",
                "tool": "zoom",
                "args": {"image": "image_1", "box": [0, 700, 1000, 1000]},
            }
            return json.dumps(action)
        return reading_model(request)

    with ScriptedServer(responder=zoom_first) as srv:
        async with Kanjian(url=srv.url) as kanjian:
            result = await kanjian.ask(QUESTION, [receipt.path], schema=RECEIPT_SCHEMA)
        # The zoom step was asked with the union: tool branches and the structured answer.
        first = _chats(srv)[0]["response_format"]["json_schema"]["schema"]
    assert [s.tool for s in result.steps] == ["zoom"]
    assert result.error is None and result.answer == receipt.truth
    assert any(
        branch["properties"].get("answer") == load_schema(RECEIPT_SCHEMA).schema
        for branch in first["anyOf"]
    )


async def test_a_server_that_cannot_constrain_gets_one_repair_round(
    documents: list[Doc], reading_model: ReadingModel
) -> None:
    reading_model.mode = "sloppy"
    # An OpenAI-compatible server that is not SGLang: no response_format is sent at all.
    with ScriptedServer(
        responder=reading_model, owned_by="openai", missing={"/model_info", "/get_model_info"}
    ) as srv:
        async with Kanjian(url=srv.url, use_tools=False) as kanjian:
            for doc in documents[:8]:
                result = await kanjian.ask(QUESTION, [doc.path], schema=SCHEMAS[doc.kind])
                assert result.error is None and result.answer == doc.truth
        chats = _chats(srv)
    assert len(chats) == 16  # each task: the sloppy reply, then the repaired one
    assert all("response_format" not in c for c in chats)
    feedback = chats[1]["messages"][-1]["content"][0]["text"]
    assert "does not match the requested schema at 'total'" in feedback


async def test_a_server_ignoring_the_constraint_fails_the_task_clearly(
    server: ScriptedServer, documents: list[Doc], reading_model: ReadingModel
) -> None:
    reading_model.mode = "hopeless"  # a server that accepts response_format but ignores it
    async with Kanjian(url=server.url, use_tools=False) as kanjian:
        result = await kanjian.ask(QUESTION, [documents[0].path], schema=RECEIPT_SCHEMA)
        record = result.to_json()
    assert result.exit_code == 1 and record["answer"] is None
    assert "does not match the requested schema at 'total'" in (result.error or "")
    assert "is not of type 'number'" in (result.error or "")
    assert len(_chats(server)) == 2  # the reply and its one repair round


async def test_evidence_maps_to_pixels_of_the_original_image(
    server: ScriptedServer, documents: list[Doc]
) -> None:
    doc = documents[3]
    async with Kanjian(url=server.url, use_tools=False) as kanjian:
        result = await kanjian.ask(QUESTION, [doc.path], schema=RECEIPT_SCHEMA)
    (evidence,) = result.evidence
    assert evidence.image == "image_1"
    assert evidence.box_px is not None
    assert all(abs(a - b) <= 1 for a, b in zip(evidence.box_px, doc.key_box, strict=True))
    assert result.to_json()["evidence"] == [{"image": "image_1", "box": list(evidence.box_px)}]


@pytest.mark.parametrize("schema", [RECEIPT_SCHEMA, TICKET_SCHEMA, SignUp])
def test_each_schema_form_compiles_once(schema: Any) -> None:
    assert load_schema(schema) is load_schema(schema)
