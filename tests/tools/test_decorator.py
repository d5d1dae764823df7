"""@tool: schema from hints and docstrings, checks at definition, validation at call time."""

from __future__ import annotations

import threading
from typing import Annotated, Literal

import pytest
from PIL import Image
from pydantic import Field

from kanjian.tools.base import DerivedImage, ToolContext, ToolOutput
from kanjian.tools.context import SimpleToolContext
from kanjian.tools.decorator import FunctionTool, parse_docstring, tool
from kanjian.tools.errors import ToolDefinitionError, ToolFailed, ToolInputError


@tool
def word_count(text: str, unique: bool = False, mode: Literal["words", "chars"] = "words") -> int:
    """Count the words in a text.

    Args:
        text: The text to count. It may span
            several lines.
        unique: Count each distinct word once.
        mode: What to count.

    Returns:
        The count.
    """
    items = text.split() if mode == "words" else list(text)
    return len(set(items)) if unique else len(items)


def test_schema_comes_from_hints_and_docstring() -> None:
    schema = word_count.args_schema
    assert word_count.description == "Count the words in a text."
    assert schema["type"] == "object"
    assert schema["required"] == ["text"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["text"] == {
        "type": "string",
        "description": "The text to count. It may span several lines.",
    }
    assert props["unique"]["default"] is False
    assert props["mode"]["enum"] == ["words", "chars"]
    assert "title" not in props["text"]


def test_annotated_description_wins_over_docstring() -> None:
    @tool(name="greet", side_effects=True, timeout=5)
    def hello(
        name: Annotated[str, Field(description="Who to greet.")], times: int | None = None
    ) -> str:
        """Say hello.

        Args:
            name: ignored, the Field wins.
            times: How many times.
        """
        return "hello " * (times or 1) + name

    assert isinstance(hello, FunctionTool)
    assert hello.name == "greet" and hello.side_effects and hello.timeout == 5
    assert hello.args_schema["properties"]["name"]["description"] == "Who to greet."
    assert hello.args_schema["properties"]["times"]["description"] == "How many times."
    # The decorated object still calls the original function.
    assert hello("Ann") == "hello Ann"


def test_numpy_docstring() -> None:
    summary, args = parse_docstring(
        """Scale a value.

        Parameters
        ----------
        value : float
            The value to scale.
        factor : float
            How much.

        Returns
        -------
        float
        """
    )
    assert summary == "Scale a value."
    assert args == {"value": "The value to scale.", "factor": "How much."}


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("def f(x: int) -> int:\n    return x", "no docstring"),
        ("def f(x) -> int:\n    '''Doc.'''\n    return x", "has no type hint"),
        ("def f(*xs: int) -> int:\n    '''Doc.'''\n    return 0", "named arguments only"),
        ("def f(x: object) -> int:\n    '''Doc.'''\n    return 0", None),
        ("def f(x: 'Missing') -> int:\n    '''Doc.'''\n    return 0", "cannot be resolved"),
        ("def f(x: socket.socket) -> int:\n    '''Doc.'''\n    return 0", "cannot describe"),
    ],
)
def test_bad_definitions_fail_at_registration(source: str, fragment: str | None) -> None:
    namespace: dict[str, object] = {"socket": __import__("socket")}
    exec(source, namespace)
    if fragment is None:  # object is a valid (if loose) JSON type
        assert tool(namespace["f"]).name == "f"  # type: ignore[arg-type]
        return
    with pytest.raises(ToolDefinitionError, match=fragment):
        tool(namespace["f"])  # type: ignore[arg-type]


def test_bad_name() -> None:
    def ok(x: int) -> int:
        """Doc."""
        return x

    with pytest.raises(ToolDefinitionError, match="not allowed"):
        tool(name="two words")(ok)


async def test_call_validates_arguments() -> None:
    ctx = SimpleToolContext()
    out = await word_count.run({"text": "a b a", "unique": True}, ctx)
    assert out.text == "2" and out.data == {"result": 2}
    with pytest.raises(ToolInputError, match="needs argument 'text'"):
        await word_count.run({}, ctx)
    with pytest.raises(ToolInputError, match="has no argument 'txt'"):
        await word_count.run({"text": "a", "txt": "b"}, ctx)
    with pytest.raises(ToolInputError, match="'mode'"):
        await word_count.run({"text": "a", "mode": "lines"}, ctx)


async def test_context_and_images() -> None:
    @tool
    async def size(ctx: ToolContext, image: str) -> dict[str, int]:
        """Size of an image."""
        width, height = ctx.image(image).size
        return {"width": width, "height": height}

    @tool
    def flip(image: Image.Image) -> Image.Image:
        """Flip an image upside down."""
        return image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)

    assert "ctx" not in size.args_schema["properties"]
    assert flip.args_schema["properties"]["image"]["type"] == "string"
    ctx = SimpleToolContext({"image_1": Image.new("RGB", (30, 20))})
    out = await size.run({"image": "image_1"}, ctx)
    assert out.data == {"width": 30, "height": 20}
    assert out.text == '{"width": 30, "height": 20}'
    with pytest.raises(ToolInputError, match=r"'image_9'.*image_1"):
        await size.run({"image": "image_9"}, ctx)
    flipped = await flip.run({"image": "image_1"}, ctx)
    assert len(flipped.images) == 1 and isinstance(flipped.images[0], DerivedImage)
    assert flipped.images[0].image.size == (30, 20)


async def test_an_async_tools_images_are_decoded_off_the_event_loop() -> None:
    # The agent's images decode on first use (a photo: tens of ms); an async tool reading one on
    # the event loop would stall every other task of a batch meanwhile.
    threads: list[int] = []

    class RecordingContext(SimpleToolContext):
        def image(self, image_id: str) -> Image.Image:
            threads.append(threading.get_ident())
            return super().image(image_id)

    @tool
    async def size(ctx: ToolContext, image: str) -> str:
        """Size of an image."""
        return "x".join(map(str, ctx.image(image).size))

    ctx = RecordingContext({"image_1": Image.new("RGB", (30, 20))})
    out = await size.run({"image": "image_1"}, ctx)
    assert out.text == "30x20"
    assert threads[0] != threading.get_ident()


async def test_exceptions_become_tool_failed() -> None:
    @tool
    def broken(x: int) -> str:
        """Always fails."""
        raise RuntimeError(f"boom {x}")

    @tool
    def wrong_return(x: int) -> object:
        """Returns something that is not a tool result."""
        return object()

    with pytest.raises(ToolFailed, match="RuntimeError: boom 3"):
        await broken.run({"x": 3}, SimpleToolContext())
    with pytest.raises(ToolFailed, match="not a tool result"):
        await wrong_return.run({"x": 3}, SimpleToolContext())


async def test_tool_output_passes_through() -> None:
    @tool
    async def echo(text: str) -> ToolOutput:
        """Echo."""
        return ToolOutput(text=text, data={"echo": text})

    out = await echo.run({"text": "看见"}, SimpleToolContext())
    assert out == ToolOutput(text="看见", data={"echo": "看见"})
