"""Hermetic tests: no user config, no user data, no network beyond 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _hermetic_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in list(os.environ):
        if name.startswith(("KANJIAN_", "OPENAI_")):
            monkeypatch.delenv(name)
    home = tmp_path / "kanjian-home"
    home.mkdir()
    monkeypatch.setenv("KANJIAN_HOME", str(home))
    # Point any stray real-server default somewhere nothing listens: tests that want a server
    # start one (vlm.fake_server) and pass its URL explicitly.
    monkeypatch.setenv("KANJIAN_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    monkeypatch.setenv("NO_COLOR", "1")
    yield home
