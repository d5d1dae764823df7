"""The 0–1000 box argument the built-ins share, and its checks."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from kanjian.tools.errors import ToolInputError

__all__ = ["BoxArg", "check_box"]

Box = tuple[int, int, int, int]

BoxArg = Annotated[
    list[Annotated[int, Field(ge=0, le=1000)]],
    Field(
        min_length=4,
        max_length=4,
        description="[x1, y1, x2, y2] in the 0–1000 frame of the image.",
    ),
]


def check_box(box: list[int], tool: str, arg: str = "box") -> Box:
    """The box as a tuple, if it has an area; ToolInputError (the model may retry) if not."""
    x1, y1, x2, y2 = box
    if x1 >= x2 or y1 >= y2:
        raise ToolInputError(
            f"Argument {arg!r} of tool {tool!r} is {box!r}, which has no area; give "
            "[x1, y1, x2, y2] with x1 < x2 and y1 < y2 in the 0–1000 frame."
        )
    return (x1, y1, x2, y2)
