"""``kanjian serve-model``: launch SGLang for InternVL 1.5 and wait until it is healthy."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["register"]


def serve_model(
    url: Annotated[
        str | None, typer.Option("--url", help="Where to serve (host and port).")
    ] = None,
    model_path: Annotated[
        str | None, typer.Option("--model-path", help="Checkpoint to serve.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the command only.")] = False,
) -> None:
    """Launch SGLang for InternVL 1.5, wait until healthy, stop it on Ctrl-C."""
    from kanjian.tui.runner import run

    run(_serve(url, model_path, dry_run))


async def _serve(url: str | None, model_path: str | None, dry_run: bool) -> None:
    import shlex

    from kanjian.agent.config import load_settings
    from kanjian.tui.serve import ModelServer, launch_command, preflight

    settings = load_settings({"vlm.url": url, "serve.model_path": model_path})
    command = launch_command(settings)
    if dry_run:
        typer.echo(shlex.join(command))
        return
    preflight(settings)
    typer.echo(f"Starting: {shlex.join(command)}", err=True)
    server = ModelServer(command)
    server.start()
    try:
        await server.wait_healthy(settings, lambda line: typer.echo(line, err=True))
        typer.echo(f"SGLang is ready at {settings.vlm.url} — Ctrl-C stops it.", err=True)
        code = await server.wait_exit()
        if code != 0:
            typer.echo(
                f"kanjian: SGLang exited with code {code}:\n{server.output_tail()}", err=True
            )
            raise typer.Exit(1)
    finally:
        server.stop()


def register(app: typer.Typer) -> None:
    app.command("serve-model")(serve_model)
