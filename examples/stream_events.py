"""Watch a run as it happens, then continue the same conversation.

    KANJIAN_URL=http://127.0.0.1:30000 python examples/stream_events.py chart.png

Every run is a stream of typed events (``kanjian.agent.events``): images entering the conversation,
steps, the model's thought, tool calls and results, the answer as it is generated, and a
final ``RunFinished`` record. The second question passes ``session=`` to continue: the image
is still ``image_1`` for the model, without sending it again.
"""

from __future__ import annotations

import asyncio
import sys

from kanjian import Kanjian
from kanjian.agent.events import (
    AnswerDelta,
    AnswerDone,
    Event,
    ImageAdded,
    RunFinished,
    StepStarted,
    Thought,
    ToolCallEvent,
    ToolResultEvent,
)


def show(event: Event) -> None:
    if isinstance(event, ImageAdded):
        print(f"[image] {event.image_id} {event.width}x{event.height} from {event.origin}")
    elif isinstance(event, StepStarted):
        print(f"[step {event.step}]")
    elif isinstance(event, Thought):
        print(f"[thought] {event.text}")
    elif isinstance(event, ToolCallEvent):
        print(f"[tool call] {event.tool} {event.args}")
    elif isinstance(event, ToolResultEvent):
        print(f"[tool result] {event.tool}: {event.text.splitlines()[0] if event.text else ''}")
    elif isinstance(event, AnswerDelta):
        print(event.text, end="", flush=True)
    elif isinstance(event, AnswerDone):
        print()
    elif isinstance(event, RunFinished):
        print(f"[finished] session {event.session}, images {event.images}, error {event.error}")


async def main(image: str) -> int:
    async with Kanjian() as kanjian:
        session = None
        for question, images in (("What is in this picture?", [image]), ("And its colour?", [])):
            print(f"> {question}")
            async for event in kanjian.stream(question, images, session=session):
                show(event)
                if isinstance(event, RunFinished):
                    if event.error:
                        return event.exit_code
                    session = event.session
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/stream_events.py IMAGE")
    sys.exit(asyncio.run(main(sys.argv[1])))
