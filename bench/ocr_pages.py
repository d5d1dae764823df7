"""Pages that look like real ones, rendered with Pillow; the truth is the text in reading order.

``render_pages("test")`` gives the held-out bench set (69 images); ``render_pages("dev")`` a
smaller set drawn from a disjoint text pool with other seeds, for tuning. Kinds:

- ``columns-en`` / ``columns-zh``: two-column English / Chinese articles with paragraphs;
- ``columns-3``: three columns, each English or Chinese;
- ``newspaper``: a headline and a standfirst spanning two or three columns of text;
- ``receipt``: item names on the left, prices right-aligned, subtotal, tax and total;
- ``table``: a header row and cells in a grid (truth: cells joined by `` | `` row by row);
- ``form``: label/value pairs, one or two to a row;
- ``vertical``: Chinese written in columns, top to bottom, right to left;
- ``rotated``: one of the above turned by 4–15° either way;
- ``photo``: one of the above as if photographed: perspective, blur, uneven light, noise, JPEG.

The first four kinds are the multi-column subset (:data:`MULTI_COLUMN`). Rendering is
deterministic: the same split gives the same pixels. ``python -m bench.ocr_pages OUTDIR [dev]``
writes the images and a ``labels.json``.
"""

from __future__ import annotations

import io
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from bench.ocr_images import Font, Sample, cjk_font
from bench.ocr_texts import DEV, TEST, Pool

__all__ = ["MULTI_COLUMN", "render_pages", "wrap"]

MULTI_COLUMN = frozenset({"columns-en", "columns-zh", "columns-3", "newspaper"})
Page = tuple[Image.Image, list[str]]
Maker = Callable[[random.Random, Pool], Page]
_INK = (20, 20, 20)

# ---------------------------------------------------------------------------- text blocks


def _is_cjk(text: str) -> bool:
    return any("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" for ch in text)


def wrap(text: str, font: Font, width: int) -> list[str]:
    """Greedy wrap to ``width`` px: by character for Chinese, by word for English."""
    cjk = _is_cjk(text)
    tokens = list(text) if cjk else text.split()
    joiner = "" if cjk else " "
    lines: list[str] = []
    current = ""
    for token in tokens:
        candidate = current + joiner + token if current else token
        if current and font.getlength(candidate) > width:
            lines.append(current)
            current = token
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def _paragraphs(rng: random.Random, sentences: tuple[str, ...], count: int) -> list[str]:
    """``count`` paragraphs of 2–3 consecutive sentences from a random start."""
    start = rng.randrange(len(sentences))
    out = []
    for p in range(count):
        n = rng.randint(2, 3)
        picked = [sentences[(start + p * 3 + i) % len(sentences)] for i in range(n)]
        out.append(("" if _is_cjk(picked[0]) else " ").join(picked))
    return out


def _column(
    draw: ImageDraw.ImageDraw, paras: list[str], box: tuple[int, int, int], font: Font, max_y: int
) -> list[str]:
    """Draw paragraphs into the column (x, y, width) until ``max_y``; the lines drawn."""
    x, y, width = box
    step = round(font.size * 1.6)
    drawn: list[str] = []
    for para in paras:
        for line in wrap(para, font, width):
            if y + step > max_y:
                return drawn
            draw.text((x, y), line, font=font, fill=_INK)
            drawn.append(line)
            y += step
        y += step // 2  # paragraph gap
    return drawn


