"""InternVL's grounding format: the prompt, the constraining regex, the parser, box frames.

InternVL 1.5 grounds natively. Asked with :func:`grounding_prompt`, it answers
``<ref>phrase</ref><box>[[x1, y1, x2, y2]]</box>``, several boxes per ref as
``[[..], [..]]``, with coordinates normalised to 0–1000 of the image it saw. The server can be
held to that shape with :data:`GROUNDING_REGEX` (a top-level ``regex`` in the request; SGLang
compiles it with xgrammar), but an unconstrained model, or one cut off by ``max_tokens``, still
writes close variants, so :func:`parse_grounding` is lenient: it keeps every complete box and
drops what is partial.

Frames: ``box_norm`` is ``(x1, y1, x2, y2)`` in 0–1000 of the referenced image; pixel boxes are
``(x1, y1, x2, y2)`` edges in ``[0, width] x [0, height]``. :func:`map_from_crop` carries a box
found in a zoom crop back into the image the crop was cut from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "GROUNDING_PROMPT",
    "GROUNDING_REGEX",
    "Box",
    "GroundedBox",
    "grounding_prompt",
    "grounding_regex",
    "map_from_crop",
    "norm_to_pixels",
    "parse_grounding",
    "pixels_to_norm",
]

Box: TypeAlias = tuple[int, int, int, int]

NORM_MAX = 1000

GROUNDING_PROMPT = (
    "Please provide the bounding box coordinate of the region this sentence describes: "
    "<ref>{phrase}</ref>"
)


def grounding_prompt(phrase: str) -> str:
    """The prompt InternVL was trained to answer with ``<ref>..</ref><box>..</box>``."""
    return GROUNDING_PROMPT.format(phrase=phrase)


# The regex is written in the subset that both xgrammar (SGLang's default grammar backend) and
# Python's ``re`` read the same way, so the tests can check one against the other.
_NUM = r"(?:1000|[1-9][0-9]{0,2}|0)"
_QUAD = rf"\[{_NUM}, {_NUM}, {_NUM}, {_NUM}\]"
_BOXES = rf"<box>\[{_QUAD}(?:, {_QUAD})*\]</box>"
# A free label: anything but tag brackets and newlines, bounded so a runaway model stops.
_FREE_LABEL = r"[^<>\n]{1,200}"
_REGEX_SPECIALS = frozenset("\\.^$*+?{}[]()|/-")


def _ref_group(label_regex: str) -> str:
    return rf"<ref>{label_regex}</ref>{_BOXES}"


def _grounding_regex_for(label_regex: str) -> str:
    group = _ref_group(label_regex)
    # Several refs may follow one another, each optionally on its own line.
    return rf"{group}(?:\n?{group})*"


def _escape_literal(text: str) -> str:
    # re.escape also escapes spaces and '<', which xgrammar warns about; escape only what the
    # two dialects treat as syntax.
    return "".join("\\" + ch if ch in _REGEX_SPECIALS else ch for ch in text)


GROUNDING_REGEX = _grounding_regex_for(_FREE_LABEL)


def grounding_regex(phrase: str | None = None) -> str:
    """The output regex; with ``phrase``, every ref must repeat it verbatim."""
    if phrase is None or not phrase.strip():
        return GROUNDING_REGEX
    return _grounding_regex_for(_escape_literal(phrase.replace("\n", " ")))


@dataclass(frozen=True, slots=True)
class GroundedBox:
    """One box the model found: its label and ``(x1, y1, x2, y2)`` in the 0–1000 frame."""

    label: str
    box_norm: Box

    def to_pixels(self, width: int, height: int) -> Box:
        return norm_to_pixels(self.box_norm, width, height)


_NUMBER = r"\s*(-?\d+(?:\.\d+)?)\s*"
_TOKEN = re.compile(
    r"<ref>(?P<ref>.*?)</ref>"
    r"|(?P<open><box>)"
    r"|(?P<close></box>)"
    rf"|\[{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}\]",
    re.DOTALL,
)


def parse_grounding(text: str, default_label: str = "") -> list[GroundedBox]:
    """Every complete box in ``text``, labelled with the ref before it.

    Boxes before any ref take ``default_label`` (pass the query). Coordinates are clamped to
    0–1000 and ordered so that ``x1 <= x2`` and ``y1 <= y2``. A truncated tail (an unclosed
    ``<ref>``, half a quadruple) is dropped; complete quadruples inside an unclosed ``<box>``
    are kept. Bare ``[x1, y1, x2, y2]`` outside ``<box>`` count only when the text has no
    ``<box>`` at all, so a model that forgot the tags is still understood while numbers in
    surrounding prose are not mistaken for boxes.
    """
    has_box_tags = "<box>" in text
    label = default_label.strip()
    inside_box = False
    found: list[GroundedBox] = []
    for match in _TOKEN.finditer(text):
        if match.group("ref") is not None:
            label = match.group("ref").strip()
        elif match.group("open"):
            inside_box = True
        elif match.group("close"):
            inside_box = False
        elif inside_box or not has_box_tags:
            quad = (match.group(4), match.group(5), match.group(6), match.group(7))
            found.append(GroundedBox(label, _normalise_quad(quad)))
    return found


def _clamp(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def _normalise_quad(quad: tuple[str, str, str, str]) -> Box:
    x1, y1, x2, y2 = (_clamp(float(v), 0, NORM_MAX) for v in quad)
    return _ordered(x1, y1, x2, y2)


def _ordered(x1: int, y1: int, x2: int, y2: int) -> Box:
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def _check_size(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ValueError(
            f"Image size {(width, height)!r} must be positive in both dimensions; "
            "pass the size of the image the box refers to."
        )


def norm_to_pixels(box_norm: Box, width: int, height: int) -> Box:
    """A 0–1000 box in pixel edges of a ``width`` x ``height`` image (clamped, ordered)."""
    _check_size(width, height)
    x1, y1, x2, y2 = box_norm
    return _ordered(
        _clamp(x1 * width / NORM_MAX, 0, width),
        _clamp(y1 * height / NORM_MAX, 0, height),
        _clamp(x2 * width / NORM_MAX, 0, width),
        _clamp(y2 * height / NORM_MAX, 0, height),
    )


def pixels_to_norm(box_px: Box, width: int, height: int) -> Box:
    """A pixel box of a ``width`` x ``height`` image in the 0–1000 frame (clamped, ordered).

    The 0–1000 frame has a finite grain: a pixel→norm→pixel round trip is exact to within
    ``0.5 + size / 2000`` px, so within 1 px up to 1000 px and one norm step beyond.
    """
    _check_size(width, height)
    x1, y1, x2, y2 = box_px
    return _ordered(
        _clamp(x1 * NORM_MAX / width, 0, NORM_MAX),
        _clamp(y1 * NORM_MAX / height, 0, NORM_MAX),
        _clamp(x2 * NORM_MAX / width, 0, NORM_MAX),
        _clamp(y2 * NORM_MAX / height, 0, NORM_MAX),
    )


def map_from_crop(
    box_px_in_crop: Box, crop_px: Box, crop_size: tuple[int, int] | None = None
) -> Box:
    """Carry a pixel box found in a crop back into the parent image's pixels.

    ``crop_px`` is where the crop was cut from the parent. If the crop image was resized
    afterwards (a zoom that upsamples), pass its size as ``crop_size`` so the box is scaled
    back; the result is clamped to the crop's rectangle.
    """
    cx1, cy1, cx2, cy2 = crop_px
    crop_w, crop_h = cx2 - cx1, cy2 - cy1
    if crop_w <= 0 or crop_h <= 0:
        raise ValueError(f"Crop box {crop_px!r} has no area; it must satisfy x1 < x2 and y1 < y2.")
    seen_w, seen_h = crop_size if crop_size is not None else (crop_w, crop_h)
    _check_size(seen_w, seen_h)
    sx, sy = crop_w / seen_w, crop_h / seen_h
    x1, y1, x2, y2 = box_px_in_crop
    return _ordered(
        _clamp(cx1 + x1 * sx, cx1, cx2),
        _clamp(cy1 + y1 * sy, cy1, cy2),
        _clamp(cx1 + x2 * sx, cx1, cx2),
        _clamp(cy1 + y2 * sy, cy1, cy2),
    )
