"""``kanjian mcp`` refuses bad flags with one sentence and exit 2, before serving anything."""

from __future__ import annotations

import os
import subprocess

import pytest

from .conftest import KANJIAN, REPO


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*KANJIAN, "mcp", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--http", "70000"], {}, "--http 70000 is not a port"),
        (["--token", "x"], {}, "--token applies to --http only"),
        (["--http", "0", "--host", "0.0.0.0"], {}, "set a bearer token"),
        (["-c", "0"], {}, "Concurrency 0 is too small"),
        ([], {"KANJIAN_MCP_CONCURRENCY": "many"}, "KANJIAN_MCP_CONCURRENCY='many'"),
    ],
)
def test_bad_flags(args: list[str], env: dict[str, str], message: str) -> None:
    done = _run(*args, env=env)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_busy_port_is_one_sentence() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _run("--http", str(port), "--builtin-only", "--no-memory")
    assert done.returncode == 2
    assert f"Cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_stdio_ends_quietly_when_the_client_closes() -> None:
    done = _run("--builtin-only", "--no-memory")  # stdin is /dev/null: closed at once
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
