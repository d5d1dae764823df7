"""The fault suite's fixtures: a misbehaving model server, and the real ``kanjian`` against it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.fault_server import FaultServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def _fault_server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


@pytest.fixture
def faults(_fault_server: FaultServer) -> FaultServer:
    """The suite's fault server with an empty script and no recorded requests."""
    _fault_server.reset()
    return _fault_server


@dataclass
class Ran:
    code: int
    seconds: float
    stdout: str
    stderr: str


Kanjian = Callable[..., Ran]


@pytest.fixture
def kanjian() -> Kanjian:
    """``kanjian ARGS`` in a fresh process (as a user runs it), timed; never hangs the suite."""

    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 60, stdin: bytes = b""
    ) -> Ran:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-c", "from kanjian.tui.cli import main; main()", *args],
            input=stdin,
            capture_output=True,
            timeout=timeout,
            cwd=REPO,
            env={**os.environ, **(env or {})},
        )
        out, err = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
        return Ran(done.returncode, time.monotonic() - started, out, err)

    return run
