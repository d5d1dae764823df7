"""Images as MCP clients send them, and the tool schemas they see.

Inside kanjian a tool names an image by id (``image_1``): the agent registered it first. An MCP
client has no conversation to register images in, so every argument that is an image id
becomes, on the MCP side, the image itself: a file path (on the machine the server runs on),
a ``data:`` URL or plain base64 bytes. :func:`mcp_schema` rewrites a tool's schema that way
and :func:`bind_images` turns the client's arguments back into ids over a fresh context.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kanjian.tools.decorator import IMAGE_ID_DESCRIPTION
from kanjian.tools.errors import ToolInputError

if TYPE_CHECKING:
    from kanjian.tools.context import SimpleToolContext

__all__ = [
    "BASE64_LABEL",
    "IMAGE_DESCRIPTION",
    "bind_images",
    "check_arguments",
    "image_arguments",
    "image_source",
    "mcp_schema",
]

IMAGE_DESCRIPTION = (
    "The image: a file path on the machine kanjian runs on (absolute, or relative to its "
    "working directory), a data: URL, or base64-encoded image bytes (PNG, JPEG, WebP...)."
)
# How results name an image the client sent as bytes rather than as a path.
BASE64_LABEL = "<base64 image>"
_BASE64 = re.compile(r"[A-Za-z0-9+/\s]+={0,2}\s*")
# Shorter strings are names, not images: no real image encodes into fewer characters.
_MIN_BASE64 = 32


def image_arguments(schema: dict[str, Any]) -> list[str]:
    """The names of the schema's properties that are image ids (see tools.decorator)."""
    properties = schema.get("properties", {})
    return [
        name
        for name, prop in properties.items()
        if isinstance(prop, dict)
        and prop.get("type") == "string"
        and (name == "image" or prop.get("description") == IMAGE_ID_DESCRIPTION)
    ]


def mcp_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The tool's args schema with each image id described as the image itself."""
    out = copy.deepcopy(schema)
    for name in image_arguments(schema):
        out["properties"][name]["description"] = IMAGE_DESCRIPTION
    return out


def image_source(value: str, where: str) -> str | bytes:
    """What :func:`kanjian.vlm.images.load_image` takes for one image argument.

    ``where`` names the argument in messages (``'image'``, ``'images[2]'``).
    """
    text = value.strip()
    if not text:
        raise ToolInputError(
            f"Argument {where!r} is empty; give a file path, a data: URL or base64 image bytes."
        )
    if text == "-":
        # Over stdio, standard input is the MCP channel itself.
        raise ToolInputError(
            f"Argument {where!r} is '-' (standard input), which an MCP server cannot read; "
            "give a file path, a data: URL or base64 image bytes."
        )
    if text.startswith("data:"):
        return _data_url(text, where)
    if not _is_file(text):
        decoded = _base64(text)
        if decoded is not None:
            return decoded
    return str(Path(text).expanduser())


def _is_file(text: str) -> bool:
    try:
        return Path(text).expanduser().exists()
    except (OSError, ValueError):  # too long for a file name, or a NUL byte: not a path
        return False


def _data_url(text: str, where: str) -> bytes:
    header, comma, payload = text.partition(",")
    decoded = _base64(payload) if comma and header.endswith(";base64") else None
    if decoded is None:
        raise ToolInputError(
            f"Argument {where!r} is a data: URL ({header[:40]!r}...) that is not base64; send "
            "'data:image/png;base64,<bytes>' or the file's path."
        )
    return decoded


def _base64(text: str) -> bytes | None:
    if len(text) < _MIN_BASE64 or not _BASE64.fullmatch(text):
        return None
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


async def bind_images(
    schema: dict[str, Any], args: dict[str, Any], ctx: SimpleToolContext
) -> tuple[dict[str, Any], dict[str, str]]:
    """``args`` with each image (path, data URL, base64) loaded into ``ctx`` and named by id,
    and what each id was called by the client (its path, or :data:`BASE64_LABEL`)."""
    import asyncio

    from kanjian.vlm.images import aload_image

    bound = dict(args)
    shown: dict[str, str] = {}
    for name in image_arguments(schema):
        value = args.get(name)
        if not isinstance(value, str):
            continue
        source = image_source(value, name)
        label = source if isinstance(source, str) else BASE64_LABEL
        loaded = await aload_image(source, name=None if isinstance(source, str) else label)
        # In a thread: registering decodes the full-resolution pixels (a 12 MP photo takes a
        # while), which must not hold up the other calls being served.
        image_id = await asyncio.to_thread(ctx.add, loaded)
        bound[name] = image_id
        shown[image_id] = label
    return bound, shown


def check_arguments(tool: str, schema: dict[str, Any], args: dict[str, Any]) -> None:
    """Check ``args`` against ``schema``; a ToolInputError naming the argument otherwise.

    For tools that do not check their own arguments (``ask``, tools built as plain Tool
    objects); ``@tool`` functions check theirs, with their own messages.
    """
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(schema).iter_errors(args))
    if error is None:
        return
    known = ", ".join(schema.get("properties", {})) or "none"
    where = f"argument {error.absolute_path[0]!r}" if error.absolute_path else "these arguments"
    raise ToolInputError(
        f"Tool {tool!r} cannot take {where}: {error.message}. Its arguments are: {known}."
    )
