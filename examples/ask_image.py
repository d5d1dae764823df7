"""Ask one question about an image; print the answer, the tools used and the tokens.

    KANJIAN_URL=http://127.0.0.1:30000 python examples/ask_image.py sign.jpg "What does it say?"

The server URL comes from ``KANJIAN_URL`` (or the config file), as for the ``kanjian`` command.
"""

from __future__ import annotations

import asyncio
import sys

from kanjian import Kanjian


async def main(image: str, question: str) -> int:
    async with Kanjian() as kanjian:
        result = await kanjian.ask(question, [image])
    if result.error:
        print(f"error: {result.error}", file=sys.stderr)
        return result.exit_code
    print(result.answer)
    for step in result.steps:
        print(f"  used {step.tool} {step.args} ({step.seconds:.2f} s)")
    usage = result.usage
    print(
        f"session {result.session}: {usage.prompt_tokens} prompt tokens "
        f"({usage.cached_tokens} cached), {usage.completion_tokens} completion tokens"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python examples/ask_image.py IMAGE QUESTION")
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
