"""Images go on the wire tiled the way the backend will tile them (bug: always SGLang's)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from kanjian.agent.images import ImageRegistry
from kanjian.vlm.client import SGLangClient
from kanjian.vlm.images import load_image
from kanjian.vlm.local import LocalBackend
from kanjian.vlm.wire import decode_data_url


def four_k() -> bytes:
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((3840, 2160)).convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


def wire_size(registry: ImageRegistry) -> tuple[int, int]:
    entry = registry.add(load_image(four_k()))
    with Image.open(io.BytesIO(decode_data_url(registry.wire_url(entry.id)))) as sent:
        return sent.size


async def test_sglang_keeps_its_fixed_rule_and_max_num() -> None:
    async with SGLangClient("http://127.0.0.1:9") as client:
        registry = ImageRegistry(client, store=None)
        assert registry.tiling() == ("sglang", 12)


def test_local_backend_gets_the_official_rule_and_its_max_num(tmp_path: Path) -> None:
    local = LocalBackend(tmp_path / "no-model-needed", max_num=40)  # nothing loads until asked
    registry = ImageRegistry(local)
    assert registry.tiling() == ("official", 40)
    # A 4K frame keeps far more pixels for a 40-tile local model than for SGLang's 12 tiles.
    sglang_size = wire_size(ImageRegistry(None))
    local_size = wire_size(registry)
    assert local_size[0] * local_size[1] > 2 * sglang_size[0] * sglang_size[1]
