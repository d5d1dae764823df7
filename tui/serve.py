"""Launching SGLang for InternVL 1.5 (``kanjian serve-model``).

The launch command comes from settings (``[serve]`` and the host/port of ``vlm.url``), as
DESIGN.md fixes it. Before starting we check that the configured Python has SGLang and that
there is a GPU, so that a missing piece is one sentence rather than a page of SGLang
traceback. While the model loads, ``/health`` answers 503: progress is printed until it
turns healthy; if the process dies first, the last lines of its output are shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from kanjian.agent.errors import ConfigError, RunFailed

if TYPE_CHECKING:
    from kanjian.agent.config import Settings

__all__ = ["ModelServer", "launch_command", "preflight"]


def launch_command(settings: Settings) -> list[str]:
    """``python -m sglang.launch_server ...`` for the configured model, host and port."""
    parts = urlsplit(settings.vlm.url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(
            f"vlm.url {settings.vlm.url!r} is not an http(s) URL; set it like "
            "'http://127.0.0.1:30000'."
        )
    serve = settings.serve
    command = [
        serve.python, "-m", "sglang.launch_server",
        "--model-path", serve.model_path,
        "--trust-remote-code",
        "--chat-template", serve.chat_template,
        "--enable-multimodal",
        "--enable-cache-report",
        "--host", parts.hostname,
        "--port", str(parts.port or (443 if parts.scheme == "https" else 80)),
    ]  # fmt: skip
    if settings.vlm.api_key:
        command += ["--api-key", settings.vlm.api_key]
    return command + list(serve.extra_args)


def preflight(settings: Settings) -> None:
    """Raise ConfigError naming what is missing: the Python, SGLang in it, or a GPU."""
    python = settings.serve.python
    if shutil.which(python) is None and not os.path.exists(python):
        raise ConfigError(
            f"serve.python {python!r} was not found; set it to the Python that has SGLang."
        )
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('sglang.launch_server') is None)"
    if subprocess.run([python, "-c", probe], capture_output=True, timeout=60).returncode != 0:
        raise ConfigError(
            f"SGLang is not installed for {python!r}; install it on a GPU machine with "
            "`pip install 'sglang[all]'`, or point --url at a running server."
        )
    if settings.serve.require_gpu and shutil.which("nvidia-smi") is None:
        raise ConfigError(
            "No GPU found (nvidia-smi is missing): InternVL 1.5 needs one; run serve-model on a "
            "GPU machine and point KANJIAN_URL at it, or use the local backend (--backend local)."
        )


@dataclass
class ModelServer:
    """One SGLang process: started, watched until healthy, stopped with its process group."""

    command: list[str]
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us; we stop its whole group ourselves
        )
        self._tail: deque[str] = deque(maxlen=15)
        assert self.process.stdout is not None
        loop = asyncio.get_running_loop()
        self._reader = loop.run_in_executor(None, self._drain, self.process.stdout)

    def _drain(self, stream: object) -> None:
        for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
            self._tail.append(raw.decode("utf-8", "replace").rstrip())

    def output_tail(self) -> str:
        return "\n".join(self._tail)

    async def wait_healthy(self, settings: Settings, on_progress: Callable[[str], None]) -> None:
        from kanjian.agent.backends import http_backend
        from kanjian.vlm.errors import ServerError

        async with http_backend(settings) as client:
            waiter = asyncio.ensure_future(
                client.wait_until_healthy(
                    budget=settings.vlm.health_wait,
                    on_progress=on_progress,
                    interval=1.0,
                    until_listening=True,  # we just launched it: refused means not up yet
                )
            )
            while not waiter.done():
                if self.process is not None and self.process.poll() is not None:
                    waiter.cancel()
                    raise RunFailed(
                        f"SGLang exited with code {self.process.returncode} before it was "
                        f"healthy; its last output:\n{self.output_tail()}"
                    )
                await asyncio.wait({waiter}, timeout=0.5)
            try:
                waiter.result()
            except ServerError as exc:
                raise RunFailed(f"SGLang did not become healthy: {exc}") from exc

    async def wait_exit(self) -> int:
        assert self.process is not None
        return await asyncio.to_thread(self.process.wait)

    def stop(self, grace: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
