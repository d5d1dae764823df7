"""The chat app over the real parts: Agent + SGLangClient + memory against a ScriptedServer.

Only the model is scripted (a real OpenAI-compatible server on 127.0.0.1); the agent loop,
the tools (SymPy), the image registry, SQLite and chromadb memory are the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import OptionList

from kanjian.agent.config import load_settings
from kanjian.tui.app import KanjianApp
from kanjian.tui.chat_controller import ChatServices
from kanjian.tui.widgets.banner import Banner
from kanjian.tui.widgets.image_view import ImageView
from kanjian.tui.widgets.prompt import PromptInput
from kanjian.tui.widgets.sidebar import SessionSidebar
from kanjian.tui.widgets.transcript import AnswerView, ToolRow, UserMessage
from kanjian.vlm.fake_server import ScriptedServer
from tests.tui.conftest import SIZE, started


def tool_call(tool: str, **args: Any) -> str:
    return json.dumps({"thought": f"use {tool}", "tool": tool, "args": args})


def answer(text: str) -> str:
    return json.dumps({"thought": "done", "answer": text})


def chats(srv: ScriptedServer) -> list[dict[str, Any]]:
    """The chat requests the server got (health polls left out)."""
    return [r.json for r in srv.requests if r.json and "messages" in r.json]


def real_app(url: str, **kwargs: Any) -> KanjianApp:
    # The hash embedder keeps memory real (SQLite + chromadb) without loading a model.
    settings = load_settings({"vlm.url": url, "memory.embedder": "hash"})
    options: dict[str, Any] = {"warm_up": False, "image_mode": "halfcell", "health_interval": 60.0}
    options.update(kwargs)
    return KanjianApp(ChatServices(settings), **options)


async def ask(pilot: Pilot[None], question: str) -> None:
    app = pilot.app
    app.query_one(PromptInput).insert(question)
    await pilot.press("enter")
    # The Submitted message starts the turn worker: let it arrive, then wait for the worker.
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_question_with_image_streams_answer_and_tool_row(image_path: Path) -> None:
    with ScriptedServer() as srv:
        srv.enqueue(tool_call("math", expression="6*7"), answer("The square is red; 6×7 = **42**."))
        app = real_app(srv.url, attachments=[image_path])
        async with app.run_test(size=SIZE) as pilot:
            await ask(pilot, "what colour, and what is 6*7?")
            await pilot.pause()
            row = app.query_one(ToolRow)
            assert row.tool == "math" and "✓" in str(row.title)
            assert "42" in app.query_one(AnswerView).markdown.source
            assert [v.image_id for v in app.query(ImageView)] == ["image_1"]
            assert app.session_id
            sent = chats(srv)[0]["messages"]
            assert any(
                part.get("type") == "image_url"
                for message in sent
                if isinstance(message["content"], list)
                for part in message["content"]
            )
            assert app.status.image_tokens > 0


async def test_sidebar_lists_searches_and_resumes_with_images(image_path: Path) -> None:
    with ScriptedServer() as srv:
        srv.enqueue(answer("A red square on white."))
        first = real_app(srv.url, attachments=[image_path])
        async with first.run_test(size=SIZE) as pilot:
            await ask(pilot, "describe the picture")
            session = first.session_id
        assert session

        second = real_app(srv.url)
        async with second.run_test(size=SIZE) as pilot:
            await started(second)
            sidebar = second.query_one(SessionSidebar)
            assert [s.id for s in sidebar.sessions] == [session]
            sidebar.query_one("Input").value = "zebra"  # type: ignore[attr-defined]
            await pilot.pause()
            await second.workers.wait_for_complete()
            assert not sidebar.sessions
            sidebar.query_one("Input").value = "picture"  # type: ignore[attr-defined]
            await pilot.pause()
            await second.workers.wait_for_complete()
            assert [s.id for s in sidebar.sessions] == [session]
            await pilot.pause()
            options = sidebar.query_one(OptionList)
            options.highlighted = 0
            options.action_select()
            await pilot.pause()
            await second.workers.wait_for_complete()
            await pilot.pause()
            assert second.session_id == session
            assert "describe the picture" in str(second.query_one(UserMessage).content)
            assert [v.image_id for v in second.query(ImageView)] == ["image_1"]
            assert "red square" in second.query_one(AnswerView).markdown.source
            # The next question continues the same conversation; its image keeps its name.
            srv.enqueue(answer("Still red."))
            await ask(pilot, "and now?")
            assert second.session_id == session
            assert "image_1" in json.dumps(chats(srv)[-1]["messages"])


async def test_server_lost_banner_and_reconnect() -> None:
    srv = ScriptedServer()
    srv.start()
    port = int(srv.url.rsplit(":", 1)[1].split("/")[0])
    app = real_app(srv.url)
    async with app.run_test(size=SIZE) as pilot:
        await started(app)
        assert app.status.health == "ok"
        assert not app.query_one(Banner).has_class("-shown")
        srv.stop()
        app.check_health()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.status.health == "down"
        assert "Lost the model server" in app.query_one(Banner).message
        with ScriptedServer(port=port):
            app.check_health()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert app.status.health == "ok"
            assert not app.query_one(Banner).has_class("-shown")


async def test_memory_and_tools_commands_need_no_model() -> None:
    app = real_app("http://127.0.0.1:9")
    async with app.run_test(size=SIZE) as pilot:
        for command in ("/tools", "/memory red square"):
            app.query_one(PromptInput).insert(command)
            app.query_one(PromptInput).action_submit()
            await pilot.pause()
            await app.workers.wait_for_complete()
        await pilot.pause()
        notes = " ".join(str(getattr(w, "source", "")) for w in app.query(".note"))
        assert "`math`" in notes and "`ocr`" in notes
        assert "No past conversation matches 'red square'" in notes


async def test_status_bar_names_the_served_model_not_the_configured_one() -> None:
    # /model_info is missing: the client falls back to /v1/models, as with non-SGLang servers.
    with ScriptedServer(model="acme/served-vl-7b", missing=["/model_info"]) as srv:
        app = real_app(srv.url)
        assert app.services.model == "default"
        async with app.run_test(size=SIZE) as pilot:
            await started(app)
            await pilot.pause()
            assert app.status.model == "acme/served-vl-7b"
            app.query_one(PromptInput).insert("/model")
            app.query_one(PromptInput).action_submit()
            await pilot.pause()
            notes = " ".join(str(getattr(w, "source", "")) for w in app.query(".note"))
            assert "`acme/served-vl-7b`" in notes


async def test_a_user_message_names_its_attachment_once(image_path: Path) -> None:
    with ScriptedServer() as srv:
        srv.enqueue(answer("A red square."))
        app = real_app(srv.url, attachments=[image_path])
        async with app.run_test(size=SIZE) as pilot:
            await ask(pilot, "what is it?")
            shown = [str(w.render()) for w in app.query(UserMessage)]
            assert shown == ["[image_1] what is it?"]
            captions = [str(v.caption.render()) for v in app.query(ImageView)]
            # The path shows once: in the image's caption only.
            assert len(captions) == 1 and str(image_path) in captions[0]


async def test_a_turn_that_could_not_be_saved_says_so_and_keeps_the_answer(
    _hermetic_env: Path,
) -> None:
    # A file where the sessions folder should be: the save fails with an OSError, as on a
    # full disk or a read-only home; the answer stands and a warning row says what happened.
    (_hermetic_env / "sessions").write_text("not a folder")
    with ScriptedServer() as srv:
        srv.enqueue(answer("Blue."))
        app = real_app(srv.url)
        async with app.run_test(size=SIZE) as pilot:
            await ask(pilot, "what colour is the sky?")
            assert app.query_one(AnswerView).markdown.source == "Blue."
            [warning] = [str(w.render()) for w in app.query(".note.-warning")]
            assert warning.startswith("⚠ The conversation was not saved to ")
            assert "KANJIAN_HOME" in warning
            assert not app.query(".note.-error")
            assert "> **Warning:** The conversation was not saved" in "\n".join(
                app.transcript.log_lines
            )
