"""``python -m vlm.fake_server``: the scripted server as a process, for end-to-end tests."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from kanjian.vlm.fake_server.script import (
    DEFAULT_MODEL,
    Responder,
    ScriptResponder,
    echo,
    load_script,
)
from kanjian.vlm.fake_server.server import ScriptedServer

__all__ = ["main"]


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m vlm.fake_server",
        description="A scripted OpenAI-compatible (SGLang-like) model server on 127.0.0.1.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--script", help="JSON list of replies; the last repeats (default: echo)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds per piece")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--starting-polls", type=int, default=0, help="/health 503s first")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until SIGINT or SIGTERM, after printing the URL on its own line."""
    args = _parse_args(argv)
    try:
        responder: Responder = ScriptResponder(load_script(args.script)) if args.script else echo
    except ValueError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)
    server = ScriptedServer(
        responder,
        model=args.model,
        latency=args.latency,
        token_delay=args.token_delay,
        api_key=args.api_key,
        starting_polls=args.starting_polls,
        host=args.host,
        port=args.port,
        record=False,  # Nobody can read the records of a separate process.
    )
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    with server:
        print(server.url, flush=True)
        while not done.wait(0.2):
            pass
    sys.exit(0)
