"""tools.ocr with the real RapidOCR engine on rendered images."""

from __future__ import annotations

import asyncio
import re

import pytest
from PIL import Image, ImageDraw

from bench.ocr_images import cjk_font
from kanjian.tools.errors import ToolInputError
from kanjian.tools.ocr import OcrResult, arun_ocr, normalise_text, run_ocr

pytestmark = pytest.mark.usefixtures("ocr_engine")


def _render(rows: list[list[tuple[int, str]]], size: int = 28, width: int = 640) -> Image.Image:
    """Each row is a list of (x, text) drawn on one baseline; rows go down the page."""
    step = int(size * 2)
    image = Image.new("RGB", (width, step * len(rows) + size), "white")
    draw = ImageDraw.Draw(image)
    for i, row in enumerate(rows):
        for x, text in row:
            draw.text((x, size // 2 + i * step), text, font=cjk_font(size), fill="black")
    return image


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_english_lines_keep_their_word_spaces() -> None:
    image = _render([[(20, "Please bring your ID card.")], [(20, "The train leaves at 8:45")]])
    result = run_ocr(image)
    assert [line.text for line in result.lines] == [
        "Please bring your ID card.",
        "The train leaves at 8:45",
    ]
    assert result.text == "Please bring your ID card.\nThe train leaves at 8:45"
    assert (result.width, result.height) == image.size
    assert all(0.5 < line.confidence <= 1.0 for line in result.lines)


def test_chinese_lines_have_no_spaces_between_characters() -> None:
    result = run_ocr(_render([[(20, "今天的会议改到下午三点")], [(20, "下一站是人民广场站")]]))
    assert [line.text for line in result.lines] == ["今天的会议改到下午三点", "下一站是人民广场站"]


def test_mixed_line_keeps_latin_spaces() -> None:
    result = run_ocr(_render([[(20, "注意安全 Mind the gap")]]))
    assert len(result.lines) == 1
    assert "Mind the gap" in result.lines[0].text
    assert _squash(result.text) == "注意安全Mindthegap"


def test_columns_on_one_row_read_left_to_right_before_the_next_row() -> None:
    # A receipt: item on the left, price on the right, two rows.
    image = _render([[(20, "鲜牛奶 Milk"), (480, "12.50")], [(20, "全麦面包"), (480, "8.90")]])
    texts = [line.text for line in run_ocr(image).lines]
    assert _squash("".join(texts)) == "鲜牛奶Milk12.50全麦面包8.90"


def test_slightly_rotated_paragraph_stays_in_reading_order() -> None:
    lines = ["The first line of text", "第二行 second line", "and the third one here"]
    image = _render([[(20, line)] for line in lines])
    rotated = image.rotate(3, resample=Image.Resampling.BICUBIC, expand=True, fillcolor="white")
    assert _squash(run_ocr(rotated).text) == _squash("".join(lines))


def test_region_reads_only_inside_and_boxes_are_in_full_image_pixels() -> None:
    image = _render([[(20, "TOP LINE")], [(20, "MIDDLE LINE")], [(20, "BOTTOM LINE")]], size=32)
    full = run_ocr(image)
    middle = next(line for line in full.lines if "MIDDLE" in line.text)
    region = (0, middle.box[1] - 10, image.width, middle.box[3] + 10)
    result = run_ocr(image, region=region)
    assert [line.text for line in result.lines] == ["MIDDLE LINE"]
    assert (result.width, result.height) == image.size
    # The same line found in the crop maps back onto the full-image box. The detector's box
    # edges move by a few px with the surroundings; a mapping error would be the crop's
    # offset (~80 px here).
    assert all(abs(a - b) <= 6 for a, b in zip(result.lines[0].box, middle.box, strict=True))


def test_blank_image_gives_no_lines() -> None:
    result = run_ocr(Image.new("RGB", (200, 100), "white"))
    assert result.lines == [] and result.text == ""


def test_transparent_image_is_read_as_on_white() -> None:
    image = Image.new("RGBA", (400, 80), (0, 0, 0, 0))
    ImageDraw.Draw(image).text((20, 20), "Hello kanjian", font=cjk_font(28), fill=(0, 0, 0, 255))
    assert run_ocr(image).text == "Hello kanjian"


@pytest.mark.parametrize(
    "region",
    [(-1, 0, 10, 10), (0, 0, 201, 10), (50, 50, 50, 60), (10, 10, 5, 20), (0, 0, 10, 101)],
)
def test_region_outside_the_image_is_an_input_error(region: tuple[int, int, int, int]) -> None:
    with pytest.raises(ToolInputError, match=r"not inside the 200x100 image"):
        run_ocr(Image.new("RGB", (200, 100), "white"), region=region)


async def test_arun_ocr_runs_in_a_thread_and_calls_can_overlap() -> None:
    image = _render([[(20, "Scan to pay")]])
    results = await asyncio.gather(arun_ocr(image), arun_ocr(image, region=(0, 0, 320, 60)))
    assert all(isinstance(r, OcrResult) for r in results)
    assert [r.text for r in results] == ["Scan to pay", "Scan to pay"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("今 天 的 会 议", "今天的会议"),
        ("Hello   World", "Hello World"),
        ("扫码支付 Scan to pay", "扫码支付 Scan to pay"),
        ("  出口 EXIT　紧急 通道 ", "出口 EXIT 紧急通道"),
        ("价格：12 元", "价格：12 元"),
    ],
)
def test_normalise_text(raw: str, expected: str) -> None:
    assert normalise_text(raw) == expected


def test_thin_strip_wider_than_the_engine_limit_is_read() -> None:
    # RapidOCR alone fails on this shape (shrunk to 2000 px wide it is under 32 px high).
    image = Image.new("RGB", (3000, 40), "white")
    ImageDraw.Draw(image).text((2400, 4), "END OF STRIP", font=cjk_font(26), fill="black")
    result = run_ocr(image)
    assert result.text == "END OF STRIP"
    assert result.lines[0].box[0] >= 2390 and result.lines[0].box[3] <= 40


def test_empty_image_is_an_input_error() -> None:
    with pytest.raises(ToolInputError, match="0x0 pixels"):
        run_ocr(Image.new("RGB", (0, 0)))
