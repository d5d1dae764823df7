"""Unknown LaTeX commands are refused by name, not read as a product of letters."""

from __future__ import annotations

import re

import pytest

from kanjian.tools.errors import ToolInputError
from kanjian.tools.mathsolve import solve_math
from kanjian.tools.mathsolve.guard import plan


@pytest.mark.parametrize(
    ("expression", "command"),
    [
        (r"\input{/etc/passwd}", "\\input"),
        (r"\immediate\write18{touch pwned}", "\\immediate"),
        (r"\frac{1}{2} + \write18{x}", "\\write"),
        (r"x^{2} \def\y{3}", "\\def"),
        ("\\frac{1}{2}\\", "\\"),
    ],
)
def test_unknown_latex_command_is_refused_naming_it_not_read_as_letters(
    expression: str, command: str
) -> None:
    said = re.escape(f"the LaTeX command '{command}' is not one of")
    with pytest.raises(ToolInputError, match=said):
        plan(expression)


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        (r"\frac{1}{2} + \frac{1}{3}", "5/6"),
        (r"\sqrt{2}\cdot\sqrt{2}", "2"),
        (r"\sum_{k=1}^{10} k", "55"),
        (r"\left(\alpha + 1\right)^{2} = 4", "[-3, 1]"),
        (r"\sin\left(\pi\right) + 1", "1"),
    ],
)
def test_latex_of_mathematics_still_solves(expression: str, result: str) -> None:
    assert solve_math(expression, timeout=20).result == result
