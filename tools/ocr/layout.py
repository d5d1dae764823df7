"""Reading order: columns, blocks and rows from the detected line boxes, as a person reads.

The page's skew is measured from the lines' top edges and undone (up to ±17°), so every line
becomes an upright box. Then, XY-cut style and recursively:

1. **Columns**: gaps in the x-projection of the boxes split a region into columns when each
   side looks like running text (several lines, most of them filling the column's width, lines
   long against their height). A receipt's prices or a form's values are narrow or ragged, so
   they stay beside their item or label instead of becoming a column.
2. **Bands**: when a region has no columns as a whole, a horizontal cut (a y-gap no box
   crosses) that leaves columns below (a headline above newspaper columns) or above (a footer)
   splits it, and both parts are laid out again.
3. **Rows**: what is left is read row by row (lines overlapping vertically), left to right.
   Runs of single-line rows form a paragraph; a run of rows with three or more aligned pieces
   is a table (cells joined by `` | ``); any other multi-piece row (item and price, label and
   value) is a row block, its pieces joined by a space.

Vertical Chinese (most boxes tall and narrow) is read column by column, right to left, each
top to bottom.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Block", "Piece", "layout", "skew"]

Quad = Sequence[tuple[float, float]]
# Skew beyond this is not a tilted page but text set at an angle: reading order uses the
# boxes as they are.
_MAX_SKEW = math.radians(17)
# Two boxes are in one row when their vertical overlap covers this much of the shorter.
_ROW_OVERLAP = 0.5
# A column of running text: lines at least this many times as long as they are high ...
_COLUMN_ASPECT = 7.0
# ... and at least this share of them filling 70 % of the column's width (paragraph ends and
# short paragraphs are not).
_COLUMN_FILL = 0.45
_COLUMN_MIN_LINES = 2
# A table: this many consecutive rows with at least three pieces each.
_TABLE_MIN_ROWS = 2
_TABLE_MIN_CELLS = 3


@dataclass(frozen=True, slots=True)
class Piece:
    """One detected line in the de-skewed frame; ``index`` is its place in the engine's output."""

    index: int
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def cy(self) -> float:
        return (self.y1 + self.y2) / 2


@dataclass(frozen=True, slots=True)
class Block:
    """Lines read together: ``rows`` of engine indices, each row left to right."""

    kind: str  # "paragraph", "row" or "table"
    rows: tuple[tuple[int, ...], ...]


def skew(quads: Sequence[Quad]) -> float:
    """The page's skew in radians: the length-weighted median angle of the lines' top edges."""
    angles: list[tuple[float, float]] = []
    for quad in quads:
        (x0, y0), (x1, y1) = quad[0], quad[1]
        length = math.hypot(x1 - x0, y1 - y0)
        if length > 0 and x1 > x0:
            angles.append((math.atan2(y1 - y0, x1 - x0), length))
    if not angles:
        return 0.0
    angles.sort()
    half = sum(weight for _, weight in angles) / 2
    running = 0.0
    for angle, weight in angles:
        running += weight
        if running >= half:
            return angle if abs(angle) <= _MAX_SKEW else 0.0
    return 0.0


def layout(quads: Sequence[Quad], texts: Sequence[str]) -> list[Block]:
    """The blocks of a page in reading order; every index of ``quads`` appears exactly once."""
    if not quads:
        return []
    angle = skew(quads)
    pieces = [_upright(i, quad, angle) for i, quad in enumerate(quads)]
    if _is_vertical(pieces, texts):
        return [Block("paragraph", tuple((i,) for i in _vertical_order(pieces)))]
    height = statistics.median(p.height for p in pieces)
    blocks: list[Block] = []
    for region in _segment(pieces, height):
        blocks.extend(_blocks(_rows(region)))
    return blocks


def _upright(index: int, quad: Quad, angle: float) -> Piece:
    """``quad``'s bounding box after turning the page by ``-angle``."""
    cos, sin = math.cos(angle), math.sin(angle)
    xs = [x * cos + y * sin for x, y in quad]
    ys = [-x * sin + y * cos for x, y in quad]
    return Piece(index, min(xs), min(ys), max(xs), max(ys))


# ---------------------------------------------------------------------------- vertical text


def _is_vertical(pieces: list[Piece], texts: Sequence[str]) -> bool:
    """Most lines are tall, narrow and Chinese: a page written in columns."""
    tall = [
        p
        for p in pieces
        if p.height >= 2 * p.width and len(texts[p.index]) >= 2 and _cjk(texts[p.index])
    ]
    return len(tall) >= 2 and len(tall) >= 0.6 * len(pieces)


def _cjk(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in text)


def _vertical_order(pieces: list[Piece]) -> list[int]:
    """Columns (overlapping in x) right to left, each top to bottom."""
    columns: list[list[Piece]] = []
    for piece in sorted(pieces, key=lambda p: -(p.x1 + p.x2)):
        for column in columns:
            left = max(c.x1 for c in column)
            right = min(c.x2 for c in column)
            overlap = min(right, piece.x2) - max(left, piece.x1)
            if overlap > 0.5 * min(piece.width, right - left):
                column.append(piece)
                break
        else:
            columns.append([piece])
    return [p.index for column in columns for p in sorted(column, key=lambda p: p.y1)]


# ---------------------------------------------------------------------------- XY-cut


