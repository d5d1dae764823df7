"""``kanjian memory``: search, list, show, forget, export and reindex what kanjian remembers.

Only typer is imported at module level; the memory engine (SQLite, chromadb, the
embedder) loads inside each command, so ``kanjian --help`` stays instant.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from kanjian.memory.api import Memory
    from kanjian.memory.records import Hit, SessionRecord

__all__ = ["register"]

DEFAULT_EXPORT_DIR = Path("kanjian-export")

memory_app = typer.Typer(
    help="Search and manage what kanjian remembers (conversations and their images).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(memory_app, name="memory")


def _open() -> Memory:
    from kanjian.agent.config import load_settings
    from kanjian.memory.api import Memory

    return Memory.open(load_settings())


def _date(value: str | None, flag: str) -> float | None:
    from kanjian.tui.runner import fail

    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        fail(f"{flag} {value!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM.", 2)


@memory_app.command("search")
def search(
    query: str = typer.Argument(..., help="What to look for, in English or Chinese."),
    k: int = typer.Option(5, "-k", "--top", min=1, max=100, help="How many hits."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    session: str | None = typer.Option(None, "--session", help="Only this session."),
    since: str | None = typer.Option(None, "--since", help="Only turns from this date on."),
    until: str | None = typer.Option(None, "--until", help="Only turns before this date."),
    has_image: bool | None = typer.Option(
        None, "--has-image/--no-image", help="Only turns with (or without) images."
    ),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid, vector or lexical."),
) -> None:
    """Search past conversations (hybrid vector + bilingual lexical)."""
    from kanjian.tui.runner import run

    start, end = _date(since, "--since"), _date(until, "--until")

    async def body() -> list[Hit]:
        async with _open() as memory:
            return await memory.search(
                query, k, session=session, since=start, until=end, has_image=has_image,
                mode=mode,  # type: ignore[arg-type]  # validated by the engine
            )  # fmt: skip

    hits = run(body())
    if as_json:
        typer.echo(
            json.dumps({"query": query, "hits": [h.as_dict() for h in hits]}, ensure_ascii=False)
        )
        return
    if not hits:
        typer.echo("No matching turns.")
    for hit in hits:
        _print_hit(hit)


def _print_hit(hit: Hit) -> None:
    from kanjian.memory.records import iso

    typer.echo(f"{hit.session} #{hit.turn}  {iso(hit.created)}  score {hit.score:.4f}")
    for line in hit.text.splitlines()[:6]:
        typer.echo(f"  {line}")
    for path in hit.images:
        typer.echo(f"  [image] {path}")
    typer.echo("")


@memory_app.command("list")
def list_sessions(
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="How many sessions."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List stored sessions, most recently used first."""
    from kanjian.memory.records import iso
    from kanjian.tui.runner import run

    async def body() -> list[SessionRecord]:
        async with _open() as memory:
            return await memory.list_sessions(limit)

    sessions = run(body())
    if as_json:
        rows = [_session_row(s) for s in sessions]
        typer.echo(json.dumps({"sessions": rows}, ensure_ascii=False))
        return
    if not sessions:
        typer.echo("No stored sessions.")
    for s in sessions:
        typer.echo(f"{s.id}  {iso(s.updated)}  {s.turn_count:>3} turns  {s.title}")


def _session_row(s: SessionRecord) -> dict[str, Any]:
    from kanjian.memory.records import iso

    return {
        "id": s.id, "title": s.title, "created": iso(s.created), "updated": iso(s.updated),
        "turns": s.turn_count,
    }  # fmt: skip


@memory_app.command("show")
def show(
    session_id: str = typer.Argument(..., metavar="ID", help="The session id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one session: every turn with its images."""
    from kanjian.memory.export import session_json, session_markdown
    from kanjian.tui.runner import run

    async def body() -> tuple[SessionRecord, dict[str, str]]:
        async with _open() as memory:
            session = await memory.get_session(session_id)
            paths = {
                r.sha256: str(memory.image_path(r.sha256)) for t in session.turns for r in t.images
            }
            return session, paths

    session, paths = run(body())
    typer.echo((session_json if as_json else session_markdown)(session, paths), nl=False)


@memory_app.command("forget")
def forget(session_id: str = typer.Argument(..., metavar="ID", help="The session id.")) -> None:
    """Delete a session from the store, the vector index and unused image files."""
    from kanjian.tui.runner import run

    async def body() -> int:
        from kanjian.agent.session import sessions_dir

        async with _open() as memory:
            removed = await memory.forget(session_id)
        # The agent's resumable copy of the conversation goes too: forgotten means gone.
        (sessions_dir() / f"{Path(session_id).name}.json").unlink(missing_ok=True)
        return removed

    removed = run(body())
    typer.echo(f"Forgot session {session_id} ({removed} image files removed).")


@memory_app.command("export")
def export(
    session_id: str | None = typer.Argument(
        None, metavar="[ID]", help="One session; all if absent."
    ),
    fmt: str = typer.Option("md", "--format", "-f", help="md or json."),
    out: Annotated[
        Path, typer.Option("-o", "--output", help="Folder to write.")
    ] = DEFAULT_EXPORT_DIR,
) -> None:
    """Export sessions to Markdown or JSON, images copied alongside."""
    from kanjian.tui.runner import run

    async def body() -> list[Path]:
        async with _open() as memory:
            return await memory.export(session_id, fmt, out)  # type: ignore[arg-type]

    for path in run(body()):
        typer.echo(str(path))


@memory_app.command("reindex")
def reindex() -> None:
    """Rebuild the vector index from the SQLite store (after changing the embedder)."""
    from kanjian.tui.runner import run

    async def body() -> tuple[int, str]:
        async with _open() as memory:
            return await memory.reindex(), memory.core.index.name

    count, name = run(body())
    typer.echo(f"Indexed {count} turns into {name}.")
