"""Prompt data files for the action protocol, loaded with :mod:`importlib.resources`.

Kept as files, not strings in code, so that wording changes are reviewed as text and the
system prompt stays byte-identical from step to step (SGLang's prefix cache depends on it).
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

__all__ = ["load", "render"]

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@cache
def load(name: str) -> str:
    """The text of prompt file ``name`` (e.g. ``"system.md"``), final newline dropped."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8").rstrip("\n")


def render(prompt: str, /, **values: str) -> str:
    """Prompt file ``prompt`` with ``{key}`` placeholders filled; other braces stay as they are.

    ``str.format`` would trip over the literal JSON braces the prompts show the model.
    """
    text = load(prompt)
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
