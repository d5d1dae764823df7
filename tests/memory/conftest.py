"""Fixtures for the memory suite: a real Chroma server, stores on both backends, images."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from memory.api import Memory

CHROMA = Path(sys.executable).with_name("chroma")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``chroma run`` on 127.0.0.1, started once for the suite."""
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    proc = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_heartbeat(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_heartbeat(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chroma run exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"chroma run at {url} did not answer its heartbeat in 30 s")


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
