"""The "recalled" row: the chat app shows which past conversations memory put into a prompt.

The real app, agent, SQLite + chromadb memory (hash embedder: no model to load) against a
scripted model server on 127.0.0.1. Conversations are remembered by asking them in the app.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import OptionList

from kanjian.agent.config import Settings, load_settings
from kanjian.tui.app import KanjianApp
from kanjian.tui.chat_controller import ChatServices
from kanjian.tui.chat_launch import ChatArgs, build_app, parse_chat_args
from kanjian.tui.widgets.prompt import PromptInput
from kanjian.tui.widgets.recall import RecallRow
from kanjian.tui.widgets.transcript import AnswerView, UserMessage
from kanjian.vlm.fake_server import ScriptedServer
from tests.tui.conftest import SIZE, started
from tests.tui.test_real_agent import answer, ask, chats, real_app
from tests.tui.test_snapshots import check, normalise

LEASE = "Summarise my apartment lease: rent $1,850 due on the first of each month."
RECEIPT = "What's the total on this Starbucks receipt of a latte and a muffin?"
RELATED = "When is the rent due under my apartment lease?"
UNRELATED = "What instrument is the man in this image playing?"
NOTES = "Notes from earlier conversations"


async def new_chat(pilot: Pilot[None]) -> None:
    await pilot.press("ctrl+n")
    await pilot.pause()


async def remember_two(pilot: Pilot[None], srv: ScriptedServer) -> dict[str, str]:
    """Ask two unrelated questions in two conversations; their session ids by name."""
    app: Any = pilot.app
    srv.enqueue(answer("Rent is $1,850, due on the first."), answer("The total is $12.50."))
    sessions = {}
    for name, question in (("lease", LEASE), ("receipt", RECEIPT)):
        await new_chat(pilot)
        await ask(pilot, question)
        sessions[name] = app.session_id
    assert len(set(sessions.values())) == 2
    return sessions


def rows(app: Any) -> list[RecallRow]:
    return list(app.query(RecallRow))


async def snapshot_recalled(pilot: Pilot[None], tmp_path: Path) -> None:
    """The expanded row, as the README shows it (dates and the live rate made steady)."""
    app: Any = pilot.app
    app.query_one(PromptInput).cursor_blink = False
    app.status.tokens_per_s = 0.0
    await pilot.pause()
    svg = normalise(app.export_screenshot(simplify=True), tmp_path)
    # The scripted server's port (Linux's ephemeral ports have five digits: same layout).
    svg = re.sub(r"127\.0\.0\.1:\d{5}", "127.0.0.1:30000", svg)
    # Dates (the sidebar's with their time): one fixed day, the separator kept.
    svg = re.sub(r"\d{4}-\d\d-\d\d(T|&#160;| )\d\d:\d\d", r"2026-12-04\g<1>21:30", svg)
    svg = re.sub(r"\d{4}-\d\d-\d\d", "2026-12-04", svg)
    # The score is the gate's (memory's calibration moves it); the layout is what is checked.
    check("recalled", re.sub(r"score&#160;\d\.\d\d", "score&#160;0.55", svg))


async def test_a_related_question_shows_the_row_and_enter_opens_the_session(
    tmp_path: Path,
) -> None:
    with ScriptedServer() as srv:
        app = real_app(srv.url)
        async with app.run_test(size=SIZE) as pilot:
            await started(app)
            sessions = await remember_two(pilot, srv)
            # Neither of the two recalled anything (nothing related before them).
            assert not rows(app)

            await new_chat(pilot)
            srv.enqueue(answer("On the first of each month."))
            await ask(pilot, RELATED)
            [row] = rows(app)
            assert row.collapsed
            assert [s.id for s in row.sessions] == [sessions["lease"]]
            assert str(row.title) == "recalled 1 earlier conversation"
            # What the row names is what went into the prompt.
            assert NOTES in json.dumps(chats(srv)[-1]["messages"])
            assert sessions["lease"] in json.dumps(chats(srv)[-1]["messages"])

            # Keyboard only: focus the row, Enter expands it (the list takes the focus),
            # Enter on the session opens it as the session picker does.
            row.query_one("CollapsibleTitle").focus()
            await pilot.press("enter")
            await pilot.pause()
            assert not row.collapsed
            options = row.query_one(OptionList)
            assert app.focused is options
            item = str(options.get_option_at_index(0).prompt)
            assert item.startswith(LEASE[:30]) and "score" in item
            await snapshot_recalled(pilot, tmp_path)
            await pilot.press("enter")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert app.session_id == sessions["lease"]
            shown = [str(w.render()) for w in app.query(UserMessage)]
            assert shown == [LEASE]

            # An unrelated question in a new conversation: no row.
            await new_chat(pilot)
            srv.enqueue(answer("A violin."))
            await ask(pilot, UNRELATED)
            assert not rows(app)
            assert NOTES not in json.dumps(chats(srv)[-1]["messages"])


async def test_no_recall_shows_no_row_and_sends_no_notes(monkeypatch: pytest.MonkeyPatch) -> None:
    # build_app reads the settings as `kanjian chat` does: the embedder from the environment.
    monkeypatch.setenv("KANJIAN_EMBEDDER", "hash")
    with ScriptedServer() as srv:
        first = real_app(srv.url)
        async with first.run_test(size=SIZE) as pilot:
            await started(first)
            await remember_two(pilot, srv)

        args = parse_chat_args(["--no-recall", "--url", srv.url, "--images", "halfcell"])
        assert args == ChatArgs(url=srv.url, images_as="halfcell", no_recall=True)
        app = build_app(args)
        async with app.run_test(size=SIZE) as pilot:
            await started(app)
            assert app.services.settings.memory.recall == "off"
            srv.enqueue(answer("On the first of each month."))
            await ask(pilot, RELATED)
            assert not rows(app)
            assert NOTES not in json.dumps(chats(srv)[-1]["messages"])
            # Still remembered: three conversations in the sidebar now.
            app.refresh_sessions("")
            await app.workers.wait_for_complete()
            assert len(app.query_one("SessionSidebar").sessions) == 3  # type: ignore[attr-defined]


class EmbeddingServer:
    """A real OpenAI-compatible ``/v1/embeddings`` server on 127.0.0.1 whose answers wait.

    Vectors are the hashing embedder's. Every request waits until ``release`` is set (or
    ``give_up`` seconds pass, so a regression fails the test instead of hanging it): it
    stands in for an embedder whose model takes a long time to load.
    """

    def __init__(self, give_up: float = 8.0) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from kanjian.memory.embedders import HashEmbedder

        self.release = threading.Event()
        self.requests: list[float] = []
        self.give_up = give_up
        embedder, outer = HashEmbedder(), self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(time.monotonic())
                outer.release.wait(outer.give_up)
                vectors = embedder.embed(list(body["input"]))
                data = [{"index": i, "embedding": v} for i, v in enumerate(vectors)]
                reply = json.dumps({"data": data}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def embedding_settings(url: str, embed_url: str) -> Settings:
    return load_settings(
        {
            "vlm.url": url,
            "memory.embedder": "openai",
            "memory.embed_url": embed_url,
            "memory.embed_model": "slow-embedder",
        }
    )


async def test_recall_runs_off_the_event_loop_keys_work_while_it_waits() -> None:
    embeddings = EmbeddingServer()
    try:
        with ScriptedServer() as srv:
            srv.enqueue(answer("A red square."))
            settings = embedding_settings(srv.url, embeddings.url)
            app = KanjianApp(
                ChatServices(settings), warm_up=False, image_mode="halfcell", health_interval=60.0
            )
            async with app.run_test(size=SIZE) as pilot:
                await started(app)
                assert not embeddings.requests
                app.query_one(PromptInput).insert("what is in the picture of the receipt?")
                await pilot.press("enter")
                # The run reaches recall, which waits on the embedder in a thread.
                for _ in range(200):
                    if embeddings.requests:
                        break
                    await pilot.pause(0.02)
                assert embeddings.requests, "recall never asked the embedder"
                # Meanwhile the app answers keys at once: the event loop is not blocked.
                await pilot.press("o", "k")
                assert app.query_one(PromptInput).text == "ok"
                assert app.busy and not chats(srv)
                embeddings.release.set()
                await app.workers.wait_for_complete()
                await pilot.pause()
                assert app.query_one(AnswerView).markdown.source == "A red square."
    finally:
        embeddings.close()


async def test_the_warm_up_loads_memory_before_the_first_question() -> None:
    embeddings = EmbeddingServer()
    embeddings.release.set()
    try:
        with ScriptedServer() as srv:
            settings = embedding_settings(srv.url, embeddings.url)
            app = KanjianApp(ChatServices(settings), image_mode="halfcell", health_interval=60.0)
            async with app.run_test(size=SIZE):
                # started() waits for every worker, the memory warm-up included.
                await started(app)
                assert embeddings.requests and not chats(srv)
    finally:
        embeddings.close()


def test_the_row_speaks_the_app_language() -> None:
    from kanjian.tui.chat_controller import RecalledSession
    from kanjian.tui.i18n import set_language
    from kanjian.tui.widgets.recall import recall_item, recall_title

    session = RecalledSession(
        "s1",
        "发票上的总金额是多少，包括税和小费以及服务费的明细？",
        "2026-12-01T09:30:00+00:00",
        0.6123,
    )
    assert recall_title(1) == "recalled 1 earlier conversation"
    assert recall_title(2) == "recalled 2 earlier conversations"
    set_language("zh")
    assert recall_title(2) == "想起了 2 段以前的对话"
    # A long title is cut to keep one line: title · date · score.
    assert recall_item(session) == "发票上的总金额是多少，包括税和小费… · 2026-12-01 · 相关度 0.61"
