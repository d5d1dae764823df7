"""Scale-out as ``docs/scripting.md`` describes it, with the real components.

A real ``sglang_router`` (the ``sglang-router`` package, round robin) in front of two
scripted model servers; two "machines" (each its own ``KANJIAN_HOME``) run ``kanjian batch
--remember`` at the same time over their half of one task file, with nothing but ``--url``
at the router and ``memory.url`` at one real ``chroma run`` server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kanjian.vlm.fake_server import ScriptedServer
from tests.batch.conftest import KANJIAN, TaskWriter, question_of, read_lines
from tests.conftest import free_port

pytestmark = pytest.mark.slow

TASKS = 16


class _Worker:
    """A scripted model server that answers as itself, so the test sees who served what."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.questions: list[str] = []

    def __call__(self, request: dict[str, Any]) -> str:
        question = question_of(request)
        self.questions.append(question)
        return json.dumps({"thought": "done", "answer": f"{self.name}: {question}"})


@pytest.fixture(scope="module")
def workers() -> Iterator[list[tuple[_Worker, ScriptedServer]]]:
    models = [_Worker("gpu1"), _Worker("gpu2")]
    with ScriptedServer(responder=models[0]) as one, ScriptedServer(responder=models[1]) as two:
        yield [(models[0], one), (models[1], two)]


@pytest.fixture(scope="module")
def router(workers: list[tuple[_Worker, ScriptedServer]]) -> Iterator[str]:
    """``python -m sglang_router.launch_router`` over both workers, until it routes to both."""
    port = free_port()
    urls = [server.url for _, server in workers]
    command = [sys.executable, "-m", "sglang_router.launch_router", "--worker-urls", *urls]
    command += ["--policy", "round_robin", "--host", "127.0.0.1", "--port", str(port)]
    # Its Prometheus exporter takes a fixed port otherwise (29000): a second router would fail.
    command += ["--prometheus-host", "127.0.0.1", "--prometheus-port", str(free_port())]
    proc = subprocess.Popen(
        [*command, "--log-level", "warn"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_workers(url, proc, len(urls))
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_for_workers(url: str, proc: subprocess.Popen[bytes], count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            error = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            raise RuntimeError(f"sglang_router exited with {proc.returncode}: {error}")
        try:
            info = httpx.get(f"{url}/get_server_info", timeout=1).json()
            if info.get("workers_count") == count:
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"sglang_router at {url} did not report {count} workers in 60 s")


def _machine(home: Path, router: str, chroma: str, tasks: Path, out: Path) -> subprocess.Popen[str]:
    """``kanjian batch`` as one machine of the team runs it: its own home, shared servers."""
    home.mkdir()
    (home / "config.toml").write_text("[vlm]\nretries = 0\n", encoding="utf-8")
    env = {**os.environ, "KANJIAN_HOME": str(home), "KANJIAN_MEMORY_URL": chroma}
    env["KANJIAN_EMBEDDER"] = "hash"  # no model download; the vector side is what is shared
    args = [str(tasks), "-o", str(out), "-c", "4", "--remember", "--url", router]
    return subprocess.Popen(
        [*KANJIAN, "batch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_two_machines_behind_a_router_share_the_model_and_the_memory(
    router: str,
    workers: list[tuple[_Worker, ScriptedServer]],
    chroma_server: str,
    write_tasks: TaskWriter,
    tmp_path: Path,
) -> None:
    tasks = write_tasks([{"id": f"t{n}", "question": f"what is {n}?"} for n in range(TASKS)])
    lines = tasks.read_text(encoding="utf-8").splitlines(keepends=True)
    parts = [tmp_path / "part-a.jsonl", tmp_path / "part-b.jsonl"]  # split -n l/2
    parts[0].write_text("".join(lines[: TASKS // 2]), encoding="utf-8")
    parts[1].write_text("".join(lines[TASKS // 2 :]), encoding="utf-8")
    outs = [tmp_path / "out-a.jsonl", tmp_path / "out-b.jsonl"]
    machines = [
        _machine(tmp_path / f"machine-{n}", router, chroma_server, part, out)
        for n, (part, out) in enumerate(zip(parts, outs, strict=True))
    ]
    for proc in machines:
        _, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, stderr[-2000:]

    records = [record for out in outs for record in read_lines(out)]  # the outputs concatenate
    assert sorted(r["id"] for r in records) == sorted(f"t{n}" for n in range(TASKS))
    for record in records:
        served_by, _, question = record["answer"].partition(": ")
        assert served_by in ("gpu1", "gpu2") and question == f"what is {record['id'][1:]}?"
        assert record["error"] is None
    # The router spread the work over both model servers.
    assert all(len(model.questions) >= TASKS // 4 for model, _ in workers)

    # Both machines' turns are in the one Chroma server.
    import chromadb

    host, port = chroma_server.removeprefix("http://").split(":")
    client = chromadb.HttpClient(host=host, port=int(port))
    stored = set()
    for collection in client.list_collections():
        documents = client.get_collection(collection.name).get(include=["documents"])
        stored.update(d for d in documents["documents"] or [] if "what is" in d)
    assert {f"what is {n}?" for n in range(TASKS)} <= {
        question for text in stored for question in _questions(text)
    }


def _questions(text: str) -> list[str]:
    return [f"what is {n}?" for n in range(TASKS) if f"what is {n}?" in text]
