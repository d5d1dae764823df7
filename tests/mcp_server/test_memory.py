"""Past sessions as resources, and ``memory_search``, with memory on (chromadb, hash embedder)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from mcp import types
from mcp.shared.exceptions import McpError

from kanjian.vlm.fake_server import ScriptedServer

from .conftest import red_square, server_env, stdio_session, write_home

pytestmark = pytest.mark.slow


async def test_sessions_are_resources_and_searchable(model: ScriptedServer, tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", memory=True)
    picture = red_square(tmp_path / "red.png")
    async with stdio_session(server_env(home, model.url)) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        asked = await client.call_tool(
            "ask", {"question": "What colour is the square?", "images": [str(picture)]}
        )
        assert asked.structuredContent is not None, asked.content
        session = asked.structuredContent["session"]
        listed = await client.list_resources()
        templates = await client.list_resource_templates()
        read = await client.read_resource(f"kanjian://session/{session}")  # type: ignore[arg-type]
        found = await client.call_tool("memory_search", {"query": "colour square"})
        with pytest.raises(McpError) as unknown:
            await client.read_resource("kanjian://session/nope")  # type: ignore[arg-type]
    assert "memory_search" in names
    assert f"kanjian://session/{session}" in [str(r.uri) for r in listed.resources]
    assert [t.uriTemplate for t in templates.resourceTemplates] == [
        "kanjian://session/{id}",
        "kanjian://image/{sha256}",
    ]
    markdown, image = read.contents
    sha = hashlib.sha256(picture.read_bytes()).hexdigest()
    assert isinstance(markdown, types.TextResourceContents)
    assert markdown.mimeType == "text/markdown"
    assert "**Q:** What colour is the square?" in markdown.text
    assert f"(kanjian://image/{sha})" in markdown.text
    assert isinstance(image, types.BlobResourceContents)
    assert str(image.uri) == f"kanjian://image/{sha}" and image.mimeType == "image/png"
    assert base64.b64decode(image.blob) == picture.read_bytes()
    assert found.structuredContent is not None
    assert found.structuredContent["hits"][0]["session"] == session
    assert "nope" in str(unknown.value)
