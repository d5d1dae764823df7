"""``kanjian ocr``, ``kanjian ground`` and ``kanjian math``: the built-in tools, run directly.

Each runs the same tool the agent calls, on one image (or one expression), and prints the
result for people, or with ``--json`` exactly one object in DESIGN.md's shape. Boxes given
and printed are ``[x1, y1, x2, y2]``: ``box`` in the image's pixels, ``box_norm`` in 0–1000.
Exit codes: 0 ok, 2 bad input (missing image, bad region, bad expression), 1 the task failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from kanjian.tools.base import ToolOutput

__all__ = ["register"]

# The --json keys, in order, exactly as DESIGN.md fixes them.
OCR_KEYS = ("image", "width", "height", "lines", "blocks", "text", "seconds")
GROUND_KEYS = ("image", "query", "boxes", "overlay", "seconds")
MATH_KEYS = ("input", "result", "numeric", "latex", "seconds")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def ocr(
    image: Annotated[Path, typer.Argument(help="The image to read.", show_default=False)],
    region: Annotated[
        str | None,
        typer.Option("--region", "-r", help="Only read inside x1,y1,x2,y2 (0–1000 frame)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Read the text in an image (Chinese and English), in reading order."""
    import threading

    from kanjian.tools.ocr.engine import warm

    # The models load on another core while Python imports the rest and decodes the image:
    # start-up is what a one-shot `kanjian ocr` mostly pays for.
    loading = threading.Thread(target=warm, daemon=True)
    loading.start()
    from kanjian.tui.runner import run

    try:
        box = parse_box(region, "--region") if region is not None else None
        output = run(_read(image, box))
    finally:
        # Exiting (on a bad path, say) while onnxruntime is mid-load aborts the process.
        loading.join()
    data = _select(output.data | {"image": str(image)}, OCR_KEYS)
    typer.echo(_json(data) if as_json else data["text"])


def ground(
    image: Annotated[Path, typer.Argument(help="The image to search.", show_default=False)],
    query: Annotated[str, typer.Argument(help="What to find, e.g. 'the red car'.")],
    draw: Annotated[
        Path | None, typer.Option("--draw", "-d", help="Save the image with the boxes drawn (PNG).")
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="Model server URL.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Find what QUERY describes in an image: boxes from the model's grounding (needs the model)."""
    from kanjian.tui.runner import run

    output = run(_run_tool("ground", {"image": "image_1", "query": query}, image, url=url))
    overlay = _save_overlay(output, image, draw) if draw is not None else None
    data = _select(output.data | {"image": str(image), "overlay": overlay}, GROUND_KEYS)
    if as_json:
        typer.echo(_json(data))
        return
    if not data["boxes"]:
        typer.echo(f"No box found for {query!r}.")
    for n, box in enumerate(data["boxes"], start=1):
        typer.echo(f"{n}. {box['label']}  box {box['box']}  box_norm {box['box_norm']}")
    if overlay:
        typer.echo(f"saved {overlay}", err=True)


def math(
    expression: Annotated[str, typer.Argument(help="SymPy syntax or LaTeX, e.g. 'x^2 = 4'.")],
    as_json: JsonOption = False,
) -> None:
    """Compute exactly: evaluate, simplify, solve (with =), diff, integrate, limit."""
    from kanjian.tui.runner import run

    output = run(_run_tool("math", {"expression": expression}, None, url=None))
    data = _select(output.data, MATH_KEYS)
    typer.echo(_json(data) if as_json else output.text)


def parse_box(text: str, option: str) -> list[int]:
    """``"x1,y1,x2,y2"`` as four ints; a usage error (exit 2) otherwise."""
    from kanjian.tui.runner import fail

    parts = [p.strip() for p in text.strip("[]() ").split(",")]
    try:
        box = [int(p) for p in parts]
    except ValueError:
        box = []
    if len(box) != 4:
        fail(f"{option} {text!r} is not a box; give four integers x1,y1,x2,y2 in 0–1000.")
    return box


async def _read(image: Path, region: list[int] | None) -> ToolOutput:
    """The ocr tool's own code on the image, without a model backend or settings to load."""
    from kanjian.tools.builtin.ocr import read
    from kanjian.vlm.images import aload_image

    loaded = await aload_image(image)
    return await read("image_1", loaded.image, region)


async def _run_tool(
    name: str, args: dict[str, Any], image: Path | None, *, url: str | None
) -> ToolOutput:
    from kanjian.agent.config import load_settings
    from kanjian.tools.builtin import builtin_tools
    from kanjian.tools.wrappers import with_timeout
    from kanjian.tui.commands.tools_cmd import open_context

    settings = load_settings({"vlm.url": url})
    # The built-in itself, not whatever a plugin might have named the same.
    tool = with_timeout(next(t for t in builtin_tools() if t.name == name))
    ctx = await open_context(settings, [image] if image is not None else [])
    try:
        return await tool.run(args, ctx)
    finally:
        await ctx.backend.aclose()


def _save_overlay(output: ToolOutput, image: Path, path: Path) -> str:
    """The overlay, or the plain image when nothing was found, so --draw always writes."""
    from PIL import Image

    from kanjian.tui.runner import fail

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if output.images:
            output.images[0].image.save(path, format="PNG")
        else:
            with Image.open(image) as original:
                original.convert("RGB").save(path, format="PNG")
    except OSError as exc:
        fail(
            f"Cannot write --draw {str(path)!r} ({exc.strerror or exc}); choose a writable path.", 1
        )
    return str(path)


def _select(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: data.get(key) for key in keys}


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False)


def register(app: typer.Typer) -> None:
    app.command()(ocr)
    app.command()(ground)
    app.command()(math)