def _segment(pieces: list[Piece], height: float) -> list[list[Piece]]:
    """Regions in reading order: columns left to right, bands top to bottom, recursively."""
    if len(pieces) < 2 * _COLUMN_MIN_LINES:
        return [pieces]
    columns = _columns(pieces, height)
    if columns is not None:
        return [region for column in columns for region in _segment(column, height)]
    cuts = _horizontal_cuts(pieces)
    # The first cut from the top with columns below it (under a headline), else the last
    # with columns above it (over a footer).
    for cut in cuts:
        below = [p for p in pieces if p.y1 >= cut]
        if _columns(below, height) is not None:
            above = [p for p in pieces if p.y1 < cut]
            return _segment(above, height) + _segment(below, height)
    for cut in reversed(cuts):
        above = [p for p in pieces if p.y1 < cut]
        if _columns(above, height) is not None:
            below = [p for p in pieces if p.y1 >= cut]
            return _segment(above, height) + _segment(below, height)
    return [pieces]


def _horizontal_cuts(pieces: list[Piece]) -> list[float]:
    """y positions between lines that no box crosses, top to bottom."""
    cuts = []
    ordered = sorted(pieces, key=lambda p: p.y1)
    bottom = ordered[0].y2
    for piece in ordered[1:]:
        if piece.y1 >= bottom:
            cuts.append((bottom + piece.y1) / 2)
        bottom = max(bottom, piece.y2)
    return cuts


def _columns(pieces: list[Piece], height: float) -> list[list[Piece]] | None:
    """The pieces split at x-gaps into columns of running text, or None if they are not."""
    if len(pieces) < 2 * _COLUMN_MIN_LINES:
        return None
    gaps = _x_gaps(pieces, min_width=0.5 * height)
    while gaps:
        parts = _split_at(pieces, gaps)
        bad = next((n for n, part in enumerate(parts) if not _is_text_column(part, height)), None)
        if bad is None:
            return parts
        # Merge the failing part with a neighbour: drop the gap beside it (the narrower one).
        if bad == 0:
            gaps.pop(0)
        elif bad == len(parts) - 1:
            gaps.pop()
        else:
            left, right = gaps[bad - 1], gaps[bad]
            gaps.remove(left if left[1] - left[0] < right[1] - right[0] else right)
    return None


def _x_gaps(pieces: list[Piece], min_width: float) -> list[tuple[float, float]]:
    """Stretches of x that no box covers, at least ``min_width`` wide, left to right."""
    gaps = []
    ordered = sorted(pieces, key=lambda p: p.x1)
    right = ordered[0].x2
    for piece in ordered[1:]:
        if piece.x1 - right >= min_width:
            gaps.append((right, piece.x1))
        right = max(right, piece.x2)
    return gaps


def _split_at(pieces: list[Piece], gaps: list[tuple[float, float]]) -> list[list[Piece]]:
    parts: list[list[Piece]] = [[] for _ in range(len(gaps) + 1)]
    for piece in pieces:
        parts[sum(1 for start, _ in gaps if piece.x1 >= start)].append(piece)
    return parts


def _is_text_column(part: list[Piece], height: float) -> bool:
    if len(part) < _COLUMN_MIN_LINES:
        return False
    left = min(p.x1 for p in part)
    width = max(p.x2 for p in part) - left
    if statistics.median(p.width for p in part) < _COLUMN_ASPECT * height:
        return False
    full = sum(1 for p in part if p.width >= 0.7 * width)
    return full >= _COLUMN_FILL * len(part)


# ---------------------------------------------------------------------------- rows, blocks


def _rows(pieces: list[Piece]) -> list[list[Piece]]:
    """Rows top to bottom (by vertical overlap), each left to right."""
    rows: list[list[Piece]] = []
    for piece in sorted(pieces, key=lambda p: p.cy):
        row = _find_row(rows, piece)
        if row is None:
            rows.append([piece])
        else:
            row.append(piece)
    rows.sort(key=lambda row: statistics.median(p.cy for p in row))
    return [sorted(row, key=lambda p: p.x1) for row in rows]


def _find_row(rows: list[list[Piece]], piece: Piece) -> list[Piece] | None:
    best: list[Piece] | None = None
    best_overlap = 0.0
    for row in rows:
        top = statistics.median(p.y1 for p in row)
        bottom = statistics.median(p.y2 for p in row)
        overlap = min(piece.y2, bottom) - max(piece.y1, top)
        shorter = min(piece.height, bottom - top)
        if shorter > 0 and overlap / shorter >= _ROW_OVERLAP and overlap > best_overlap:
            best, best_overlap = row, overlap
    return best


def _blocks(rows: list[list[Piece]]) -> list[Block]:
    """Consecutive single-piece rows are a paragraph; runs of 3+ piece rows a table; else rows."""
    blocks: list[Block] = []
    run: list[list[Piece]] = []
    run_kind = ""
    for row in rows:
        kind = "paragraph" if len(row) == 1 else "table" if len(row) >= _TABLE_MIN_CELLS else "row"
        if run and kind != run_kind:
            blocks.extend(_close(run, run_kind))
            run = []
        run.append(row)
        run_kind = kind
    if run:
        blocks.extend(_close(run, run_kind))
    return blocks


def _close(run: list[list[Piece]], kind: str) -> list[Block]:
    indices = [tuple(p.index for p in row) for row in run]
    if kind == "paragraph":
        return [Block("paragraph", tuple(indices))]
    if kind == "table" and len(run) >= _TABLE_MIN_ROWS:
        return [Block("table", tuple(indices))]
    return [Block("row", (row,)) for row in indices]
