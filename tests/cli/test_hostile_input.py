"""Hostile or odd input through the real ``kanjian`` process: one sentence, the right exit."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.cli.conftest import REPO, KanjianRunner
from tests.faults import fault_server as fs
from tests.faults.fault_server import FaultServer


def _without_root_override() -> None:
    """In the child: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set, so
    that even root (CI containers) meets file permissions after exec."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        libc.prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP


def read_only_run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    home.chmod(0o555)
    return subprocess.run(
        [sys.executable, "-c", "from kanjian.tui.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "KANJIAN_EMBEDDER": "hash"},
        preexec_fn=_without_root_override if os.geteuid() == 0 else None,
    )


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


@pytest.fixture
def fresh(server: FaultServer) -> Iterator[FaultServer]:
    """The module's server with no script, no records and its default model info."""
    server.reset()
    yield server
    server.reset()


def one_sentence(stderr: str) -> str:
    assert "Traceback" not in stderr and "internal error" not in stderr
    assert stderr.startswith("kanjian: ") and stderr.count("\n") == 1, stderr
    return stderr


@pytest.mark.parametrize("given", ["../../x", "/abs/path.json"])
def test_ask_session_that_is_a_path_is_refused_exit_2(
    kanjian: KanjianRunner, server: FaultServer, given: str, tmp_path: Path
) -> None:
    outside = tmp_path / "x.json"
    outside.write_text(json.dumps({"id": "../../pwned", "images": [], "messages": []}))
    result = kanjian("ask", "hi", "--no-memory", "--url", server.url, "--session", given)
    assert result.returncode == 2
    assert "is not a session id" in one_sentence(result.stderr)


def test_four_processes_continuing_one_session_keep_all_four_turns(
    kanjian: KanjianRunner, server: FaultServer, _hermetic_env: Path
) -> None:
    first = kanjian("ask", "start", "--no-memory", "--no-tools", "--json", "--url", server.url)
    session = json.loads(first.stdout)["session"]
    command = [sys.executable, "-c", "from kanjian.tui.cli import main; main()", "ask"]
    procs = [
        subprocess.Popen(
            [*command, f"turn {n}", "--no-memory", "--no-tools", "--session", session],
            cwd=REPO,
            env={**os.environ, "KANJIAN_URL": server.url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for n in range(4)
    ]
    for proc in procs:
        assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    saved = json.loads((_hermetic_env / "sessions" / f"{session}.json").read_text())
    questions = [
        part["text"]
        for m in saved["messages"]
        if m["role"] == "user"
        for part in m["content"]
        if part.get("type") == "text" and part["text"].startswith(("start", "turn"))
    ]
    assert sorted(q.split("\n")[0] for q in questions) == [
        "start",
        *(f"turn {n}" for n in range(4)),
    ]
    # The next continuation is sent all five earlier questions.
    server.reset()
    again = kanjian("ask", "and now?", "--no-memory", "--no-tools", "--session", session,
                    "--url", server.url)  # fmt: skip
    assert again.returncode == 0
    sent = server.chats[0].body.decode()
    assert all(f"turn {n}" in sent for n in range(4))


def test_kanjian_math_input_etc_passwd_exits_2_naming_the_command(kanjian: KanjianRunner) -> None:
    done = kanjian("math", r"\input{/etc/passwd}")
    assert done.returncode == 2 and done.stdout == ""
    assert (
        done.stderr.startswith("kanjian: Cannot evaluate") and "command '\\input' is" in done.stderr
    )
    assert done.stderr.count("\n") == 1


@pytest.mark.skipif(sys.platform != "linux", reason="prctl, to make root meet permissions")
def test_read_only_home_ask_no_memory_still_answers_and_memory_list_is_one_sentence(
    server: FaultServer, _hermetic_env: Path, tmp_path: Path
) -> None:
    image = tmp_path / "red.png"
    Image.new("RGB", (64, 48), "red").save(image)
    try:
        asked = read_only_run(
            _hermetic_env, "ask", "what?", "-i", str(image), "--no-memory", "--url", server.url
        )
        listed = read_only_run(_hermetic_env, "memory", "list")
    finally:
        _hermetic_env.chmod(0o755)
    assert asked.returncode == 0 and asked.stdout == "fine\n", asked.stderr
    assert asked.stderr.startswith("kanjian: warning: The conversation was not saved to ")
    assert listed.returncode == 1
    assert "Cannot open the memory database" in one_sentence(listed.stderr)
    assert "Permission denied" in listed.stderr


def test_twenty_images_in_one_question_are_refused_before_sending(
    kanjian: KanjianRunner, fresh: FaultServer, tmp_path: Path
) -> None:
    server = fresh
    image = tmp_path / "small.png"
    Image.new("RGB", (64, 48), "blue").save(image)
    flags = [arg for _ in range(20) for arg in ("-i", str(image))]
    result = kanjian("ask", "What differs?", *flags, "--no-memory", "--url", server.url)
    assert result.returncode == 2
    said = one_sentence(result.stderr)
    assert "The 20 images of this question come to about 66,560 prompt tokens" in said
    assert "context of 32,768 tokens; ask about at most 9 of them at once" in said
    assert server.chats == []  # nothing was sent


def test_image_budget_uses_the_context_length_the_server_reports(
    kanjian: KanjianRunner, fresh: FaultServer, tmp_path: Path
) -> None:
    server = fresh
    server.context_length = 8000
    image = tmp_path / "small.png"
    Image.new("RGB", (64, 48), "blue").save(image)
    two = ["-i", str(image)] * 2
    assert kanjian("ask", "Same?", *two, "--no-memory", "--url", server.url).returncode == 0
    three = kanjian("ask", "Same?", *two, "-i", str(image), "--no-memory", "--url", server.url)
    assert three.returncode == 2 and "context of 8,000 tokens; ask about at most 2" in three.stderr


def test_stdin_image_twice_says_stdin_can_be_read_once(
    kanjian: KanjianRunner, fresh: FaultServer
) -> None:
    result = kanjian("ask", "hi", "-i", "-", "-i", "-", "--url", fresh.url, input="x")
    assert result.returncode == 2
    assert "stdin can be read only once" in one_sentence(result.stderr)
    empty = kanjian("ask", "hi", "-i", "-", "--url", fresh.url, input="")
    assert empty.returncode == 2 and "stdin was empty" in one_sentence(empty.stderr)
    assert fresh.chats == []


def test_ctrl_c_mid_answer_ends_the_partial_line_with_a_newline(fresh: FaultServer) -> None:
    partial = json.dumps({"thought": "", "answer": "The first half of a long answer"})[:-2]
    fresh.play(fs.stall_mid(60, text=partial))
    proc = subprocess.Popen(
        [sys.executable, "-c", "from kanjian.tui.cli import main; main()", "ask", "hi",
         "--no-memory", "--no-tools", "--url", fresh.url],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + 30
    while b"long answe" not in seen and time.monotonic() < deadline:
        seen += os.read(proc.stdout.fileno(), 1024)
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=30)
    out = (seen + rest).decode()
    assert out == "The first half of a long answer\n"  # the line ended, nothing else
    assert proc.returncode == 130 and err.decode().endswith("kanjian: interrupted.\n")
