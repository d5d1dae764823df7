"""``kanjian batch`` end to end: the real CLI over real HTTP to a scripted model server.

Most tests run the command in-process through typer's CliRunner; the kill and Ctrl-C tests
run it as its own process and signal it midway, then check the output file line by line.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kanjian.tui.cli import app
from kanjian.vlm.fake_server import ScriptedServer
from tests.batch.conftest import FAIL, ZOOM, TaskWriter, question_of, read_lines, spawn_batch

DESIGN_KEYS = [
    "id", "session", "answer", "steps", "images", "evidence", "recalled", "usage", "seconds", "error",
]  # fmt: skip


def batch(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["batch", *args])
    return result.exit_code, result.stdout, result.stderr


def test_lines_have_the_design_shape_and_tokens_are_summed(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path
) -> None:
    tasks = write_tasks([{"id": f"t{n}", "question": f"what is {n}?"} for n in range(4)])
    out = tmp_path / "out.jsonl"
    code, stdout, stderr = batch(str(tasks), "-o", str(out), "-c", "2", "--url", server.url)
    assert code == 0, stderr
    assert stdout == ""
    records = {r["id"]: r for r in read_lines(out)}
    assert sorted(records) == ["t0", "t1", "t2", "t3"]
    for n in range(4):
        record = records[f"t{n}"]
        assert list(record) == DESIGN_KEYS
        assert record["answer"] == f"answer: what is {n}?"
        assert record["error"] is None
        assert record["images"] == {"image_1": str(tmp_path / f"img{n}.png")}
        assert set(record["usage"]) == {"prompt_tokens", "completion_tokens", "cached_tokens"}
    cached = sum(r["usage"]["cached_tokens"] for r in records.values())
    prompt = sum(r["usage"]["prompt_tokens"] for r in records.values())
    assert cached > 0  # the fixed system prompt is a shared prefix
    summary = stderr.strip().splitlines()[-1]
    assert summary.startswith("kanjian: 4 ok, 0 failed, 0 skipped in ")
    assert f"{prompt} prompt" in summary and f"{cached} cached" in summary


def test_without_output_the_lines_go_to_stdout(
    server: ScriptedServer, write_tasks: TaskWriter
) -> None:
    tasks = write_tasks([{"id": "a", "question": "one?"}, {"id": "b", "question": "two?"}])
    code, stdout, _ = batch(str(tasks), "--url", server.url)
    assert code == 0
    assert sorted(json.loads(line)["id"] for line in stdout.splitlines()) == ["a", "b"]


def test_ordered_writes_input_order_although_later_tasks_finish_first(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path
) -> None:
    tasks = write_tasks([{"id": f"s{n}", "question": f"slow{n}"} for n in range(6)])
    out = tmp_path / "out.jsonl"
    code, _, stderr = batch(str(tasks), "-o", str(out), "-c", "6", "--ordered", "--url", server.url)
    assert code == 0, stderr
    assert [r["id"] for r in read_lines(out)] == [f"s{n}" for n in range(6)]


def test_failed_tasks_are_lines_with_error_and_the_run_goes_on(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path
) -> None:
    tasks = write_tasks(
        [
            {"id": "ok1", "question": "fine?"},
            {"id": "gone", "question": "where?", "images": ["missing.png"]},
            {"id": "500", "question": f"{FAIL} please"},
            {"id": "ok2", "question": "also fine?"},
        ]
    )
    out = tmp_path / "out.jsonl"
    code, _, stderr = batch(str(tasks), "-o", str(out), "--ordered", "--url", server.url)
    assert code == 1
    records = {r["id"]: r for r in read_lines(out)}
    assert [records[i]["error"] is None for i in ("ok1", "gone", "500", "ok2")] == [
        True,
        False,
        False,
        True,
    ]
    assert "missing.png" in records["gone"]["error"]
    assert "500" in records["500"]["error"]
    assert records["gone"]["answer"] is None and list(records["gone"]) == DESIGN_KEYS
    assert "kanjian: 2 ok, 2 failed, 0 skipped" in stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"id": 1}\n', 'tasks.jsonl:1 has no "question" string'),
        ("not json\n", "tasks.jsonl:1 is not valid JSON"),
        ('{"id": 1, "question": "a"}\n{"id": 1, "question": "b"}\n', "appears twice"),
    ],
)
def test_a_bad_task_file_exits_2_with_one_sentence_before_anything_runs(
    server: ScriptedServer, tmp_path: Path, content: str, expected: str
) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(content, encoding="utf-8")
    code, stdout, stderr = batch(str(tasks), "-o", str(tmp_path / "out.jsonl"), "--url", server.url)
    assert code == 2
    assert stderr.startswith("kanjian: ") and stderr.count("\n") == 1 and expected in stderr
    assert stdout == "" and not server.chat_requests


def test_a_missing_task_file_and_bad_flags_exit_2(tmp_path: Path) -> None:
    code, _, stderr = batch(str(tmp_path / "nope.jsonl"))
    assert code == 2 and "does not exist" in stderr and stderr.count("\n") == 1
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text('{"question": "a"}\n', encoding="utf-8")
    code, _, stderr = batch(str(tasks), "--approve", "ask")
    assert code == 2 and "--approve 'ask'" in stderr
    code, _, stderr = batch(str(tasks), "-o", str(tasks))
    assert code == 2 and "is the task file" in stderr
    code, _, _ = batch(str(tasks), "-c", "0")
    assert code == 2


def test_rerun_skips_the_ids_already_written(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path
) -> None:
    tasks = write_tasks([{"id": f"t{n}", "question": f"q{n}"} for n in range(3)])
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"id": "t1", "answer": "from before"}) + "\n", encoding="utf-8")
    code, _, stderr = batch(str(tasks), "-o", str(out), "--url", server.url)
    assert code == 0
    assert "skipping 1 done" in stderr
    assert sorted(r["id"] for r in read_lines(out)) == ["t0", "t1", "t2"]
    assert len(server.chat_requests) == 2
    code, _, stderr = batch(str(tasks), "-o", str(out), "--url", server.url)
    assert code == 0 and "skipping 3 done" in stderr and len(server.chat_requests) == 2


def test_consecutive_requests_of_one_task_share_a_byte_identical_prefix(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path
) -> None:
    tasks = write_tasks([{"id": f"z{n}", "question": f"{ZOOM} {n}"} for n in range(3)])
    out = tmp_path / "out.jsonl"
    code, _, stderr = batch(str(tasks), "-o", str(out), "-c", "3", "--url", server.url)
    assert code == 0, stderr
    assert all(r["steps"][0]["tool"] == "zoom" for r in read_lines(out))
    by_task: dict[str, list[str]] = {}
    for request in server.chat_requests:
        messages = request.json["messages"]
        serialized = json.dumps(messages, ensure_ascii=False, separators=(",", ":"))
        by_task.setdefault(_task_of(messages), []).append(serialized)
    assert sorted(by_task) == ["ZOOM 0", "ZOOM 1", "ZOOM 2"]
    for requests in by_task.values():
        assert len(requests) == 2  # the zoom step, then the answer step
        before, after = requests
        # Everything sent before is sent again byte for byte; only new messages follow.
        assert after.startswith(before[:-1] + ",")
        assert len(after) > len(before)


def _task_of(messages: list[dict[str, object]]) -> str:
    return question_of({"messages": messages})


def test_killed_midway_and_resumed_every_task_is_written_exactly_once(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path
) -> None:
    count = 100
    tasks = write_tasks([{"id": f"k{n}", "question": f"q{n}"} for n in range(count)])
    out = tmp_path / "out.jsonl"
    server.latency = 0.5  # 50 rounds of 2: 25 s; it is killed after the first 3 lines
    process = spawn_batch(str(tasks), "-o", str(out), "-c", "2", "--url", server.url)
    try:
        _wait_for_lines(out, 3, process)
        process.kill()  # SIGKILL: no cleanup at all
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL, process.stderr and process.stderr.read()
    written_before = out.read_text(encoding="utf-8").count("\n")  # whole lines only
    assert 3 <= written_before < count
    server.latency = 0.0
    code, _, stderr = batch(str(tasks), "-o", str(out), "-c", "4", "--url", server.url)
    assert code == 0, stderr
    assert f"skipping {written_before} done" in stderr
    ids = [r["id"] for r in read_lines(out)]
    assert sorted(ids) == sorted(f"k{n}" for n in range(count))
    assert len(ids) == len(set(ids))


def test_ctrl_c_exits_130_with_every_finished_line_written(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path
) -> None:
    tasks = write_tasks([{"id": f"c{n}", "question": f"q{n}"} for n in range(20)])
    out = tmp_path / "out.jsonl"
    server.latency = 0.3
    process = spawn_batch(str(tasks), "-o", str(out), "-c", "2", "--url", server.url)
    try:
        _wait_for_lines(out, 2, process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    records = read_lines(out)  # every line is whole JSON: nothing torn
    assert 2 <= len(records) < 20
    assert all(r["error"] is None for r in records)
    assert "interrupted after" in stderr
    ok = int(stderr.split("interrupted after ")[1].split(" ok")[0])
    assert ok == len(records)


def _wait_for_lines(
    path: Path, lines: int, process: subprocess.Popen[str], timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text(encoding="utf-8").count("\n") >= lines:
            return
        if process.poll() is not None:
            raise AssertionError("kanjian batch ended before writing the lines")
        time.sleep(0.05)
    raise AssertionError(f"fewer than {lines} lines in {path} after {timeout} s")


@pytest.mark.slow
def test_remember_stores_each_task_as_a_conversation(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from kanjian.agent.config import load_settings
    from kanjian.memory.api import Memory

    monkeypatch.setenv("KANJIAN_EMBEDDER", "hash")  # no model to load in a test
    tasks = write_tasks([{"id": f"m{n}", "question": f"what colour is {n}?"} for n in range(2)])
    out = tmp_path / "out.jsonl"
    code, _, stderr = batch(str(tasks), "-o", str(out), "--remember", "--url", server.url)
    assert code == 0, stderr
    sessions = {r["session"]: r for r in read_lines(out)}

    async def stored() -> dict[str, str]:
        memory = Memory.open(load_settings())
        try:
            listed = await memory.list_sessions()
            return {s.id: (await memory.get_session(s.id)).turns[0].question for s in listed}
        finally:
            memory.close()

    remembered = asyncio.run(stored())
    assert set(remembered) == set(sessions)
    for session, record in sessions.items():
        assert remembered[session] == f"what colour is {record['id'][1:]}?"


def test_remember_that_cannot_store_warns_once_and_still_answers(
    server: ScriptedServer,
    write_tasks: TaskWriter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    _hermetic_env: Path,
) -> None:
    monkeypatch.setenv("KANJIAN_EMBEDDER", "hash")
    (_hermetic_env / "memory").write_text("not a folder", encoding="utf-8")  # cannot open
    tasks = write_tasks([{"id": f"w{n}", "question": f"what is {n}?"} for n in range(3)])
    out = tmp_path / "out.jsonl"
    code, _, stderr = batch(str(tasks), "-o", str(out), "--remember", "--url", server.url)
    assert code == 0, stderr
    # Without --ordered lines come in the order tasks finish.
    answers = sorted(r["answer"] for r in read_lines(out))
    assert answers == [f"answer: what is {n}?" for n in range(3)]
    warnings = [line for line in stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, stderr  # the same reason is not repeated for every task
    assert "kanjian: warning: task 'w" in warnings[0] and "memory" in warnings[0].lower()


def test_without_remember_nothing_is_stored_in_memory(
    server: ScriptedServer, write_tasks: TaskWriter, tmp_path: Path, _hermetic_env: Path
) -> None:
    tasks = write_tasks([{"id": "x", "question": "q?"}])
    code, _, _ = batch(str(tasks), "-o", str(tmp_path / "out.jsonl"), "--url", server.url)
    assert code == 0
    assert not (_hermetic_env / "memory").exists()


def test_the_live_bar_and_the_log_lines() -> None:
    from kanjian.tui.batch_progress import LineProgress, make_progress

    stream = io.StringIO()
    bar = make_progress(stream, live=True)
    bar.start(3, 1)
    for ok in (True, False, True):
        bar.advance(ok)
    bar.stop()
    assert (bar.ok, bar.failed, bar.skipped) == (2, 1, 1)
    lines = make_progress(io.StringIO(), live=False)
    assert isinstance(lines, LineProgress)
    lines.start(4, 0)
    lines.advance(True)
    assert lines.status().startswith("1/4 done, ")


def test_an_unreachable_server_is_one_sentence_before_any_task(
    write_tasks: TaskWriter, tmp_path: Path, _hermetic_env: Path
) -> None:
    config = _hermetic_env / "config.toml"
    config.write_text('[vlm]\nretries = 0\nbackend = "sglang"\n', encoding="utf-8")
    tasks = write_tasks([{"id": "a", "question": "q?"}])
    out = tmp_path / "out.jsonl"
    code, _, stderr = batch(str(tasks), "-o", str(out), "--url", "http://127.0.0.1:9")
    assert code == 1
    assert stderr.startswith("kanjian: ") and stderr.count("\n") == 1
    assert "127.0.0.1:9" in stderr
    assert not out.exists() or out.read_text(encoding="utf-8") == ""


@pytest.mark.parametrize("processes", ["1", "2"])
def test_sessions_that_cannot_be_saved_are_one_warning_counting_them(
    server: ScriptedServer,
    write_tasks: TaskWriter,
    tmp_path: Path,
    _hermetic_env: Path,
    processes: str,
) -> None:
    (_hermetic_env / "sessions").write_text("not a folder", encoding="utf-8")  # cannot save
    rows = [{"id": f"s{n}", "question": f"what is {n}?"} for n in range(70)]
    out = tmp_path / "out.jsonl"
    args = (str(write_tasks(rows)), "-o", str(out), "-c", "4", "-j", processes)
    code, _, stderr = batch(*args, "--url", server.url)
    assert code == 0, stderr
    assert len(read_lines(out)) == 70  # every task still answered
    warnings = [line for line in stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, stderr
    assert warnings[0].startswith(
        "kanjian: warning: the conversations of 70 tasks were not saved; the first: "
        "The conversation was not saved to "
    )
    assert "make the data folder writable" in warnings[0]
    assert stderr.strip().splitlines()[-1].startswith("kanjian: 70 ok, 0 failed")
    assert "Traceback" not in stderr
