"""Misbehaving plugins against the one tool pipeline (issue 16: items 1, 3, 5, 11, 12).

Each test runs the real ``kanjian`` command in a subprocess, with a plugin file in the
test's KANJIAN_HOME and the scripted model server on 127.0.0.1, and is named for the defect
it guards against.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kanjian.vlm.fake_server import ScriptedServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def _plugin(home: Path, name: str, source: str) -> Path:
    folder = home / "plugins"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(source, encoding="utf-8")
    return path


def _kanjian(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from kanjian.tui.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def _call(tool: str) -> str:
    return json.dumps({"thought": "try it", "tool": tool, "args": {}})


def _answer(text: str) -> str:
    return json.dumps({"thought": "done", "answer": text})


def _ask(server: ScriptedServer, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return _kanjian("ask", "Go", "--url", server.url, "--json", "--no-memory", timeout=timeout)


HANG = '''
import time
from kanjian.tools import tool

@tool(timeout=1)
def hang() -> str:
    """Never returns."""
    while True:
        time.sleep(0.05)
'''


def test_a_hung_sync_tool_does_not_keep_ask_alive_after_the_answer(
    server: ScriptedServer, _hermetic_env: Path
) -> None:
    _plugin(_hermetic_env, "hang.py", HANG)
    server.enqueue(_call("hang"), _answer("It hung."))
    started = time.monotonic()
    done = _ask(server, timeout=40)  # old main: never exits (TimeoutExpired)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["answer"] == "It hung."
    assert "did not finish within 1 s" in json.loads(done.stdout)["steps"][0]["error"]
    assert time.monotonic() - started < 30


def test_a_hung_sync_tool_does_not_keep_tools_run_alive(_hermetic_env: Path) -> None:
    _plugin(_hermetic_env, "hang.py", HANG)
    done = _kanjian("tools", "run", "hang", "--args", "{}", timeout=40)
    assert done.returncode == 1
    assert "did not finish within 1 s" in done.stderr and "Traceback" not in done.stderr


def test_a_hung_sync_tool_does_not_keep_batch_alive(
    server: ScriptedServer, _hermetic_env: Path, tmp_path: Path
) -> None:
    _plugin(_hermetic_env, "hang.py", HANG)
    server.enqueue(_call("hang"), _answer("It hung."))
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"id": "t1", "question": "Go"}) + "\n")
    out = tmp_path / "out.jsonl"
    done = _kanjian("batch", str(tasks), "-o", str(out), "--url", server.url, timeout=40)
    assert done.returncode == 0, done.stderr  # old main: never exits (TimeoutExpired)
    assert json.loads(out.read_text())["answer"] == "It hung."


ODD_VALUES = '''
import dataclasses, datetime, pathlib
import numpy as np
from kanjian.tools import tool

@dataclasses.dataclass
class Point:
    x: int
    y: int

@tool
def odd() -> dict:
    """Return values json cannot write."""
    return {
        "when": datetime.datetime(2026, 12, 4, 19, 30),
        "tags": {"b", "a"},
        "where": pathlib.Path("/tmp/x"),
        "raw": b"hi",
        "array": np.arange(3),
        "mean": np.float32(0.5),
        "point": Point(1, 2),
    }
'''


def test_a_tool_result_with_datetime_set_path_bytes_numpy_keeps_the_json_answer(
    server: ScriptedServer, _hermetic_env: Path
) -> None:
    _plugin(_hermetic_env, "odd.py", ODD_VALUES)
    server.enqueue(_call("odd"), _answer("Odd values."))
    done = _ask(server)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)  # old main: "internal error (TypeError ...)", no answer
    assert record["answer"] == "Odd values."
    assert record["steps"][0]["output"] == {
        "when": "2026-12-04T19:30:00",
        "tags": ["a", "b"],
        "where": "/tmp/x",
        "raw": "hi",
        "array": [0, 1, 2],
        "mean": 0.5,
        "point": {"x": 1, "y": 2},
    }


def test_a_batch_survives_a_tool_result_holding_a_datetime(
    server: ScriptedServer, _hermetic_env: Path, tmp_path: Path
) -> None:
    _plugin(_hermetic_env, "odd.py", ODD_VALUES)
    server.responder = lambda request: _answer("Done.") if _observed(request) else _call("odd")
    tasks = tmp_path / "tasks.jsonl"
    lines = (json.dumps({"id": f"t{i}", "question": f"q{i}"}) + "\n" for i in range(3))
    tasks.write_text("".join(lines))
    out = tmp_path / "out.jsonl"
    done = _kanjian("batch", str(tasks), "-o", str(out), "--url", server.url, timeout=60)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["answer"] for r in records] == ["Done."] * 3  # old main: 1 of 3, then a crash
    assert all(r["steps"][0]["output"]["when"] == "2026-12-04T19:30:00" for r in records)


def _observed(request: dict[str, Any]) -> bool:
    return any(
        isinstance(part, dict) and part.get("text", "").startswith("Observation from")
        for message in request["messages"]
        if message["role"] == "user" and isinstance(message["content"], list)
        for part in message["content"]
    )


FLOOD = '''
from kanjian.tools import tool

@tool
def flood() -> str:
    """Return far too much."""
    return "x" * 200_000
'''


def test_a_flooding_tool_is_capped_for_the_model_and_kept_whole_on_disk(
    server: ScriptedServer, _hermetic_env: Path
) -> None:
    _plugin(_hermetic_env, "flood.py", FLOOD)
    server.enqueue(_call("flood"), _answer("Lots of x."))
    done = _ask(server)
    assert done.returncode == 0, done.stderr
    observation = server.chat_requests[1].json["messages"][-1]["content"][0]["text"]
    assert len(observation) < 17_000  # old main: 200,000 characters sent on
    assert "[Output cut: the first 16,000 of 200,000 characters are shown" in observation
    kept = observation.rsplit("the whole output is in ", 1)[1].removesuffix(".]")
    assert json.loads(Path(kept).read_text())["text"] == "x" * 200_000
    session = _hermetic_env / "sessions" / f"{json.loads(done.stdout)['session']}.json"
    assert session.stat().st_size < 40_000


PRINTS = '''
from kanjian.tools import tool

print("loading the noisy plugin")

@tool
def noisy() -> str:
    """Print while running."""
    print("noise from the tool")
    return "quiet result"
'''


def test_a_plugin_print_does_not_reach_stdout_so_ask_json_parses(
    server: ScriptedServer, _hermetic_env: Path
) -> None:
    _plugin(_hermetic_env, "noisy.py", PRINTS)
    server.enqueue(_call("noisy"), _answer("Heard it."))
    done = _ask(server)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["answer"] == "Heard it."  # old main: JSONDecodeError
    assert "loading the noisy plugin" in done.stderr and "noise from the tool" in done.stderr


SLOW_IMPORT = '''
import time
from kanjian.tools import tool

time.sleep(5)

@tool
def late() -> str:
    """Loads slowly."""
    return "late"
'''


def test_a_plugin_slow_to_import_is_skipped_with_a_warning_naming_it_and_the_limit(
    server: ScriptedServer, _hermetic_env: Path
) -> None:
    _plugin(_hermetic_env, "slow.py", SLOW_IMPORT)
    server.enqueue(_answer("Fine without it."))
    done = _kanjian(
        "ask", "Go", "--url", server.url, "--json", "--no-memory",
        env={"KANJIAN_TOOLS__LOAD_TIMEOUT": "0.5"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["answer"] == "Fine without it."
    assert "kanjian: warning: plugin file slow.py did not finish loading within 0.5 s" in (
        done.stderr
    )


SLOW_HANG = HANG.replace("@tool(timeout=1)", "@tool(timeout=120)")


def test_ctrl_c_during_a_hung_sync_tool_exits_at_once_without_a_traceback(
    server: ScriptedServer, _hermetic_env: Path
) -> None:
    _plugin(_hermetic_env, "hang.py", SLOW_HANG)
    server.enqueue(_call("hang"), _answer("never"))
    process = subprocess.Popen(
        [sys.executable, "-c", "from kanjian.tui.cli import main; main()", "ask", "Go",
         "--url", server.url, "--json", "--no-memory"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        for _ in range(400):  # the tool is running once the model has been asked
            if server.chat_requests:
                break
            time.sleep(0.05)
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=15)  # old main: waits on the thread
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)  # the second Ctrl-C
            _, stderr = process.communicate(timeout=15)
            pytest.fail(f"a first Ctrl-C did not end the run; after a second: {stderr}")
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "kanjian: interrupted." in stderr
