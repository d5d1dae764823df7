"""`transformers serve` on the tiny checkpoint, with kanjian's HTTP client pointed at it.

For a real InternVL ``-hf`` checkpoint, ``transformers serve`` fails on a CPU-torch install:
its ``AutoProcessor`` also loads InternVL's video processor, which needs torchvision, and PyPI's
torchvision wheels link CUDA torch libraries (``libtorch_cuda.so``) that the CPU build lacks.
This test serves a copy of the checkpoint whose ``processor_config.json`` points (through
``auto_map`` and ``--trust-remote-code``) at the same image-only processor the local backend
uses, which shows that the rest of the path — serve's chat endpoint, SSE stream, usage — works
with :class:`vlm.client.SGLangClient` and a data-URL image.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kanjian.vlm.client import SGLangClient
from kanjian.vlm.types import (
    ChatRequest,
    Finished,
    SamplingParams,
    TextDelta,
    image_part,
    text_part,
)

from .conftest import png_data_url

pytestmark = [pytest.mark.local, pytest.mark.slow]

REMOTE_PROCESSOR = """
from transformers import InternVLProcessor


class ImageOnlyInternVLProcessor(InternVLProcessor):
    def __init__(self, image_processor=None, tokenizer=None, image_seq_length=256,
                 chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, image_seq_length=image_seq_length,
                         chat_template=chat_template, **kwargs)
"""
AUTO_MAP = {"AutoProcessor": "processing_image_only.ImageOnlyInternVLProcessor"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _servable_copy(checkpoint: Path, target: Path) -> Path:
    shutil.copytree(checkpoint, target)
    (target / "processing_image_only.py").write_text(REMOTE_PROCESSOR)
    for name in ("processor_config.json", "tokenizer_config.json"):
        config = json.loads((target / name).read_text())
        config.update(processor_class="ImageOnlyInternVLProcessor", auto_map=AUTO_MAP)
        (target / name).write_text(json.dumps(config, indent=2))
    return target


@pytest.fixture(scope="module")
def served_model(
    tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    pytest.importorskip("fastapi", reason="transformers serve needs fastapi")
    pytest.importorskip("accelerate", reason="transformers serve needs accelerate")
    model = _servable_copy(tiny_checkpoint, tmp_path_factory.mktemp("served") / "tiny")
    port = _free_port()
    cli = Path(sys.executable).with_name("transformers")
    command = [str(cli), "serve", str(model), "--trust-remote-code"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    log = (tmp_path_factory.mktemp("serve-log") / "serve.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        yield f"http://127.0.0.1:{port}", str(model)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@pytest.fixture
async def client(served_model: tuple[str, str]) -> AsyncIterator[SGLangClient]:
    url, model = served_model
    # A server started with a model answers only to that name (SGLang also takes "default").
    async with SGLangClient(url, model=model, read_timeout=120) as client:
        await client.wait_until_healthy(budget=180, interval=0.5, until_listening=True)
        yield client


def _request() -> ChatRequest:
    content = [image_part(png_data_url(900, 300)), text_part("Describe the image.")]
    return ChatRequest(
        [{"role": "user", "content": content}], SamplingParams(max_tokens=8, temperature=0)
    )


async def test_client_completes_against_transformers_serve(client: SGLangClient) -> None:
    result = await client.complete(_request())
    assert result.text
    assert result.finish_reason == "length"
    # 900x300 is 3:1: a 3x1 grid plus the thumbnail, 256 tokens each, then the text.
    assert result.usage.prompt_tokens > 4 * 256
    assert result.usage.completion_tokens == 8


async def test_client_streams_from_transformers_serve(client: SGLangClient) -> None:
    events = [event async for event in client.stream(_request())]
    assert any(isinstance(e, TextDelta) and e.text for e in events)
    assert Finished("length") in events
    info = await client.model_info()
    assert info.model.endswith("tiny")
