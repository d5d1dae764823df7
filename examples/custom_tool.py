"""Give the agent a tool of your own: a typed function with a docstring.

    KANJIAN_URL=http://127.0.0.1:30000 python examples/custom_tool.py receipt.png

``@tool`` derives the tool's schema from the type hints and the docstring. A ``str`` argument
named ``image`` is an image id (``image_1``...), checked before the function runs; a
``ToolContext`` argument receives the conversation, to get at the image itself. Pass the tool
with ``extra_tools=`` to add it to the built-ins (``tools=`` would replace them).
"""

from __future__ import annotations

import asyncio
import sys

from kanjian import Kanjian
from kanjian.tools import ToolContext, tool


@tool
def image_size(image: str, ctx: ToolContext) -> dict[str, int]:
    """The width and height of an image in pixels.

    Args:
        image: The image id, such as image_1.
    """
    picture = ctx.image(image)
    return {"width": picture.width, "height": picture.height}


async def main(image: str) -> int:
    async with Kanjian(extra_tools=[image_size]) as kanjian:
        result = await kanjian.ask("How big is this image, in pixels?", [image])
    for step in result.steps:
        print(f"tool {step.tool} {step.args} -> {step.output}")
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
        return result.exit_code
    print(result.answer)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/custom_tool.py IMAGE")
    sys.exit(asyncio.run(main(sys.argv[1])))
