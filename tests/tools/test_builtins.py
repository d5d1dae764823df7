"""The four built-ins against real components: RapidOCR, SymPy, Pillow, a scripted model."""

from __future__ import annotations

import importlib.util

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from kanjian.tools.builtin import builtin_tools
from kanjian.tools.builtin.zoom import crop_box
from kanjian.tools.context import SimpleToolContext
from kanjian.tools.errors import ToolFailed, ToolInputError
from kanjian.vlm.grounding import grounding_prompt, grounding_regex, map_from_crop, norm_to_pixels
from tests.tools.conftest import ScriptedBackend, text_image

TOOLS = {t.name: t for t in builtin_tools()}


def test_names_and_args_are_the_public_contract() -> None:
    args = {name: sorted(t.args_schema["properties"]) for name, t in TOOLS.items()}
    assert args == {
        "ocr": ["image", "region"],
        "ground": ["image", "query"],
        "zoom": ["box", "image"],
        "math": ["expression"],
    }
    assert TOOLS["ocr"].args_schema["required"] == ["image"]


async def test_zoom_returns_a_crop_with_margin() -> None:
    ctx = SimpleToolContext({"image_1": Image.new("RGB", (2000, 1000), "white")})
    out = await TOOLS["zoom"].run({"image": "image_1", "box": [100, 200, 300, 600]}, ctx)
    (derived,) = out.images
    # Box is (200, 200, 600, 600) px; 5% margin of 400 px = 20 px each side.
    assert derived.crop_px == (180, 180, 620, 620)
    assert derived.parent == "image_1"
    assert derived.image.size == (440, 440)
    assert out.data["box_px"] == [200, 200, 600, 600]


async def test_zoom_rejects_a_box_without_area() -> None:
    ctx = SimpleToolContext({"image_1": Image.new("RGB", (100, 100))})
    with pytest.raises(ToolInputError, match="no area"):
        await TOOLS["zoom"].run({"image": "image_1", "box": [500, 500, 500, 600]}, ctx)
    with pytest.raises(ToolInputError, match=r"'box.2'.*less than or equal to 1000"):
        await TOOLS["zoom"].run({"image": "image_1", "box": [0, 0, 1200, 600]}, ctx)


@settings(max_examples=200, deadline=None)
@given(
    width=st.integers(50, 6000),
    height=st.integers(50, 6000),
    zoom_box=st.tuples(
        st.integers(0, 900), st.integers(0, 900), st.integers(50, 100), st.integers(50, 100)
    ),
    inner=st.tuples(
        st.integers(0, 500), st.integers(0, 500), st.integers(500, 1000), st.integers(500, 1000)
    ),
)
def test_boxes_in_a_crop_map_back_within_two_pixels(
    width: int,
    height: int,
    zoom_box: tuple[int, int, int, int],
    inner: tuple[int, int, int, int],
) -> None:
    x, y, w, h = zoom_box
    box_norm = (x, y, min(1000, x + w), min(1000, y + h))
    crop_px = crop_box(norm_to_pixels(box_norm, width, height), width, height)
    crop_w, crop_h = crop_px[2] - crop_px[0], crop_px[3] - crop_px[1]
    # The object's true position in the original, and what the model says in the crop.
    truth = [
        crop_px[0] + inner[0] * crop_w / 1000,
        crop_px[1] + inner[1] * crop_h / 1000,
        crop_px[0] + inner[2] * crop_w / 1000,
        crop_px[1] + inner[3] * crop_h / 1000,
    ]
    in_crop = norm_to_pixels(inner, crop_w, crop_h)
    mapped = map_from_crop(in_crop, crop_px, (crop_w, crop_h))
    assert all(abs(a - b) <= 2 for a, b in zip(mapped, truth, strict=True))


async def test_ocr_reads_lines_in_order_with_boxes(hello_image: Image.Image) -> None:
    ctx = SimpleToolContext({"image_1": hello_image})
    out = await TOOLS["ocr"].run({"image": "image_1"}, ctx)
    data = out.data
    assert set(data) == {"image", "width", "height", "lines", "blocks", "text", "seconds"}
    assert (data["width"], data["height"]) == (640, 240)
    texts = [line["text"] for line in data["lines"]]
    assert texts == ["Hello World", "Total 42.50"]
    first = data["lines"][0]
    assert set(first) == {"text", "confidence", "box", "box_norm"}
    assert first["box"][1] < data["lines"][1]["box"][1]
    assert 0 <= first["box_norm"][0] < first["box_norm"][2] <= 1000
    assert out.text.splitlines()[1] == f"{first['box_norm']} Hello World"


