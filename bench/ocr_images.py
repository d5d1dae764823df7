"""A labelled OCR image set, rendered with Pillow: the ground truth is the text we drew.

36 images in eight kinds: receipts, shop signs, chart labels, mixed Chinese/English
paragraphs, small text, slight rotation (±3°), noise and blur, and unusual backgrounds
(gradients, dark, textured). Each :class:`Sample` lists its lines in reading order.
Rendering is deterministic: the same seed gives the same pixels.

Chinese needs a CJK font (Debian: ``apt-get install fonts-noto-cjk``; ``make sysdeps``);
without one :func:`cjk_font` raises a clear error instead of drawing tofu boxes.

Run ``python -m bench.ocr_images OUTDIR`` to write the images and a ``labels.json``.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

__all__ = ["Sample", "cjk_font", "render_set"]

_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", str(Path.home() / ".fonts"))
_CJK_FILES = {
    "sans": "NotoSansCJK-Regular.ttc",
    "sans-bold": "NotoSansCJK-Bold.ttc",
    "serif": "NotoSerifCJK-Regular.ttc",
    "serif-bold": "NotoSerifCJK-Bold.ttc",
}

Font = ImageFont.FreeTypeFont
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Sample:
    name: str
    kind: str
    image: Image.Image
    # Ground truth, one entry per visual line, in reading order.
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


# ---------------------------------------------------------------------------- fonts


@cache
def _font_file(name: str) -> Path:
    for root in _FONT_DIRS:
        for path in sorted(Path(root).rglob(name)) if Path(root).is_dir() else []:
            return path
    raise FileNotFoundError(
        f"CJK font {name!r} was not found under {', '.join(_FONT_DIRS)}; the Chinese test images "
        "need it: install it with `apt-get install fonts-noto-cjk` (or `make sysdeps`)."
    )


@cache
def _sc_index(path: Path) -> int:
    """The face index of the Simplified Chinese face inside a Noto CJK collection."""
    for index in range(10):
        try:
            family, _ = ImageFont.truetype(str(path), 12, index=index).getname()
        except OSError:
            break
        if family is not None and family.endswith(" SC"):
            return index
    return 0


@cache
def cjk_font(size: int, style: str = "sans") -> Font:
    """Noto Sans/Serif CJK SC at ``size`` px; ``style`` is sans, sans-bold, serif or serif-bold."""
    path = _font_file(_CJK_FILES[style])
    return ImageFont.truetype(str(path), size, index=_sc_index(path))


# ---------------------------------------------------------------------------- text pools

_SHOPS = [
    ("星巴克咖啡", "STARBUCKS COFFEE"),
    ("全家便利店", "FamilyMart"),
    ("新华书店", "Xinhua Bookstore"),
    ("老王牛肉面", "Wang's Beef Noodles"),
    ("中国银行", "BANK OF CHINA"),
    ("同仁堂药店", "Tong Ren Tang Pharmacy"),
    ("海底捞火锅", "Haidilao Hot Pot"),
    ("小米之家", "Xiaomi Store"),
]
_ITEMS = [
    ("鲜牛奶 1L", "12.50"),
    ("全麦面包", "8.90"),
    ("Coca-Cola 330ml", "3.50"),
    ("苹果 Apple 1kg", "15.80"),
    ("鸡蛋 12个", "16.00"),
    ("矿泉水 Water", "2.00"),
    ("酸奶 Yogurt", "6.50"),
    ("薯片 Chips", "7.20"),
    ("香蕉 Banana", "9.60"),
    ("咖啡豆 250g", "68.00"),
    ("洗发水 Shampoo", "39.90"),
    ("大米 5kg", "45.00"),
]
_SENTENCES = [
    "今天的会议改到下午三点。",
    "Please bring your ID card.",
    "我们在 Beijing 开了新的办公室",
    "The train to Shanghai leaves at 8:45",
    "请在 2024 年 5 月 1 日前提交报告",
    "Wi-Fi 密码是 kanjian2024",
    "欢迎光临，祝您购物愉快！",
    "Total revenue grew 12% in Q3",
    "注意安全 Mind the gap",
    "营业时间 Open 9:00 - 21:00",
    "禁止吸烟 No Smoking",
    "我喜欢用 Python 写代码",
    "Machine learning 机器学习",
    "下一站是人民广场站",
    "Next stop: People's Square",
    "扫码支付 Scan to pay",
    "本店支持微信和支付宝",
    "Keep calm and carry on",
    "出口 EXIT 紧急通道",
    "图书馆三楼阅览室",
]
_CHARTS = [
    ("2023年各季度销售额", ["一季度", "二季度", "三季度", "四季度"], "单位：万元"),
    ("Monthly Active Users", ["Jan", "Feb", "Mar", "Apr", "May"], "millions"),
    ("城市人口 Population", ["北京", "上海", "广州", "深圳"], "百万人"),
    ("Test Scores by Class", ["Class A", "Class B", "Class C"], "points"),
    ("能源结构 Energy Mix", ["煤炭", "石油", "天然气", "风能", "太阳能"], "%"),
]


# ---------------------------------------------------------------------------- drawing


def _canvas(size: tuple[int, int], color: RGB) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", size, color)
    return image, ImageDraw.Draw(image)


def _text_width(draw: ImageDraw.ImageDraw, text: str, font: Font) -> int:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    return int(right - left)


def _paragraph(
    lines: list[str],
    size: int,
    *,
    background: RGB = (255, 255, 255),
    ink: RGB = (20, 20, 20),
    style: str = "sans",
) -> Image.Image:
    font = cjk_font(size, style)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width = max(_text_width(probe, line, font) for line in lines) + 2 * size
    step = int(size * 1.8)
    image, draw = _canvas((width, step * len(lines) + size), background)
    for i, line in enumerate(lines):
        draw.text((size, size // 2 + i * step), line, font=font, fill=ink)
    return image


def _receipt(rng: random.Random) -> tuple[Image.Image, list[str]]:
    shop = rng.choice(_SHOPS)
    items = rng.sample(_ITEMS, rng.randint(3, 5))
    total = sum(float(price) for _, price in items)
    body = [*items, ("合计 TOTAL", f"{total:.2f}")]
    font, title = cjk_font(22), cjk_font(28, "sans-bold")
    width, step = 460, 40
    paper = (250, 248, 240) if rng.random() < 0.5 else (255, 255, 255)
    image, draw = _canvas((width, 110 + step * len(body) + 50), paper)
    draw.text((30, 20), shop[0], font=title, fill=(10, 10, 10))
    draw.text((30, 62), shop[1], font=font, fill=(10, 10, 10))
    lines = [shop[0], shop[1]]
    for i, (item, price) in enumerate(body):
        y = 110 + i * step
        draw.text((30, y), item, font=font, fill=(20, 20, 20))
        draw.text(
            (width - 30 - _text_width(draw, price, font), y), price, font=font, fill=(20, 20, 20)
        )
        lines.append(f"{item} {price}")
    thanks = "谢谢惠顾 Thank you"
    draw.text((30, 110 + step * len(body) + 8), thanks, font=font, fill=(20, 20, 20))
    return image, [*lines, thanks]


def _sign(rng: random.Random) -> tuple[Image.Image, list[str]]:
    chinese, english = rng.choice(_SHOPS)
    background: RGB = rng.choice([(180, 20, 30), (0, 98, 65), (20, 40, 120), (240, 200, 40)])
    ink: RGB = (20, 20, 20) if background == (240, 200, 40) else (255, 255, 255)
    big, small = cjk_font(64, "sans-bold"), cjk_font(30)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width = max(_text_width(probe, chinese, big), _text_width(probe, english, small)) + 120
    image, draw = _canvas((width, 200), background)
    draw.rectangle((8, 8, width - 9, 191), outline=ink, width=3)
    draw.text(((width - _text_width(draw, chinese, big)) // 2, 30), chinese, font=big, fill=ink)
    draw.text(
        ((width - _text_width(draw, english, small)) // 2, 128), english, font=small, fill=ink
    )
    return image, [chinese, english]


def _chart(spec: tuple[str, list[str], str], rng: random.Random) -> tuple[Image.Image, list[str]]:
    title, labels, unit = spec
    values = [rng.randint(12, 95) for _ in labels]
    font, title_font = cjk_font(18), cjk_font(24, "sans-bold")
    slot = 110
    width, height = 80 + slot * len(labels), 400
    image, draw = _canvas((width, height), (255, 255, 255))
    draw.text(
        ((width - _text_width(draw, title, title_font)) // 2, 12),
        title,
        font=title_font,
        fill=(0, 0, 0),
    )
    base, top = 320, 90
    draw.line((60, top - 30, 60, base), fill=(90, 90, 90), width=2)
    draw.line((60, base, width - 20, base), fill=(90, 90, 90), width=2)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = 80 + i * slot
        bar_top = base - int((base - top) * value / 100)
        draw.rectangle((x + 15, bar_top, x + 75, base), fill=(70, 130, 200))
        # Value labels sit on one line above the plot, so the reading order is unambiguous.
        text = str(value)
        draw.text(
            (x + 45 - _text_width(draw, text, font) // 2, 52), text, font=font, fill=(0, 0, 0)
        )
        draw.text(
            (x + 45 - _text_width(draw, label, font) // 2, base + 8),
            label,
            font=font,
            fill=(0, 0, 0),
        )
    draw.text(
        (width - 20 - _text_width(draw, unit, font), base + 40), unit, font=font, fill=(60, 60, 60)
    )
    return image, [title, " ".join(str(v) for v in values), " ".join(labels), unit]


def _noise(size: tuple[int, int], sigma: float, rng: random.Random) -> Image.Image:
    """Grey Gaussian noise around mid-grey, seeded from ``rng`` (Pillow's effect_noise is not)."""
    import numpy as np

    values = np.random.default_rng(rng.getrandbits(32)).normal(128.0, sigma, (size[1], size[0]))
    return Image.fromarray(values.clip(0, 255).astype(np.uint8), mode="L")


def _mixed(rng: random.Random) -> tuple[Image.Image, list[str]]:
    lines = rng.sample(_SENTENCES, rng.randint(3, 4))
    return _paragraph(lines, rng.choice([24, 28, 32]), style=rng.choice(["sans", "serif"])), lines


def _small(rng: random.Random) -> tuple[Image.Image, list[str]]:
    lines = rng.sample(_SENTENCES, 4)
    return _paragraph(lines, rng.choice([12, 13, 14])), lines


def _rotated(rng: random.Random) -> tuple[Image.Image, list[str]]:
    lines = rng.sample(_SENTENCES, 3)
    image = _paragraph(lines, 28)
    angle = rng.choice([-3.0, -2.0, 2.0, 3.0])
    return image.rotate(
        angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(255, 255, 255)
    ), lines


def _noisy(rng: random.Random) -> tuple[Image.Image, list[str]]:
    lines = rng.sample(_SENTENCES, 3)
    image = _paragraph(lines, 28).filter(ImageFilter.GaussianBlur(rng.choice([0.8, 1.2])))
    noise = _noise(image.size, rng.choice([30.0, 45.0]), rng).convert("RGB")
    return Image.blend(image, noise, 0.22), lines


def _background(index: int, rng: random.Random) -> tuple[Image.Image, list[str]]:
    lines = rng.sample(_SENTENCES, 3)
    if index == 0:  # light text on a dark background
        return _paragraph(lines, 28, background=(30, 34, 40), ink=(235, 235, 220)), lines
    image = _paragraph(lines, 28, background=(255, 255, 255))
    mask = image.convert("L").point(lambda v: 255 if v < 128 else 0)
    if index == 1:  # a horizontal colour gradient
        fill = Image.linear_gradient("L").rotate(90).resize(image.size).convert("RGB")
        fill = Image.merge("RGB", [band.point(lambda v: 150 + v // 3) for band in fill.split()])
    else:  # a textured, paper-like background
        fill = _noise(image.size, 60.0, rng).filter(ImageFilter.GaussianBlur(3)).convert("RGB")
        fill = fill.point(lambda v: 170 + v // 4)
    fill.paste((25, 25, 60), mask=mask)
    return fill, lines


# ---------------------------------------------------------------------------- the set


def _makers(rng: random.Random) -> list[tuple[str, Callable[[], tuple[Image.Image, list[str]]]]]:
    makers: list[tuple[str, Callable[[], tuple[Image.Image, list[str]]]]] = []
    makers += [("receipt", lambda: _receipt(rng))] * 6
    makers += [("sign", lambda: _sign(rng))] * 5
    makers += [("chart", partial(_chart, spec, rng)) for spec in _CHARTS]
    makers += [("mixed", lambda: _mixed(rng))] * 5
    makers += [("small", lambda: _small(rng))] * 4
    makers += [("rotated", lambda: _rotated(rng))] * 4
    makers += [("noisy", lambda: _noisy(rng))] * 4
    makers += [("background", partial(_background, i, rng)) for i in range(3)]
    return makers


def render_set(seed: int = 0, kinds: set[str] | None = None) -> list[Sample]:
    """The labelled images, in a fixed order; ``kinds`` keeps only those kinds."""
    rng = random.Random(seed)
    samples: list[Sample] = []
    counts: dict[str, int] = {}
    for kind, make in _makers(rng):
        counts[kind] = counts.get(kind, 0) + 1
        image, lines = make()
        if kinds is None or kind in kinds:
            samples.append(Sample(f"{kind}_{counts[kind]:02d}", kind, image, tuple(lines)))
    return samples


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "ocr-images")
    out.mkdir(parents=True, exist_ok=True)
    labels = {}
    for sample in render_set():
        sample.image.save(out / f"{sample.name}.png")
        labels[sample.name] = {"kind": sample.kind, "lines": list(sample.lines)}
    (out / "labels.json").write_text(
        json.dumps(labels, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    print(f"wrote {len(labels)} images and labels.json to {out}")


if __name__ == "__main__":
    main()
