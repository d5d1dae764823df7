"""Fixtures for the memory suite: stores on both backends (the real Chroma server is
``chroma_server`` in ``tests/conftest.py``), images."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kanjian.memory.api import Memory


@pytest.fixture(params=["embedded", "server"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """None for the embedded PersistentClient, else the Chroma server's URL."""
    if request.param == "embedded":
        return None
    url: str = request.getfixturevalue("chroma_server")
    return url


@pytest.fixture
def memory(tmp_path: Path, backend: str | None) -> Iterator[Memory]:
    mem = Memory.at(tmp_path / "memory", "hash", url=backend)
    if backend:  # the server outlives each test: start every test on an empty collection
        mem.core.index.reset()
    yield mem
    mem.close()


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Memory]:
    mem = Memory.at(tmp_path / "memory", "hash")
    yield mem
    mem.close()


@pytest.fixture
def png() -> Callable[..., bytes]:
    """A PNG maker: ``png(color, size)``."""
    return make_png


def make_png(color: str = "red", size: tuple[int, int] = (64, 48)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()
