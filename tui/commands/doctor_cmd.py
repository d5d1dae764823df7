"""``kanjian doctor``: what is reachable, installed and configured."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from kanjian.tui.doctor import Check

__all__ = ["register"]


def doctor(
    url: Annotated[str | None, typer.Option("--url", help="Model server URL.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check the model server, local backend, OCR models, memory, GPU and settings."""
    from kanjian.tui.runner import run

    run(_doctor(url, as_json))


async def _doctor(url: str | None, as_json: bool) -> None:
    import json

    from kanjian.agent.config import load_settings
    from kanjian.tui.doctor import run_checks

    settings = load_settings({"vlm.url": url})
    checks = await run_checks(settings)
    if as_json:
        report = {"checks": [c.as_dict() for c in checks], "settings": settings.flat()}
        typer.echo(json.dumps(report, ensure_ascii=False, default=str))
    else:
        _print_table(checks, settings.flat(), settings.sources)
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)


def _print_table(checks: list[Check], flat: dict[str, Any], sources: dict[str, str]) -> None:
    from rich.console import Console
    from rich.table import Table

    marks = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]", "info": "[blue]·[/]"}
    table = Table(show_header=False, box=None, pad_edge=False)
    for check in checks:
        table.add_row(marks[check.status], check.name, check.detail)
    console = Console()
    console.print(table)
    settings = Table("setting", "value", "from", box=None, pad_edge=False, header_style="bold")
    for key, value in flat.items():
        settings.add_row(key, str(value), sources.get(key, "default"))
    console.print()
    console.print(settings)


def register(app: typer.Typer) -> None:
    app.command()(doctor)
