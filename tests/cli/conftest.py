"""Helpers for running the real ``kanjian`` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
KanjianRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kanjian() -> KanjianRunner:
    """Run ``kanjian ARGS`` as a user would: a fresh process, real stdout/stderr/exit code."""

    def run(
        *args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from kanjian.tui.cli import main; main()", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            env={**os.environ, **(env or {})},
        )

    return run
