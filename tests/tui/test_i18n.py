"""Both languages: the locale or ``tui.language`` picks English or Chinese for the app's words."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from kanjian.agent.config import Settings, load_settings
from kanjian.tui.app import KanjianApp
from kanjian.tui.chat_controller import ChatServices
from kanjian.tui.i18n import choose_language, set_language, t
from kanjian.tui.locales import en, zh
from kanjian.tui.slash_commands import SLASH_COMMANDS, help_markdown
from kanjian.tui.widgets.palette import SlashCommandProvider
from kanjian.tui.widgets.prompt import PromptInput
from kanjian.tui.widgets.status import StatusBar
from tests.tui.conftest import ScriptedSource, make_app, started
from tests.tui.test_app import transcript_text
from tests.tui.test_snapshots import check, normalise

TUI = Path(__file__).resolve().parents[2] / "tui"


@pytest.mark.parametrize(
    ("env", "setting", "expected"),
    [
        ({"LANG": "zh_CN.UTF-8"}, "auto", "zh"),
        ({"LANG": "zh_TW.UTF-8"}, "auto", "zh"),
        ({"LANG": "en_GB.UTF-8"}, "auto", "en"),
        # LC_ALL overrides LANG, as POSIX has it; LC_MESSAGES sits between.
        ({"LC_ALL": "C.UTF-8", "LANG": "zh_CN.UTF-8"}, "auto", "en"),
        ({"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "auto", "zh"),
        ({}, "auto", "en"),
        ({"LANG": "zh_CN.UTF-8"}, "en", "en"),
        ({"LANG": "en_US.UTF-8"}, "zh", "zh"),
    ],
)
def test_language_from_the_locale_or_the_setting(
    env: dict[str, str], setting: str, expected: str
) -> None:
    assert choose_language(setting, env) == expected


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_catalogues_have_the_same_keys_and_fields() -> None:
    assert set(zh.MESSAGES) == set(en.MESSAGES)
    for key, text in en.MESSAGES.items():
        assert fields(zh.MESSAGES[key]) == fields(text), key


def test_every_key_the_code_uses_is_in_the_catalogue() -> None:
    used: set[str] = set()
    for path in TUI.rglob("*.py"):
        used |= set(re.findall(r"\bt\(\s*\"([a-z_.]+)\"", path.read_text(encoding="utf-8")))
    used |= {f"cmd.{c.name}" for c in SLASH_COMMANDS}
    assert used, "found no t() calls"
    assert used - set(en.MESSAGES) == set()


def test_help_and_commands_in_chinese() -> None:
    set_language("zh")
    text = help_markdown([("ctrl+q", t("key.quit"))])
    assert "**命令**" in text and "**快捷键**" in text
    assert "- `/paste` — 附加系统剪贴板中的图片(Ctrl+Shift+V)" in text
    assert "- `ctrl+q` — 退出" in text


async def test_the_locale_puts_the_app_in_chinese(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LC_ALL", "zh_CN.UTF-8")
    app = make_app(settings, ScriptedSource())
    async with app.run_test(size=(100, 30)) as pilot:
        await started(app)
        await pilot.pause()
        assert "断开" in str(app.query_one(StatusBar).render())
        descriptions = {b.description for _, b in app._bindings}
        assert {"退出", "取消", "会话"} <= descriptions
        app.query_one(PromptInput).insert("/math")
        await pilot.press("enter")
        await pilot.pause()
        assert "/math 需要一个表达式" in transcript_text(app)
        # The palette lists the commands in Chinese, and finds them by Chinese words too.
        provider = SlashCommandProvider(app.screen)
        hits = [hit async for hit in provider.search("剪贴板")]
        assert hits and str(hits[0].text) == "/paste"
        assert hits[0].help == "附加系统剪贴板中的图片(Ctrl+Shift+V)"


async def test_the_setting_overrides_the_locale_once_settings_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LC_ALL", "en_US.UTF-8")
    settings = load_settings({"tui.language": "zh"})
    # A loader, as ``kanjian chat`` passes: the settings arrive after the first paint.
    app = KanjianApp(
        ChatServices(lambda: settings, source=ScriptedSource()),
        warm_up=False,
        image_mode="none",
        health_interval=60.0,
    )
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.query_one(StatusBar).render().plain.startswith("● checking")
        await started(app)
        await pilot.pause()
        assert {"退出", "取消"} <= {b.description for _, b in app._bindings}
        assert app.query_one("#session-search").placeholder == "搜索会话"  # type: ignore[attr-defined]
        footer = app.export_screenshot()
        assert "退出" in footer


def test_a_bad_language_setting_is_one_sentence() -> None:
    from kanjian.agent.errors import ConfigError

    with pytest.raises(ConfigError, match="language"):
        load_settings({"tui.language": "fr"})


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_snapshot_help_in_each_language(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    monkeypatch.setenv("LC_ALL", {"en": "en_US.UTF-8", "zh": "zh_CN.UTF-8"}[lang])
    app = make_app(settings, ScriptedSource(), image_mode="none")
    async with app.run_test(size=(100, 40)) as pilot:
        app.query_one(PromptInput).cursor_blink = False
        await started(app)
        app.query_one(PromptInput).insert("/help")
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        check(f"help-{lang}", normalise(app.export_screenshot(simplify=True), tmp_path))
