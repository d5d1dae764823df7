"""``kanjian ask``: one answer, streamed to stdout (or one JSON object with ``--json``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from kanjian.agent.events import Event

__all__ = ["register"]


def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    image: Annotated[
        list[Path] | None,
        typer.Option("-i", "--image", help="An image to ask about (repeatable; '-' reads stdin)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: answer, steps, images, usage.")
    ] = False,
    no_tools: Annotated[
        bool, typer.Option("--no-tools", help="The model alone, no tools.")
    ] = False,
    session: Annotated[
        str | None, typer.Option("--session", help="Continue a conversation by id.")
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="Model server URL (default: KANJIAN_URL or config).")
    ] = None,
    approve: Annotated[
        str | None, typer.Option("--approve", help="Side-effect tools: ask, always or never.")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Most tool steps per answer.")
    ] = None,
    no_memory: Annotated[
        bool, typer.Option("--no-memory", help="Neither recall nor remember.")
    ] = False,
    no_recall: Annotated[
        bool, typer.Option("--no-recall", help="Recall no past turns (still remember this one).")
    ] = False,
) -> None:
    """Answer one question about images, streaming the answer to stdout."""
    from kanjian.tui.runner import run

    flags: dict[str, object] = {
        "vlm.url": url,
        "agent.approve": approve,
        "agent.max_steps": max_steps,
    }
    if no_memory:
        flags["memory.enabled"] = False
    if no_recall:
        flags["memory.recall"] = "off"
    images = [str(p) for p in image or []]
    raise typer.Exit(run(_ask(question, images, flags, as_json, no_tools, session)))


async def _ask(
    question: str,
    images: list[str],
    flags: dict[str, object],
    as_json: bool,
    no_tools: bool,
    session: str | None,
) -> int:
    import json
    import sys

    from kanjian.agent.api import Kanjian
    from kanjian.agent.config import load_settings
    from kanjian.agent.events import RunFinished

    settings = load_settings(flags)
    sources = [sys.stdin.buffer.read() if path == "-" else path for path in images]
    printer = _StreamPrinter(quiet=as_json)
    async with Kanjian(settings, use_tools=not no_tools) as kanjian:
        async for event in kanjian.stream(question, sources, session=session):
            printer.show(event)
            if isinstance(event, RunFinished):
                if note := event.extra.get("memory_error"):
                    typer.echo(f"kanjian: warning: {note}", err=True)
                if as_json:
                    print(json.dumps(event.to_json(), ensure_ascii=False), flush=True)
                elif event.error:
                    typer.echo(f"kanjian: {event.error}", err=True)
                return event.exit_code
    return 1


class _StreamPrinter:
    """Answer deltas to stdout as they come; tool steps as dim lines on stderr."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.answered = False

    def show(self, event: Event) -> None:
        from kanjian.agent.events import AnswerDelta, AnswerDone, ToolResultEvent

        if self.quiet:
            return
        if isinstance(event, AnswerDelta):
            self.answered = True
            typer.echo(event.text, nl=False)
        elif isinstance(event, AnswerDone):
            if not self.answered:
                typer.echo(event.text, nl=False)
            typer.echo("")
        elif isinstance(event, ToolResultEvent):
            args = ", ".join(f"{k}={v!r}" for k, v in event.args.items())
            status = f"failed: {event.error}" if event.error else f"{event.seconds:.2f}s"
            typer.secho(f"· {event.tool}({args}) {status}", err=True, dim=True)


def register(app: typer.Typer) -> None:
    app.command()(ask)