async def test_ocr_region_reads_only_inside(hello_image: Image.Image) -> None:
    ctx = SimpleToolContext({"image_1": hello_image})
    # From y=79 px down holds only the second line (drawn at y=90).
    out = await TOOLS["ocr"].run({"image": "image_1", "region": [0, 330, 1000, 1000]}, ctx)
    assert [line["text"] for line in out.data["lines"]] == ["Total 42.50"]
    # Boxes stay in the full image's pixels.
    assert out.data["lines"][0]["box"][1] >= 79


async def test_ocr_of_a_blank_image_says_so() -> None:
    ctx = SimpleToolContext({"image_1": Image.new("RGB", (200, 100), "white")})
    out = await TOOLS["ocr"].run({"image": "image_1"}, ctx)
    assert out.data["lines"] == [] and out.text == "No text found in image_1."


async def test_ground_asks_with_the_grounding_prompt_and_draws_an_overlay() -> None:
    backend = ScriptedBackend(
        ["<ref>the word</ref><box>[[100, 200, 500, 400], [600, 100, 900, 300]]</box>"]
    )
    ctx = SimpleToolContext({"image_1": text_image(["Hello"], (1000, 500))}, backend=backend)
    out = await TOOLS["ground"].run({"image": "image_1", "query": "the word"}, ctx)

    (request,) = backend.requests
    assert request.regex == grounding_regex("the word")
    content = request.messages[0]["content"]
    assert content[0]["image_url"]["url"] == ctx.wire_url("image_1")
    assert content[1]["text"] == grounding_prompt("the word")
    assert out.data["boxes"] == [
        {"label": "the word", "box": [100, 100, 500, 200], "box_norm": [100, 200, 500, 400]},
        {"label": "the word", "box": [600, 50, 900, 150], "box_norm": [600, 100, 900, 300]},
    ]
    assert out.data["overlay"] is None and out.data["query"] == "the word"
    (overlay,) = out.images
    assert overlay.image.size == (1000, 500) and overlay.parent == "image_1"
    # The box outline is drawn in the first colour (red) where the box edge is.
    assert overlay.image.getpixel((300, 100))[0] > 200
    assert overlay.image.getpixel((300, 100))[1] < 100
    assert "1. the word [100, 200, 500, 400]" in out.text


async def test_ground_in_a_zoom_maps_boxes_back_to_the_original() -> None:
    original = Image.new("RGB", (2000, 1000), "white")
    ctx = SimpleToolContext(
        {"image_1": original},
        backend=ScriptedBackend(["<ref>x</ref><box>[[0, 0, 1000, 1000]]</box>"]),
    )
    zoomed = await TOOLS["zoom"].run({"image": "image_1", "box": [250, 250, 500, 500]}, ctx)
    crop_id = ctx.add(zoomed.images[0])
    out = await TOOLS["ground"].run({"image": crop_id, "query": "x"}, ctx)
    (box,) = out.data["boxes"]
    assert box["original"]["image"] == "image_1"
    assert box["original"]["box"] == list(zoomed.images[0].crop_px or ())


async def test_ground_without_a_model_fails_clearly() -> None:
    ctx = SimpleToolContext({"image_1": Image.new("RGB", (10, 10))})
    with pytest.raises(ToolFailed, match="needs the model"):
        await TOOLS["ground"].run({"image": "image_1", "query": "x"}, ctx)


async def test_ground_with_no_box_found() -> None:
    ctx = SimpleToolContext(
        {"image_1": Image.new("RGB", (10, 10))}, backend=ScriptedBackend(["nothing here"])
    )
    out = await TOOLS["ground"].run({"image": "image_1", "query": "cat"}, ctx)
    assert out.data["boxes"] == [] and out.images == []
    assert out.text == "No box found for 'cat' in image_1."


needs_mathsolve = pytest.mark.skipif(
    importlib.util.find_spec("kanjian.tools.mathsolve") is None,
    reason="tools.mathsolve not built yet",
)


@needs_mathsolve
async def test_math_is_exact() -> None:
    out = await TOOLS["math"].run({"expression": "1/2 + 13"}, SimpleToolContext())
    assert out.data["result"] == "27/2"
    assert set(out.data) >= {"input", "result", "numeric", "latex", "seconds"}
    assert "27/2" in out.text
