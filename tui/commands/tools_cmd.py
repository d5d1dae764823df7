"""``kanjian tools list`` and ``kanjian tools run NAME --args JSON``.

``list`` shows every tool the agent would get (built-ins, plugins, MCP servers) and the
plugins that were skipped, with why. ``run`` calls one tool directly, outside any
conversation: images given with ``--image`` become ``image_1``, ``image_2``, ... Running a
tool by name is the user's own act, so side-effect tools run without a further prompt.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from kanjian.agent.config import Settings
    from kanjian.tools.base import Tool, ToolOutput
    from kanjian.tools.registry import PluginProblem, ToolRegistry
    from kanjian.vlm.types import ChatBackend, ChatRequest, ChatResult, ModelInfo, StreamEvent

__all__ = ["register"]

tools_app = typer.Typer(
    name="tools",
    help="List the tools the agent can use, or run one directly.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@tools_app.command("list")
def list_tools(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show every tool (name, source, side effects, purpose) and any plugin problems."""
    from kanjian.tui.runner import run

    run(_list(as_json))


async def _list(as_json: bool) -> None:
    registry, problems = await _load(None)
    if as_json:
        typer.echo(json.dumps(_list_json(registry, problems), ensure_ascii=False))
        return
    typer.echo(format_table(registry.tools()))
    if problems:
        typer.echo(f"\n{len(problems)} plugin problem(s), skipped:")
        for problem in problems:
            typer.echo(f"  {problem.source}: {problem.message}")


def _list_json(registry: ToolRegistry, problems: list[PluginProblem]) -> dict[str, Any]:
    return {
        "tools": [
            {
                "name": t.name,
                "source": t.source,
                "side_effects": t.side_effects,
                "description": t.description,
                "args_schema": t.args_schema,
            }
            for t in registry.tools()
        ],
        "problems": [{"source": p.source, "message": p.message} for p in problems],
    }


def format_table(tools: list[Tool]) -> str:
    """Aligned columns: name, source, side effects, description."""
    rows = [("NAME", "SOURCE", "EFFECTS", "DESCRIPTION")]
    rows += [(t.name, t.source, "yes" if t.side_effects else "no", t.description) for t in tools]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    )


@tools_app.command("run")
def run_tool(
    name: Annotated[str, typer.Argument(help="The tool's name (see 'kanjian tools list').")],
    args: Annotated[
        str,
        typer.Option(
            "--args", "-a", help='Arguments as a JSON object, e.g. \'{"image": "image_1"}\'.'
        ),
    ] = "{}",
    images: Annotated[
        list[Path] | None,
        typer.Option("--image", "-i", help="An image, registered as image_1, image_2, ..."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder to save the images the tool makes.")
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="Model server URL.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run one tool with JSON arguments and print its result."""
    from kanjian.tui.runner import run

    run(_run(name, _parse_args(args), images or [], out, url, as_json))


def _parse_args(text: str) -> dict[str, Any]:
    from kanjian.tui.runner import fail

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"--args {text!r} is not valid JSON ({exc.msg}); pass an object like '{{\"x\": 1}}'.")
    if not isinstance(value, dict):
        fail(f"--args {text!r} must be a JSON object, like '{{\"x\": 1}}'.")
    return value


async def _run(
    name: str,
    args: dict[str, Any],
    image_paths: list[Path],
    out: Path | None,
    url: str | None,
    as_json: bool,
) -> None:
    import sys

    from kanjian.tools.pipeline import compose

    settings = _settings(url)
    registry, _ = await _load(settings)
    # The tool pipeline, as in a conversation; naming the tool here is the user's approval,
    # and the whole output is wanted.
    tool = compose(registry.get(name), approver=_approved, output_limit=sys.maxsize)
    ctx = await open_context(settings, image_paths)
    started = time.perf_counter()
    try:
        output = await tool.run(args, ctx)
    finally:
        await _close(ctx)
    seconds = time.perf_counter() - started
    saved = save_images(output, out, name)
    if as_json:
        record = {
            "tool": name,
            "args": args,
            "output": output.data,
            "text": output.text,
            "images": saved,
            "seconds": round(seconds, 3),
        }
        typer.echo(json.dumps(record, ensure_ascii=False, default=str))
        return
    typer.echo(output.text)
    _report_images(output, saved)


async def _approved(_: object) -> bool:
    return True


def _report_images(output: ToolOutput, saved: list[str]) -> None:
    for path in saved:
        typer.echo(f"saved {path}", err=True)
    unsaved = len(output.images) - len(saved)
    if unsaved > 0:
        typer.echo(f"({unsaved} new image(s); pass --out DIR to save them)", err=True)


def save_images(output: ToolOutput, out: Path | None, stem: str) -> list[str]:
    """Write the tool's new images as PNGs under ``out``; their paths."""
    if out is None:
        return []
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, derived in enumerate(output.images, start=1):
        path = out / f"{stem}-{n}.png"
        derived.image.save(path, format="PNG")
        paths.append(str(path))
    return paths


def _settings(url: str | None) -> Settings:
    from kanjian.agent.config import load_settings

    return load_settings({"vlm.url": url})


async def _load(settings: Settings | None) -> tuple[ToolRegistry, list[PluginProblem]]:
    from kanjian.tools.registry import aload_tools

    return await aload_tools(settings or _settings(None))


async def open_context(settings: Settings, image_paths: list[Path]) -> Any:
    """A SimpleToolContext with the images loaded as image_1... and the model backend."""
    from kanjian.tools.context import SimpleToolContext
    from kanjian.vlm.images import aload_image

    loaded = {f"image_{i}": await aload_image(p) for i, p in enumerate(image_paths, start=1)}
    return SimpleToolContext(dict(loaded), backend=LazyBackend(settings))


class LazyBackend:
    """The configured backend, chosen on first use: tools that never ask the model (ocr,
    math) pay no health check and never import the local backend."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._backend: ChatBackend | None = None

    async def _get(self) -> ChatBackend:
        if self._backend is None:
            from kanjian.agent.backends import make_backend

            self._backend = await make_backend(self._settings)
        return self._backend

    async def complete(self, request: ChatRequest) -> ChatResult:
        return await (await self._get()).complete(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        async for event in (await self._get()).stream(request):
            yield event

    async def model_info(self) -> ModelInfo:
        return await (await self._get()).model_info()

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.aclose()


async def _close(ctx: Any) -> None:
    if ctx.backend is not None:
        await ctx.backend.aclose()


def register(app: typer.Typer) -> None:
    app.add_typer(tools_app)
