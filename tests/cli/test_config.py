"""Settings precedence: defaults < config file < env < flags, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kanjian.agent.config import load_settings
from kanjian.agent.errors import ConfigError


def write_config(home: Path, text: str) -> None:
    (home / "config.toml").write_text(text, encoding="utf-8")


def test_defaults_when_nothing_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KANJIAN_URL")
    settings = load_settings()
    assert settings.vlm.url == "http://127.0.0.1:30000"
    assert settings.agent.max_steps == 6
    assert settings.sources == {}


def test_config_then_env_then_flag(_hermetic_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(
        _hermetic_env,
        '[vlm]\nurl = "http://config:1"\nmodel = "m-config"\n[agent]\nmax_steps = 3\n',
    )
    monkeypatch.setenv("KANJIAN_URL", "http://env:2")
    settings = load_settings({"vlm.model": "m-flag", "vlm.api_key": None})
    assert settings.vlm.url == "http://env:2"
    assert settings.vlm.model == "m-flag"
    assert settings.agent.max_steps == 3
    assert settings.sources == {
        "vlm.url": "env KANJIAN_URL",
        "vlm.model": "flag",
        "agent.max_steps": "config",
    }


def test_generic_env_names_reach_any_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KANJIAN_AGENT__MAX_STEPS", "9")
    assert load_settings().agent.max_steps == 9


def test_invalid_value_names_setting_and_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KANJIAN_MAX_STEPS", "lots")
    with pytest.raises(
        ConfigError, match=r"'agent.max_steps' from env KANJIAN_MAX_STEPS is invalid"
    ):
        load_settings()


def test_broken_toml_is_one_sentence(_hermetic_env: Path) -> None:
    write_config(_hermetic_env, "[vlm\nurl=")
    with pytest.raises(ConfigError, match=r"Cannot read config file .*config.toml"):
        load_settings()


def test_unknown_key_is_rejected(_hermetic_env: Path) -> None:
    write_config(_hermetic_env, "[vlm]\nurll = 'x'\n")
    with pytest.raises(ConfigError, match=r"'vlm.urll'"):
        load_settings()


def test_api_key_is_masked_in_flat_view(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KANJIAN_API_KEY", "sk-secret")
    assert load_settings().flat()["vlm.api_key"] == "***"
