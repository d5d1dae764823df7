"""A tiny random InternVL checkpoint, built once per session, and a backend on it."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from kanjian.vlm.local_tiny import build_tiny_internvl


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Session fixtures run before the root conftest's per-test env, and huggingface_hub reads
    # HF_HUB_OFFLINE once, at import, which this build may be the first to trigger.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        return Path(build_tiny_internvl(tmp_path_factory.mktemp("tiny-internvl")))


def png_data_url(width: int, height: int, colour: str = "red") -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
