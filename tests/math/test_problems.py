"""tools.mathsolve is exact on problems of every kind, in SymPy syntax and in LaTeX."""

from __future__ import annotations

import pytest

from kanjian.tools.mathsolve import MathResult, asolve_math, solve_math

# (expression, exact result, kind)
PROBLEMS: list[tuple[str, str, str]] = [
    # fractions and exact arithmetic
    ("1/2 + 1/3", "5/6", "evaluate"),
    ("27/2", "27/2", "evaluate"),
    ("3/4 * 8/9 - 1/6", "1/2", "evaluate"),
    ("(2/3)^3", "8/27", "evaluate"),
    ("0.1 + 0.2", "3/10", "evaluate"),
    ("1.5 * 4", "6", "evaluate"),
    ("7 % 3", "1", "evaluate"),
    ("gcd(84, 36) + lcm(4, 6)", "24", "evaluate"),
    ("binomial(10, 3)", "120", "evaluate"),
    ("sqrt(8)", "2*sqrt(2)", "evaluate"),
    ("sqrt(2) * sqrt(18)", "6", "evaluate"),
    ("sin(pi/6) + cos(pi/3)", "1", "evaluate"),
    ("tan(pi/4)^2", "1", "evaluate"),
    ("log(E^3)", "3", "evaluate"),
    ("exp(I*pi)", "-1", "evaluate"),
    ("12 × 3 ÷ 4", "9", "evaluate"),
    # big integers stay exact
    ("2**100", "1267650600228229401496703205376", "evaluate"),
    ("2^64 - 1", "18446744073709551615", "evaluate"),
    ("25!", "15511210043330985984000000", "evaluate"),
    ("factorial(30) / factorial(28)", "870", "evaluate"),
    ("123456789 * 987654321", "121932631112635269", "evaluate"),
    # equations and systems
    ("x^2 = 4", "[-2, 2]", "solve"),
    ("2x + 3 = 7", "[2]", "solve"),
    ("x^2 - 5x + 6 = 0", "[2, 3]", "solve"),
    ("x^2 + 1 = 0", "[-I, I]", "solve"),
    ("x/3 + 1/2 = 2", "[9/2]", "solve"),
    ("x + y = 3; x - y = 1", "{x: 2, y: 1}", "solve"),
    ("2x + 3y = 12, x - y = 1", "{x: 3, y: 2}", "solve"),
    ("x + y + z = 6; x - y = 0; 2z = 6", "{x: 3/2, y: 3/2, z: 3}", "solve"),
    ("solve(x**3 - x, x)", "[-1, 0, 1]", "solve"),
    # derivatives
    ("diff(x^3, x)", "3*x**2", "diff"),
    ("diff(sin(x)*x, x)", "x*cos(x) + sin(x)", "diff"),
    ("diff(exp(2x), x, 2)", "4*exp(2*x)", "diff"),
    ("diff(log(x), x)", "1/x", "diff"),
    # integrals
    ("integrate(x^2, (x, 0, 1))", "1/3", "integrate"),
    ("integrate(2x, x)", "x**2", "integrate"),
    ("integrate(sin(x), (x, 0, pi))", "2", "integrate"),
    ("integrate(exp(-x), (x, 0, oo))", "1", "integrate"),
    # limits
    ("limit(sin(x)/x, x, 0)", "1", "limit"),
    ("limit((1 + 1/n)^n, n, oo)", "E", "limit"),
    ("limit((x^2 - 1)/(x - 1), x, 1)", "2", "limit"),
    # sums
    ("summation(k, (k, 1, 100))", "5050", "sum"),
    ("summation(k^2, (k, 1, 10))", "385", "sum"),
    ("Sum(1/k**2, (k, 1, oo))", "pi**2/6", "sum"),
    ("summation(1/2^k, (k, 0, oo))", "2", "sum"),
    # simplification
    ("factor(x^2 - 1)", "(x - 1)*(x + 1)", "simplify"),
    ("expand((x + 1)^3)", "x**3 + 3*x**2 + 3*x + 1", "simplify"),
    ("simplify(sin(x)^2 + cos(x)^2)", "1", "simplify"),
    ("(x^2 - 1)/(x - 1)", "x + 1", "simplify"),
    # LaTeX
    (r"\frac{1}{2}+\frac{1}{3}", "5/6", "evaluate"),
    (r"\frac{3}{4} \cdot \frac{2}{9}", "1/6", "evaluate"),
    (r"\sqrt{2}\cdot\sqrt{8}", "4", "evaluate"),
    (r"2^{10}", "1024", "evaluate"),
    (r"\int_0^1 x^2 dx", "1/3", "integrate"),
    (r"\int_0^{\pi} \sin x dx", "2", "integrate"),
    (r"\lim_{x\to 0} \frac{\sin x}{x}", "1", "limit"),
    (r"\sum_{k=1}^{10} k", "55", "sum"),
    (r"\frac{d}{dx} x^3", "3*x**2", "diff"),
    (r"\frac{x}{2} = 3", "[6]", "solve"),
    (r"x + y = 3; x - y = 1", "{x: 2, y: 1}", "solve"),
    (r"e^{i \pi}", "-1", "evaluate"),
]


@pytest.mark.parametrize(("expression", "expected", "kind"), PROBLEMS)
def test_exact_result(expression: str, expected: str, kind: str) -> None:
    result = solve_math(expression)
    assert (result.result, result.kind) == (expected, kind)
    assert result.input == expression


def test_there_are_at_least_forty_problems() -> None:
    assert len(PROBLEMS) >= 40


@pytest.mark.parametrize(
    ("expression", "numeric"),
    [
        ("27/2", "13.5"),
        ("1/3", "0.333333333333333"),
        ("sqrt(2)", "1.4142135623731"),
        ("2**100", "1.26765060022823e+30"),
        ("6", "6"),
        ("x^2 = 2", "[-1.4142135623731, 1.4142135623731]"),
        ("x + y = 3; x - y = 1", "{x: 2, y: 1}"),
    ],
)
def test_numeric_form(expression: str, numeric: str) -> None:
    assert solve_math(expression).numeric == numeric


def test_symbolic_results_have_no_numeric_form() -> None:
    result = solve_math("diff(x^3, x)")
    assert result.numeric is None
    assert result.latex == "3 x^{2}"


def test_latex_of_a_system_lists_each_unknown() -> None:
    assert solve_math("x + y = 3; x - y = 1").latex == "x = 2, y = 1"


async def test_asolve_math_runs_in_a_thread() -> None:
    result = await asolve_math("1/2 + 1/3")
    assert isinstance(result, MathResult)
    assert result.result == "5/6" and result.seconds >= 0
