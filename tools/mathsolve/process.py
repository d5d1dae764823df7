"""The parent's handle on the math worker: one persistent process, killed on a timeout.

Starting Python and importing SymPy takes about a second, far too slow to pay per call, and
a thread cannot be stopped in the middle of a big-integer power. So one worker process
serves every call (one at a time, under a lock); when a call runs past its limit the worker
is killed and the next call starts a fresh one. Replies are read by a small thread per
process into a queue, which gives a portable wait-with-timeout on the pipe.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from kanjian.tools.errors import ToolFailed, ToolTimeout

__all__ = ["MathWorker"]

# Generous: a cold start on a busy machine (Python + SymPy + ANTLR) can take several seconds.
_START_TIMEOUT = 60.0
_ROOT = str(Path(__file__).resolve().parents[2])


class MathWorker:
    """A persistent ``kanjian.tools.mathsolve.worker`` child process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[str | None] = queue.Queue()
        # Whether the current process has said it is ready (imports done).
        self._ready = False

    def start(self) -> None:
        """Start the worker now (idempotent), so the first call pays no start-up."""
        with self._lock:
            self._ensure()

    @property
    def pid(self) -> int | None:
        """The worker's process id, or None when none is running."""
        return self._proc.pid if self._proc is not None else None

    def call(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one request; the reply, or ToolTimeout after ``timeout`` seconds.

        A worker found dead (killed from outside, crashed earlier) is replaced and the
        request sent once more; a second death is reported as ToolFailed.
        """
        with self._lock:
            try:
                return self._exchange(request, timeout)
            except _WorkerDied:
                pass
            try:
                return self._exchange(request, timeout)
            except _WorkerDied as exc:
                raise ToolFailed(f"The math worker stopped unexpectedly ({exc}).") from exc

    def _exchange(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        proc = self._ensure()
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
        except OSError as exc:
            self._kill()
            raise _WorkerDied(str(exc)) from exc
        try:
            line = self._replies.get(timeout=timeout)
        except queue.Empty:
            self._kill()
            # Start the replacement now, so that the next call does not wait for it.
            self._proc, self._replies = self._spawn()
            raise ToolTimeout(f"timeout after {timeout:g} s") from None
        if line is None:
            raise _WorkerDied(f"exit code {self._kill()}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def close(self) -> None:
        with self._lock:
            self._kill()

    def _ensure(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._kill()
            self._proc, self._replies = self._spawn()
            self._ready = False
        if self._ready:
            return self._proc
        try:
            ready = self._replies.get(timeout=_START_TIMEOUT)
        except queue.Empty:
            ready = None
        if ready is None:
            code = self._kill()
            raise ToolFailed(
                f"The math worker did not start (exit code {code}); "
                f"check that `{sys.executable} -m tools.mathsolve.worker` runs."
            )
        self._ready = True
        return self._proc

    def _spawn(self) -> tuple[subprocess.Popen[str], queue.Queue[str | None]]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
        proc = subprocess.Popen(
            [sys.executable, "-m", "kanjian.tools.mathsolve.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            env=env,
        )
        replies: queue.Queue[str | None] = queue.Queue()
        assert proc.stdout is not None
        reader = threading.Thread(
            target=_read_lines, args=(proc.stdout, replies), name="math-worker-reader", daemon=True
        )
        reader.start()
        return proc, replies

    def _kill(self) -> int | None:
        proc, self._proc = self._proc, None
        self._ready = False
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        return code


class _WorkerDied(Exception):
    """The worker process went away mid-request."""


def _read_lines(stream: IO[str], replies: queue.Queue[str | None]) -> None:
    try:
        for line in stream:
            replies.put(line)
    except (OSError, ValueError):
        pass  # the stream was closed under us: the process is gone
    replies.put(None)
