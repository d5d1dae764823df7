"""``kanjian serve-model`` against a stand-in ``sglang.launch_server`` module.

The stand-in is a real HTTP server process that answers /health 503 while "loading", then
200 — so the launch, the health wait with progress, and the stop on Ctrl-C all run for real.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.cli.conftest import REPO, KanjianRunner

FAKE_LAUNCH_SERVER = textwrap.dedent(
    """
    import sys, time
    from http.server import BaseHTTPRequestHandler, HTTPServer

    args = sys.argv[1:]
    port = int(args[args.index("--port") + 1])
    started = time.monotonic()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            loading = time.monotonic() - started < float(__import__("os").environ.get("FAKE_LOAD_S", "1"))
            self.send_response(503 if loading else 200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *a):
            pass

    if "--crash" in args:
        print("RuntimeError: CUDA out of memory", flush=True)
        sys.exit(3)
    print("fake sglang listening", flush=True)
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fake_sglang(tmp_path: Path, _hermetic_env: Path) -> dict[str, str]:
    package = tmp_path / "fake" / "sglang"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "launch_server.py").write_text(FAKE_LAUNCH_SERVER)
    (_hermetic_env / "config.toml").write_text(
        f'[serve]\npython = "{sys.executable}"\nrequire_gpu = false\n'
    )
    return {"PYTHONPATH": f"{package.parent}{os.pathsep}{REPO}"}


def test_dry_run_prints_the_design_launch_command(kanjian: KanjianRunner) -> None:
    result = kanjian("serve-model", "--dry-run", "--url", "http://127.0.0.1:31234")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1:] == [
        "-m", "sglang.launch_server", "--model-path", "OpenGVLab/InternVL-Chat-V1-5",
        "--trust-remote-code", "--chat-template", "internvl-2-5", "--enable-multimodal",
        "--enable-cache-report", "--host", "127.0.0.1", "--port", "31234",
    ]  # fmt: skip


def test_missing_sglang_is_one_sentence(
    kanjian: KanjianRunner, _hermetic_env: Path, tmp_path: Path
) -> None:
    python = tmp_path / "venv-without-sglang" / "python"
    python.parent.mkdir()
    python.write_text("#!/bin/sh\nexit 1\n")
    python.chmod(0o755)
    (_hermetic_env / "config.toml").write_text(f'[serve]\npython = "{python}"\n')
    result = kanjian("serve-model")
    assert result.returncode == 2
    assert result.stderr.startswith("kanjian: SGLang is not installed for")
    assert "Traceback" not in result.stderr


def test_missing_gpu_is_one_sentence(
    kanjian: KanjianRunner, fake_sglang: dict[str, str], _hermetic_env: Path
) -> None:
    (_hermetic_env / "config.toml").write_text(f'[serve]\npython = "{sys.executable}"\n')
    result = kanjian("serve-model", env={**fake_sglang, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert "No GPU found" in result.stderr


def test_waits_for_health_then_stops_on_ctrl_c(fake_sglang: dict[str, str]) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from kanjian.tui.cli import main; main()",
            "serve-model",
            "--url",
            f"http://127.0.0.1:{port}",
        ],
        cwd=REPO,
        env={**os.environ, **fake_sglang, "FAKE_LOAD_S": "1.5"},
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        if "is ready" in line or not line:
            break
    assert any("is ready" in line for line in lines), lines
    assert any("loading" in line.lower() or "starting" in line.lower() for line in lines), lines
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    with socket.socket() as sock:  # the SGLang process group is gone with it
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_crash_while_loading_shows_its_output(
    kanjian: KanjianRunner, fake_sglang: dict[str, str], _hermetic_env: Path
) -> None:
    (_hermetic_env / "config.toml").write_text(
        f'[serve]\npython = "{sys.executable}"\nrequire_gpu = false\nextra_args = ["--crash"]\n'
    )
    result = kanjian("serve-model", "--url", f"http://127.0.0.1:{free_port()}", env=fake_sglang)
    assert result.returncode == 1
    assert "SGLang exited with code 3" in result.stderr
    assert "CUDA out of memory" in result.stderr
