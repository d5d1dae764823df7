"""The same API without async: ``Kanjian.blocking()`` for plain scripts and notebooks.

    KANJIAN_URL=http://127.0.0.1:30000 python examples/sync_api.py diagram.png

Each call blocks until it is done; ``stream`` is an ordinary iterator of events. The
conversation continues with ``session=``, its image still ``image_1``.
"""

from __future__ import annotations

import sys

from kanjian import Kanjian
from kanjian.agent.events import AnswerDelta, RunFinished


def main(image: str) -> int:
    with Kanjian.blocking() as kanjian:
        first = kanjian.ask("What does this diagram show?", [image])
        if first.error:
            print(f"error: {first.error}", file=sys.stderr)
            return first.exit_code
        print(first.answer)
        for event in kanjian.stream("Summarise it in five words.", session=first.session):
            if isinstance(event, AnswerDelta):
                print(event.text, end="", flush=True)
            elif isinstance(event, RunFinished):
                print()
                print(f"images in the conversation: {event.images}")
                return event.exit_code
    return 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/sync_api.py IMAGE")
    sys.exit(main(sys.argv[1]))
