"""Text as people write it: single spaces, none between two CJK characters."""

from __future__ import annotations

import re

__all__ = ["normalise_text"]

_CJK = (
    r"\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31c0-\u31ef"
    r"\u3200-\u32ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
)
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])[ \t\u3000]+(?=[{_CJK}])")
_SPACES = re.compile(r"[ \t\u3000]+")


def normalise_text(text: str) -> str:
    """One line as people write it: single spaces, none between two CJK characters."""
    text = _SPACES.sub(" ", text.strip())
    return _SPACE_BETWEEN_CJK.sub("", text)