def _columns_page(rng: random.Random, pool: Pool, langs: list[str], head: bool) -> Page:
    ncols = len(langs)
    size = rng.choice([20, 22, 24])
    font = cjk_font(size, rng.choice(["sans", "serif"]))
    margin, gutter = rng.randint(40, 70), rng.randint(36, 64)
    col_w = rng.choice([380, 420, 460]) if ncols == 3 else rng.choice([440, 500, 560])
    width = 2 * margin + ncols * col_w + (ncols - 1) * gutter
    height = rng.choice([900, 1000, 1100])
    image = Image.new("RGB", (width, height), (255, 255, 252))
    draw = ImageDraw.Draw(image)
    truth: list[str] = []
    y = margin
    if head:
        title_font = cjk_font(rng.choice([44, 52]), "serif-bold")
        title = rng.choice(pool.headlines)
        draw.text((margin, y), title, font=title_font, fill=_INK)
        truth.append(title)
        y += round(title_font.size * 1.5)
        sub_font = cjk_font(size + 4, "sans")
        for line in wrap(rng.choice(pool.english + pool.chinese), sub_font, width - 2 * margin):
            draw.text((margin, y), line, font=sub_font, fill=(70, 70, 70))
            truth.append(line)
            y += round(sub_font.size * 1.5)
        draw.line([(margin, y), (width - margin, y)], fill=_INK, width=2)
        y += size
    for c, lang in enumerate(langs):
        sentences = pool.english if lang == "en" else pool.chinese
        x = margin + c * (col_w + gutter)
        paras = _paragraphs(rng, sentences, 6)
        truth += _column(draw, paras, (x, y, col_w), font, height - margin)
        if ncols > 1 and rng.random() < 0.5 and c < ncols - 1:  # a rule between columns
            gx = x + col_w + gutter // 2
            draw.line([(gx, y), (gx, height - margin)], fill=(150, 150, 150), width=1)
    return image, truth


def _columns_en(rng: random.Random, pool: Pool) -> Page:
    return _columns_page(rng, pool, ["en", "en"], head=False)


def _columns_zh(rng: random.Random, pool: Pool) -> Page:
    return _columns_page(rng, pool, ["zh", "zh"], head=False)


def _columns_3(rng: random.Random, pool: Pool) -> Page:
    return _columns_page(rng, pool, [rng.choice(["en", "zh"]) for _ in range(3)], head=False)


def _newspaper(rng: random.Random, pool: Pool) -> Page:
    lang = rng.choice(["en", "zh"])
    return _columns_page(rng, pool, [lang] * rng.choice([2, 3]), head=True)


# ---------------------------------------------------------------------------- receipts, tables


def _right(draw: ImageDraw.ImageDraw, x2: int, y: int, text: str, font: Font) -> None:
    draw.text((x2 - font.getlength(text), y), text, font=font, fill=_INK)


