"""Reading order on small rendered pages (the real engine) and on hand-made boxes (layout only)."""

from __future__ import annotations

import re

import pytest
from PIL import Image, ImageDraw

from bench.ocr_images import cjk_font
from bench.ocr_pages import wrap
from kanjian.tools.ocr import run_ocr
from kanjian.tools.ocr.layout import layout

_EN = (
    "The council voted to extend the night bus service until two in the morning after "
    "residents asked for it. The new timetable starts next month."
)
_EN_2 = (
    "A small bakery near the station has won a national prize for its rye bread. The owner "
    "opened the shop twelve years ago with one oven."
)
_ZH = "市政府周二宣布将延长夜间公交服务时间至凌晨两点。许多居民此前反映末班地铁时间提前给出行带来不便。"
_ZH_2 = "车站附近的一家小面包店凭借黑麦面包获得全国大奖。店主十二年前开店时只有一台烤箱和两名员工。"


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _two_columns(
    left: str, right: str, size: int = 20, col: int = 300
) -> tuple[Image.Image, list[str], list[str]]:
    font = cjk_font(size)
    lines_l, lines_r = wrap(left, font, col), wrap(right, font, col)
    step = round(size * 1.6)
    image = Image.new(
        "RGB", (2 * col + 40 + 60, step * max(len(lines_l), len(lines_r)) + 40), "white"
    )
    draw = ImageDraw.Draw(image)
    for x, lines in ((20, lines_l), (20 + col + 60, lines_r)):
        for i, line in enumerate(lines):
            draw.text((x, 20 + i * step), line, font=font, fill="black")
    return image, lines_l, lines_r


pytestmark_engine = pytest.mark.usefixtures("ocr_engine")


@pytestmark_engine
@pytest.mark.parametrize(
    ("left", "right"), [(_EN, _EN_2), (_ZH, _ZH_2)], ids=["english", "chinese"]
)
def test_two_column_page_reads_column_by_column(left: str, right: str) -> None:
    image, lines_l, lines_r = _two_columns(left, right)
    assert len(lines_l) >= 3 and len(lines_r) >= 3  # the page really has two columns of text
    result = run_ocr(image)
    assert _squash(result.text) == _squash("".join(lines_l + lines_r))
    assert [block.kind for block in result.blocks] == ["paragraph", "paragraph"]


@pytestmark_engine
def test_receipt_keeps_item_and_price_on_one_line_in_order() -> None:
    items = [
        ("鲜牛奶 Fresh Milk", "12.50"),
        ("全麦面包", "8.90"),
        ("Eggs x12", "21.00"),
        ("合计 TOTAL", "42.40"),
    ]
    font = cjk_font(22)
    image = Image.new("RGB", (460, 40 + 40 * len(items)), "white")
    draw = ImageDraw.Draw(image)
    for i, (name, price) in enumerate(items):
        draw.text((20, 20 + 40 * i), name, font=font, fill="black")
        draw.text((440 - font.getlength(price), 20 + 40 * i), price, font=font, fill="black")
    result = run_ocr(image)
    assert result.text.splitlines() == [f"{name} {price}" for name, price in items]
    assert {block.kind for block in result.blocks} == {"row"}


@pytestmark_engine
def test_table_comes_out_row_by_row_with_cells_joined() -> None:
    rows = [("City", "People", "Area"), ("Beijing", "2189", "16410"), ("Shanghai", "2487", "6341")]
    font = cjk_font(22)
    image = Image.new("RGB", (520, 40 + 44 * len(rows)), "white")
    draw = ImageDraw.Draw(image)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            draw.text((20 + 170 * c, 20 + 44 * r), cell, font=font, fill="black")
    result = run_ocr(image)
    assert result.text.splitlines() == [" | ".join(row) for row in rows]
    assert [block.kind for block in result.blocks] == ["table"]
    assert len(result.blocks[0].rows) == 3


@pytestmark_engine
def test_page_rotated_10_degrees_reads_as_the_straight_one() -> None:
    image, _, _ = _two_columns(_EN, _EN_2)
    straight = run_ocr(image).text
    for angle in (10, -10):
        turned = image.rotate(
            angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor="white"
        )
        assert _squash(run_ocr(turned).text) == _squash(straight), angle


# ---------------------------------------------------------------------------- layout only


def _quad(x1: float, y1: float, x2: float, y2: float) -> list[tuple[float, float]]:
    return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]


def test_headline_spanning_columns_comes_first_then_each_column() -> None:
    quads = [_quad(20, 10, 600, 50)]  # the headline, across both columns
    for i in range(4):
        quads.append(_quad(20, 80 + 30 * i, 300, 100 + 30 * i))  # left column
        quads.append(_quad(340, 80 + 30 * i, 620, 100 + 30 * i))  # right column, same rows
    blocks = layout(quads, ["x"] * len(quads))
    order = [i for block in blocks for row in block.rows for i in row]
    assert order == [0, 1, 3, 5, 7, 2, 4, 6, 8]


def test_vertical_chinese_reads_right_to_left_top_to_bottom() -> None:
    quads = [_quad(300, 20, 330, 300), _quad(200, 20, 230, 300), _quad(100, 20, 130, 200)]
    blocks = layout(quads, ["一二三四", "五六七八", "九十"])
    assert [row for block in blocks for row in block.rows] == [(0,), (1,), (2,)]
    quads = [_quad(100, 20, 130, 300), _quad(300, 20, 330, 300)]
    blocks = layout(quads, ["左边一列", "右边一列"])
    assert [row for block in blocks for row in block.rows] == [(1,), (0,)]


def test_every_line_is_placed_once() -> None:
    quads = [_quad(10 * i, 7 * i, 10 * i + 50, 7 * i + 12) for i in range(30)]
    blocks = layout(quads, ["t"] * 30)
    assert sorted(i for block in blocks for row in block.rows for i in row) == list(range(30))
    assert layout([], []) == []
