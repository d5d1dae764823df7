"""kanjian's InternVL chat model driving LangChain's own ``create_agent`` (LangGraph).

kanjian runs its own lean loop; this is for people who want LangGraph's: the chat model
speaks InternVL's action protocol, so any LangChain tool works with it.

    KANJIAN_URL=http://127.0.0.1:30000 python examples/langgraph_create_agent.py "What is 17 * 23?"

Needs ``langchain`` (``pip install langchain``), which kanjian itself does not.
"""

from __future__ import annotations

import asyncio
import os
import sys

from langchain.agents import create_agent
from langchain_core.tools import tool

from kanjian.vlm.chat_model import InternVLChatModel
from kanjian.vlm.client import SGLangClient


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers exactly."""
    return a * b


async def main(question: str) -> int:
    client = SGLangClient(os.environ.get("KANJIAN_URL", "http://127.0.0.1:30000"))
    try:
        agent = create_agent(InternVLChatModel(backend=client), [multiply])
        result = await agent.ainvoke({"messages": [{"role": "user", "content": question}]})
    finally:
        await client.aclose()
    for message in result["messages"]:
        if message.type == "tool":
            print(f"tool {message.name} -> {message.content}")
    print(result["messages"][-1].content)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit('usage: python examples/langgraph_create_agent.py "QUESTION"')
    sys.exit(asyncio.run(main(sys.argv[1])))
