"""``kanjian ask``: one answer, streamed to stdout (or one JSON object with ``--json``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from kanjian.agent.events import Event, Evidence
    from kanjian.vlm.schema import AnswerSchema

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
    schema: Annotated[
        str | None,
        typer.Option(
            "--schema",
            help="Answer as JSON matching a schema: a JSON Schema file, inline JSON, "
            "or 'merchant, total float, date'.",
        ),
    ] = None,
    no_recall: Annotated[
        bool, typer.Option("--no-recall", help="Recall no past turns (still remember this one).")
    ] = False,
) -> None:
    """Answer one question about images, streaming the answer to stdout."""
    from kanjian.tui.runner import fail, run
    from kanjian.vlm.schema import SchemaError, load_schema

    try:
        # Checked before anything else: a bad schema costs no model call (exit 2).
        answer_schema = load_schema(schema) if schema is not None else None
    except SchemaError as exc:
        fail(str(exc), exc.exit_code)

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
    raise typer.Exit(run(_ask(question, images, flags, as_json, no_tools, session, answer_schema)))


async def _ask(
    question: str,
    images: list[str],
    flags: dict[str, object],
    as_json: bool,
    no_tools: bool,
    session: str | None,
    schema: AnswerSchema | None = None,
) -> int:
    import json

    from kanjian.agent.api import Kanjian
    from kanjian.agent.config import load_settings
    from kanjian.agent.events import RunFinished

    settings = load_settings(flags)
    sources = [_read_stdin() if path == "-" else path for path in _stdin_once(images)]
    printer = _StreamPrinter(quiet=as_json)
    async with Kanjian(settings, use_tools=not no_tools) as kanjian:
        stream = kanjian.stream(question, sources, session=session, schema=schema)
        async for event in printer.ending_line(stream):
            printer.show(event)
            if isinstance(event, RunFinished):
                for key in ("memory_error", "session_error"):
                    if note := event.extra.get(key):
                        typer.echo(f"kanjian: warning: {note}", err=True)
                for note in event.extra.get("evidence_notes", ()):
                    typer.echo(f"kanjian: note: {note}", err=True)
                if as_json:
                    print(json.dumps(event.to_json(), ensure_ascii=False), flush=True)
                elif event.error:
                    typer.echo(f"kanjian: {event.error}", err=True)
                return event.exit_code
    return 1


def _stdin_once(images: list[str]) -> list[str]:
    if images.count("-") > 1:
        from kanjian.tui.runner import fail

        fail(
            f"'-i -' is given {images.count('-')} times, but stdin can be read only once; "
            "pass '-' once and the other images as files.",
            2,
        )
    return images


def _read_stdin() -> bytes:
    import sys

    data = sys.stdin.buffer.read()
    if not data:
        from kanjian.tui.runner import fail

        fail("'-i -' reads an image from stdin, but stdin was empty; pipe one in: "
             "kanjian ask QUESTION -i - < photo.jpg", 2)  # fmt: skip
    return data


class _StreamPrinter:
    """Answer deltas to stdout as they come; tool steps as dim lines on stderr."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.answered = False
        self.mid_line = False  # an answer is half printed: an interruption ends its line

    async def ending_line(self, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        """``events`` as they come; if the run is interrupted (Ctrl-C) mid-answer, the
        partial answer's line is ended, so the shell prompt does not land on it."""
        try:
            async for event in events:
                yield event
        finally:
            if self.mid_line:
                typer.echo("")

    def show(self, event: Event) -> None:
        from kanjian.agent.events import AnswerDelta, AnswerDone, RunFinished, ToolResultEvent

        if self.quiet:
            return
        if isinstance(event, AnswerDelta):
            self.answered = self.mid_line = True
            typer.echo(event.text, nl=False)
        elif isinstance(event, AnswerDone):
            if not self.answered:
                typer.echo(event.text, nl=False)
            typer.echo("")
            self.mid_line = False
        elif isinstance(event, RunFinished):
            for evidence in event.evidence:
                typer.echo(_evidence_line(evidence), err=True)
        elif isinstance(event, ToolResultEvent):
            args = ", ".join(f"{k}={v!r}" for k, v in event.args.items())
            status = f"failed: {event.error}" if event.error else f"{event.seconds:.2f}s"
            typer.secho(f"· {event.tool}({args}) {status}", err=True, dim=True)


def _evidence_line(evidence: Evidence) -> str:
    """``evidence: image_1 [x1,y1,x2,y2]`` (pixels of the original image), or just the id."""
    box = f" [{','.join(str(v) for v in evidence.box_px)}]" if evidence.box_px else ""
    return f"evidence: {evidence.image}{box}"


def register(app: typer.Typer) -> None:
    app.command()(ask)
