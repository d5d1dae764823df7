"""vlm.chat_model: the LangChain adapter over real HTTP (ScriptedServer through SGLangClient)."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool

from kanjian.vlm.chat_model import InternVLChatModel, render_messages, system_prompt, tool_infos
from kanjian.vlm.client import SGLangClient
from kanjian.vlm.fake_server import Reply, ScriptedServer
from kanjian.vlm.types import Usage

from .helpers import answer, texts, tool_call


@tool
def read_text(image: str) -> str:
    """Read the text in an image.

    More detail that must not reach the system prompt.
    """
    return image


OPENAI_TOOL = {
    "type": "function",
    "function": {
        "name": "math",
        "description": "Compute exactly.",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
        },
    },
}


def test_system_prompt_lists_each_tool_with_its_schema() -> None:
    infos = tool_infos([read_text, OPENAI_TOOL])
    prompt = system_prompt(infos)
    assert "- read_text: Read the text in an image.\n  args schema: {" in prompt
    assert "More detail" not in prompt
    assert (
        '- math: Compute exactly.\n  args schema: {"properties":{"expression":{"type":"string"}},"required":["expression"],"type":"object"}'
        in prompt
    )
    assert prompt == system_prompt(tool_infos([read_text, OPENAI_TOOL]))  # deterministic


async def test_tool_call_becomes_tool_calls_with_raw_kept(
    server: ScriptedServer, client: SGLangClient
) -> None:
    raw = tool_call("math", expression="1/3 + 1/6")
    server.enqueue(Reply(text=raw, usage=Usage(120, 20), cached_tokens=100))
    model = InternVLChatModel(backend=client).bind_tools([OPENAI_TOOL])
    message = await model.ainvoke([HumanMessage("Sum?")])
    assert isinstance(message, AIMessage)
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [
        ("math", {"expression": "1/3 + 1/6"})
    ]
    assert message.additional_kwargs["raw"] == raw
    assert message.usage_metadata is not None
    assert (message.usage_metadata["input_tokens"], message.usage_metadata["output_tokens"]) == (
        120,
        20,
    )
    assert message.usage_metadata.get("input_token_details", {}).get("cache_read") == 100
    assert message.response_metadata["model_requests"][0]["cached_tokens"] == 100
    body = server.chat_requests[0].json
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["name"] == "action"
    assert len(body["response_format"]["json_schema"]["schema"]["anyOf"]) == 2


async def test_answer_streams_as_content_chunks(
    server: ScriptedServer, client: SGLangClient
) -> None:
    server.enqueue(answer("Exactly one half: **1/2**."))
    model = InternVLChatModel(backend=client)
    chunks = [chunk async for chunk in model.astream([HumanMessage("Sum?")])]
    pieces = [c.content for c in chunks if c.content]
    assert len(pieces) > 2 and "".join(str(p) for p in pieces) == "Exactly one half: **1/2**."
    assert chunks[0].additional_kwargs == {"thought": "done"}


def test_sync_invoke_works_too(server: ScriptedServer) -> None:
    server.enqueue(answer("Yes."))
    model = InternVLChatModel(backend=SGLangClient(server.url, retries=0))
    assert model.invoke([HumanMessage("Ok?")]).content == "Yes."


async def test_without_constraints_no_response_format_and_one_retry() -> None:
    with ScriptedServer(owned_by="openai", missing={"/model_info", "/get_model_info"}) as server:
        client = SGLangClient(server.url, retries=0)
        server.enqueue('{"thought": "x", "answer": ', answer("Fixed."))
        message = await InternVLChatModel(backend=client).ainvoke([HumanMessage("Hi")])
        await client.aclose()
    assert message.content == "Fixed."
    first, second = (r.json for r in server.chat_requests)
    assert "response_format" not in first and "response_format" not in second
    assert second["messages"][-2] == {"role": "assistant", "content": '{"thought": "x", "answer": '}
    assert texts(second["messages"][-1])[0].startswith("Your last reply could not be used")


async def test_constrain_can_be_forced_off(server: ScriptedServer, client: SGLangClient) -> None:
    server.enqueue(answer("ok"))
    await InternVLChatModel(backend=client, constrain=False).ainvoke([HumanMessage("Hi")])
    assert "response_format" not in server.chat_requests[-1].json


def _image(image_id: str) -> dict[str, Any]:
    return {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,AAAA"},
        "image_id": image_id,
    }


def test_rendering_roles_observations_and_image_intros() -> None:
    history = [
        SystemMessage("ignored here"),
        HumanMessage(content=[_image("image_1"), {"type": "text", "text": "What is it?"}]),
        AIMessage(
            content="", tool_calls=[{"name": "zoom", "args": {"image": "image_1"}, "id": "c1"}]
        ),
        ToolMessage(
            content=[{"type": "text", "text": "cropped"}, _image("image_2")],
            name="zoom",
            tool_call_id="c1",
        ),
        AIMessage(content="A cat.", additional_kwargs={"raw": '{"thought":"t","answer":"A cat."}'}),
    ]
    wire = render_messages(history)
    assert [m["role"] for m in wire] == ["user", "assistant", "user", "assistant"]
    assert texts(wire[0]) == ["image_1:", "<img>", "What is it?"]
    # A message the adapter did not produce gets its canonical action text.
    assert json.loads(wire[1]["content"]) == {
        "thought": "",
        "tool": "zoom",
        "args": {"image": "image_1"},
    }
    assert texts(wire[2]) == ["Observation from zoom:\ncropped", "image_2:", "<img>"]
    assert wire[3]["content"] == '{"thought":"t","answer":"A cat."}'
    assert wire[0]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,AAAA"},
    }


async def test_system_messages_are_added_after_the_tool_list(
    server: ScriptedServer, client: SGLangClient
) -> None:
    server.enqueue(answer("ok"))
    await InternVLChatModel(backend=client).ainvoke(
        [SystemMessage("Be brief."), HumanMessage("Hi")]
    )
    system = server.chat_requests[-1].json["messages"][0]
    assert system["role"] == "system" and system["content"].endswith("\n\nBe brief.")
