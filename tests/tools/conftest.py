"""Images and a small scripted model for the tools tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from kanjian.vlm.types import (
    ChatRequest,
    ChatResult,
    Finished,
    ModelInfo,
    StreamEvent,
    TextDelta,
    Usage,
)

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def text_image(lines: list[str], size: tuple[int, int] = (640, 240)) -> Image.Image:
    """White image with black text lines, large enough for RapidOCR to read reliably."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 32) if Path(FONT).exists() else ImageFont.load_default(32)
    for i, line in enumerate(lines):
        draw.text((30, 30 + i * 60), line, fill="black", font=font)
    return image


class ScriptedBackend:
    """A ChatBackend that answers from a queue and records each request."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.requests: list[ChatRequest] = []

    async def complete(self, request: ChatRequest) -> ChatResult:
        self.requests.append(request)
        return ChatResult(text=self.answers.pop(0), finish_reason="stop", usage=Usage())

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        result = await self.complete(request)
        yield TextDelta(result.text)
        yield Finished("stop")

    async def model_info(self) -> ModelInfo:
        return ModelInfo(model="scripted")

    async def aclose(self) -> None:
        return None


@pytest.fixture
def hello_image() -> Image.Image:
    return text_image(["Hello World", "Total 42.50"])


@pytest.fixture
def kanjian_home() -> Path:
    """The data dir the root conftest points KANJIAN_HOME at."""
    import os

    return Path(os.environ["KANJIAN_HOME"])
