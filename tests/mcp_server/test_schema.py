"""``ask`` with a schema: the answer is the object, constrained on the wire; bad schemas fail first."""

from __future__ import annotations

from pathlib import Path

from kanjian.vlm.fake_server import ScriptedServer

from .conftest import red_square, server_env, stdio_session

SCHEMA = {
    "type": "object",
    "properties": {"colour": {"type": "string"}, "sides": {"type": "integer"}},
    "required": ["colour", "sides"],
}


async def test_ask_with_a_schema_answers_the_object(
    model: ScriptedServer, home: Path, tmp_path: Path
) -> None:
    picture = red_square(tmp_path / "red.png")
    async with stdio_session(server_env(home, model.url)) as client:
        model.reset()
        asked = await client.call_tool(
            "ask", {"question": "schema: the shape", "images": [str(picture)], "schema": SCHEMA}
        )
        wire = model.chat_requests[-1].json
        concise = await client.call_tool(
            "ask", {"question": "schema: again", "schema": "colour, sides int"}
        )
        sent = len(model.chat_requests)
        bad = await client.call_tool("ask", {"question": "schema: x", "schema": {"not": {}}})
        after = len(model.chat_requests)
    assert not asked.isError, asked.content
    assert asked.structuredContent is not None
    assert asked.structuredContent["answer"] == {"colour": "red", "sides": 4}
    assert "response_format" in wire and "colour" in str(wire["response_format"])
    assert not concise.isError and concise.structuredContent is not None
    assert concise.structuredContent["answer"] == {"colour": "red", "sides": 4}
    assert bad.isError and "'not'" in str(bad.content[0])
    assert after == sent  # refused before any model call