def _receipt(rng: random.Random, pool: Pool) -> Page:
    size = rng.choice([22, 24, 26])
    font, bold = cjk_font(size, "sans"), cjk_font(size + 6, "sans-bold")
    width, margin = rng.choice([480, 520, 580]), 30
    items = rng.sample(pool.items, rng.randint(5, 8))
    step = round(size * 1.7)
    height = step * (len(items) + 10) + 2 * margin
    image = Image.new("RGB", (width, height), (252, 252, 248))
    draw = ImageDraw.Draw(image)
    truth: list[str] = []
    y = margin
    shop = rng.choice(pool.shops)
    draw.text(((width - bold.getlength(shop)) / 2, y), shop, font=bold, fill=_INK)
    truth.append(shop)
    y += step + 6
    stamp = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(8, 21)}:{rng.randint(0, 59):02d}"
    number = f"No.{rng.randint(1000, 9999)}"
    draw.text((margin, y), stamp, font=font, fill=_INK)
    _right(draw, width - margin, y, number, font)
    truth.append(f"{stamp} {number}")
    y += step
    draw.line([(margin, y), (width - margin, y)], fill=_INK, width=1)
    y += step // 2
    total = 0.0
    style = rng.choice(["zh", "en", "both"])
    for zh, en in items:
        name = {"zh": zh, "en": en, "both": f"{zh} {en}"}[style]
        qty = rng.choice([1, 1, 2, 3])
        price = rng.randint(150, 4999) / 100 * qty
        total += price
        label = f"{name} x{qty}" if qty > 1 else name
        draw.text((margin, y), label, font=font, fill=_INK)
        _right(draw, width - margin, y, f"{price:.2f}", font)
        truth.append(f"{label} {price:.2f}")
        y += step
    draw.line([(margin, y), (width - margin, y)], fill=_INK, width=1)
    y += step // 2
    tax = round(total * 0.06, 2)
    for label, value, f in (
        ("小计 Subtotal", total, font),
        ("税 Tax 6%", tax, font),
        ("合计 TOTAL", total + tax, bold),
    ):
        draw.text((margin, y), label, font=f, fill=_INK)
        _right(draw, width - margin, y, f"{value:.2f}", f)
        truth.append(f"{label} {value:.2f}")
        y += step + (6 if f is bold else 0)
    thanks = rng.choice(["谢谢惠顾", "Thank you!", "欢迎再次光临"])
    draw.text(((width - font.getlength(thanks)) / 2, y + step // 2), thanks, font=font, fill=_INK)
    truth.append(thanks)
    return image, truth


def _table(rng: random.Random, pool: Pool) -> Page:
    headers, values = rng.choice(pool.tables)
    size = rng.choice([20, 22, 24])
    font, bold = cjk_font(size, "sans"), cjk_font(size, "sans-bold")
    rows = [list(headers)] + [
        [rng.choice(column) for column in values] for _ in range(rng.randint(4, 6))
    ]
    pad = rng.randint(14, 24)
    widths = [
        max(round(bold.getlength(row[c])) for row in rows) + 2 * pad for c in range(len(headers))
    ]
    widths = [max(w, rng.randint(110, 170)) for w in widths]
    row_h = round(size * 2.2)
    margin = 40
    caption = rng.random() < 0.5
    width = sum(widths) + 2 * margin
    height = row_h * len(rows) + 2 * margin + (row_h if caption else 0)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    truth: list[str] = []
    y = margin
    if caption:
        title = rng.choice(["表1 统计数据", "Table 2. Summary", "季度报表", "Results"])
        draw.text((margin, y), title, font=bold, fill=_INK)
        truth.append(title)
        y += row_h
    grid = rng.random() < 0.6
    top = y
    for r, row in enumerate(rows):
        x = margin
        for c, cell in enumerate(row):
            f = bold if r == 0 else font
            numeric = cell.replace(",", "").replace(".", "").isdigit()
            if numeric and r > 0:
                _right(draw, x + widths[c] - pad, y + (row_h - size) // 2 - 2, cell, f)
            else:
                draw.text((x + pad, y + (row_h - size) // 2 - 2), cell, font=f, fill=_INK)
            x += widths[c]
        truth.append(" | ".join(row))
        y += row_h
        if grid or r == 0:
            draw.line([(margin, y), (width - margin, y)], fill=_INK, width=1)
    if grid:
        draw.line([(margin, top), (width - margin, top)], fill=_INK, width=1)
        x = margin
        for w in [0, *widths]:
            x += w
            draw.line([(x, top), (x, y)], fill=_INK, width=1)
    return image, truth


def _form(rng: random.Random, pool: Pool) -> Page:
    size = rng.choice([22, 24])
    font, bold = cjk_font(size, "sans"), cjk_font(size + 10, "sans-bold")
    fields = rng.sample(pool.fields, min(len(pool.fields), rng.randint(6, 8)))
    per_row = rng.choice([1, 2])
    half = rng.choice([420, 480])
    width = 80 + half * per_row
    step = round(size * 2.4)
    nrows = -(-len(fields) // per_row)
    height = 100 + step * (nrows + 1) + 60
    image = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    title = rng.choice(["申请表 Application Form", "登记表", "Registration Form", "客户信息"])
    draw.text(((width - bold.getlength(title)) / 2, 40), title, font=bold, fill=_INK)
    truth = [title]
    y = 40 + step + 20
    for r in range(nrows):
        parts = []
        for c in range(per_row):
            if r * per_row + c >= len(fields):
                break
            label, choices = fields[r * per_row + c]
            value = rng.choice(choices)
            label_text = label + ("：" if _is_cjk(label) else ":")
            x = 40 + c * half
            draw.text((x, y), label_text, font=font, fill=_INK)
            vx = x + round(font.getlength(label_text)) + rng.randint(12, 40)
            draw.text((vx, y), value, font=font, fill=(10, 30, 120))
            draw.line(
                [(vx - 4, y + size + 10), (x + half - 30, y + size + 10)], fill=(120, 120, 120)
            )
            parts.append(f"{label_text} {value}")
        truth.append(" ".join(parts))
        y += step
    return image, truth


def _vertical(rng: random.Random, pool: Pool) -> Page:
    """Chinese in columns: each column top to bottom, columns right to left."""
    size = rng.choice([26, 30])
    font = cjk_font(size, rng.choice(["serif", "sans"]))
    per_col = rng.randint(10, 14)
    text = "".join(rng.sample(pool.chinese, 4)).replace("。", "")
    columns = [text[i : i + per_col] for i in range(0, len(text), per_col)][: rng.randint(5, 8)]
    step_x, step_y = round(size * 1.9), round(size * 1.15)
    margin = 50
    width = 2 * margin + step_x * len(columns)
    height = 2 * margin + step_y * per_col
    image = Image.new("RGB", (width, height), (253, 250, 240))
    draw = ImageDraw.Draw(image)
    for c, column in enumerate(columns):
        x = width - margin - (c + 1) * step_x + (step_x - size) // 2
        for r, ch in enumerate(column):
            draw.text((x, margin + r * step_y), ch, font=font, fill=_INK)
    return image, columns


# ---------------------------------------------------------------------------- distortions


def _rotated(rng: random.Random, pool: Pool) -> Page:
    image, truth = rng.choice(_BASES)(rng, pool)
    angle = rng.uniform(4, 15) * rng.choice([-1, 1])
    turned = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor="white")
    return turned, truth


def _photo(rng: random.Random, pool: Pool) -> Page:
    import numpy as np

    image, truth = rng.choice(_BASES)(rng, pool)
    w, h = image.size
    border = round(0.06 * max(w, h))
    canvas = Image.new("RGB", (w + 2 * border, h + 2 * border), rng.choice(_TABLES))
    canvas.paste(image, (border, border))
    cw, ch = canvas.size
    j = lambda s: rng.uniform(0, 0.05) * s  # noqa: E731 - a jitter of up to 5 %
    # Where each output corner samples from: a mild keystone and a small turn.
    quad = (j(cw), j(ch), j(cw), ch - j(ch), cw - j(cw), ch - j(ch), cw - j(cw), j(ch))
    photo = canvas.transform((cw, ch), Image.Transform.QUAD, quad, Image.Resampling.BICUBIC)
    photo = photo.rotate(
        rng.uniform(-3, 3), resample=Image.Resampling.BICUBIC, fillcolor=(90, 80, 70)
    )
    photo = photo.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.3)))
    pixels = np.asarray(photo).astype(np.float32)
    light = np.linspace(rng.uniform(0.7, 0.9), 1.05, cw)[None, :, None]
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, rng.uniform(4, 9), pixels.shape)
    pixels = np.clip(pixels * light + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=rng.randint(35, 60))
    buffer.seek(0)
    return Image.open(buffer).convert("RGB"), truth


_TABLES = [(110, 85, 60), (70, 70, 75), (160, 150, 135)]
_BASES: list[Maker] = [_columns_en, _columns_zh, _receipt, _table, _form]

# ---------------------------------------------------------------------------- the sets

_PLAN: list[tuple[str, Maker, int]] = [
    ("columns-en", _columns_en, 6),
    ("columns-zh", _columns_zh, 6),
    ("columns-3", _columns_3, 5),
    ("newspaper", _newspaper, 6),
    ("receipt", _receipt, 8),
    ("table", _table, 8),
    ("form", _form, 8),
    ("vertical", _vertical, 3),
    ("rotated", _rotated, 9),
    ("photo", _photo, 10),
]
_SPLITS = {"test": (TEST, 14_000, 1), "dev": (DEV, 91_000, 3)}


def render_pages(split: str = "test") -> list[Sample]:
    """The bench pages of ``split`` ("test": held out; "dev": for tuning, a third as many)."""
    pool, seed, every = _SPLITS[split]
    samples = []
    for kind, make, count in _PLAN:
        for n in range(max(1, count // every)):
            rng = random.Random(f"{seed}-{kind}-{n}")
            image, truth = make(rng, pool)
            samples.append(Sample(f"{kind}-{n:02d}", kind, image, tuple(truth)))
    return samples


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m bench.ocr_pages OUTDIR [test|dev]")
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    labels = {}
    for sample in render_pages(sys.argv[2] if len(sys.argv) == 3 else "test"):
        sample.image.save(out / f"{sample.name}.png")
        labels[sample.name] = {"kind": sample.kind, "lines": list(sample.lines)}
    (out / "labels.json").write_text(json.dumps(labels, ensure_ascii=False, indent=1), "utf-8")
    print(f"wrote {len(labels)} images and labels.json to {out}")


if __name__ == "__main__":
    main()
