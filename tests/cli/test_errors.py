"""The README's error table, for real: each failure gives its sentence and exit code.

Every row runs the real ``kanjian ask`` in a subprocess against a real HTTP server on
127.0.0.1 (the scripted SGLang stand-in) or a closed port. The expected sentences are read
from README.md's error table, so the README cannot drift from what users see.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from kanjian.vlm.fake_server import Reply, ScriptedServer
from tests.cli.conftest import REPO, KanjianRunner
from tests.faults import fault_server as fs
from tests.faults.fault_server import FaultServer

ANSWER = '{"thought": "", "answer": "fine"}'


def readme_errors() -> dict[str, tuple[list[str], int]]:
    """``case -> (fragments of the sentence, in order; exit code)`` from the README table."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text.split("<!-- error-table -->")[1].split("\n\n")[0]
    rows = re.findall(r"^\| `([\w-]+)` \| [^|]+ \| (`kanjian: .+`) \| (\d) \|$", table, re.M)
    return {case: (re.findall(r"`([^`]+)`", said), int(code)) for case, said, code in rows}


ERRORS = readme_errors()


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def fresh(server: ScriptedServer) -> ScriptedServer:
    server.reset()
    return server


def ask(
    kanjian: KanjianRunner, url: str, *extra: str, env: dict[str, str] | None = None
) -> tuple[str, int]:
    result = kanjian(
        "ask", "What is this?", "--no-tools", "--no-memory", "--url", url, *extra, env=env
    )
    assert "Traceback" not in result.stderr
    return result.stderr.strip(), result.returncode


def expect(case: str, stderr: str, code: int) -> None:
    fragments, exit_code = ERRORS[case]
    assert stderr.startswith(fragments[0]), f"{case}: {stderr!r} does not start {fragments[0]!r}"
    position = 0
    for fragment in fragments:
        found = stderr.find(fragment, position)
        assert found >= 0, f"{case}: {fragment!r} missing from {stderr!r}"
        position = found + len(fragment)
    assert stderr.count("\n") == 0, f"{case}: more than one line: {stderr!r}"
    assert code == exit_code


def test_table_lists_every_case() -> None:
    assert set(ERRORS) == {
        "unreachable", "starting", "unauthorized", "bad-request", "timeout",
        "stream-cut", "malformed-chunk", "missing-image", "bad-image", "busy", "not-an-api",
        "too-many-images",
    }  # fmt: skip


def test_unreachable(kanjian: KanjianRunner) -> None:
    expect("unreachable", *ask(kanjian, "http://127.0.0.1:9"))


def test_starting(kanjian: KanjianRunner, fresh: ScriptedServer) -> None:
    for _ in range(8):
        fresh.enqueue(Reply.http_error(503, "The server is still loading the model."))
    expect("starting", *ask(kanjian, fresh.url, env={"KANJIAN_VLM__RETRIES": "1"}))


def test_unauthorized(kanjian: KanjianRunner) -> None:
    with ScriptedServer(api_key="right") as srv:
        expect("unauthorized", *ask(kanjian, srv.url, env={"KANJIAN_API_KEY": "wrong"}))


def test_bad_request_shows_sglangs_message(kanjian: KanjianRunner, fresh: ScriptedServer) -> None:
    fresh.enqueue(
        Reply.http_error(
            400,
            "The input (40000 tokens) is longer than the model's context length (32768 tokens).",
        )
    )
    stderr, code = ask(kanjian, fresh.url)
    expect("bad-request", stderr, code)
    assert "context length" in stderr


def test_timeout(kanjian: KanjianRunner, fresh: ScriptedServer) -> None:
    fresh.enqueue(Reply(hang=True))
    env = {"KANJIAN_VLM__READ_TIMEOUT": "1", "KANJIAN_VLM__RETRIES": "0"}
    expect("timeout", *ask(kanjian, fresh.url, env=env))


def test_stream_cut_mid_answer(kanjian: KanjianRunner, fresh: ScriptedServer) -> None:
    fresh.enqueue(Reply(text='{"thought": "", "answer": "The sign says', cut_after=3))
    expect("stream-cut", *ask(kanjian, fresh.url))


def test_malformed_chunk(kanjian: KanjianRunner, fresh: ScriptedServer) -> None:
    fresh.enqueue(Reply(text=ANSWER, malformed="{not json"))
    expect("malformed-chunk", *ask(kanjian, fresh.url))


def test_missing_image(kanjian: KanjianRunner, fresh: ScriptedServer, tmp_path: Path) -> None:
    expect("missing-image", *ask(kanjian, fresh.url, "-i", str(tmp_path / "nope.png")))
    assert fresh.requests == []  # nothing was sent


def test_corrupt_image(kanjian: KanjianRunner, fresh: ScriptedServer, tmp_path: Path) -> None:
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    expect("bad-image", *ask(kanjian, fresh.url, "-i", str(bad)))


def test_busy_429_through_the_retries(kanjian: KanjianRunner) -> None:
    with FaultServer() as srv:
        srv.play(*[fs.too_many("0")] * 2)
        expect("busy", *ask(kanjian, srv.url, env={"KANJIAN_VLM__RETRIES": "1"}))


def test_not_an_api_html_page(kanjian: KanjianRunner) -> None:
    with FaultServer() as srv:
        srv.play(fs.html())
        expect("not-an-api", *ask(kanjian, srv.url))


def test_too_many_images(kanjian: KanjianRunner, fresh: ScriptedServer, tmp_path: Path) -> None:
    image = tmp_path / "small.png"
    image.write_bytes(fresh_png())
    flags = [flag for _ in range(20) for flag in ("-i", str(image))]
    expect("too-many-images", *ask(kanjian, fresh.url, *flags))
    assert fresh.chat_requests == []  # nothing was sent


def fresh_png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "blue").save(buffer, format="PNG")
    return buffer.getvalue()
