"""Choosing the backend: whether a local checkpoint is present, without huggingface_hub."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kanjian.agent.backends import local_model_present


def test_a_checkpoint_in_the_hub_cache_or_a_folder_is_present(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert not local_model_present("OpenGVLab/InternVL3-1B-hf")
    snapshot = tmp_path / "hub" / "models--OpenGVLab--InternVL3-1B-hf" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    assert not local_model_present("OpenGVLab/InternVL3-1B-hf")  # no config.json yet
    (snapshot / "config.json").write_text("{}")
    assert local_model_present("OpenGVLab/InternVL3-1B-hf")
    assert local_model_present(str(tmp_path))  # a folder
    assert not local_model_present("not a repo id")


def test_hf_home_is_followed_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    snapshot = tmp_path / "hub" / "models--a--b" / "snapshots" / "main"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    assert local_model_present("a/b")


def test_the_lookup_imports_no_huggingface_hub() -> None:
    code = (
        "import sys; from kanjian.agent.backends import local_model_present; "
        "local_model_present('a/b'); print('huggingface_hub' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
