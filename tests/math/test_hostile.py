"""Hostile input to tools.mathsolve: a clear error, quickly, and no side effect."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from kanjian.tools.errors import ToolError, ToolInputError, ToolTimeout
from kanjian.tools.mathsolve import solve_math

# Generous: these must fail in well under the 2 s default; this only catches hangs.
_HANG = 5.0


def _refused(expression: str, match: str, *, timeout: float = 2.0) -> ToolError:
    started = time.perf_counter()
    with pytest.raises(ToolError, match=match) as info:
        solve_math(expression, timeout=timeout)
    assert time.perf_counter() - started < _HANG
    message = str(info.value)
    assert message.startswith("Cannot evaluate ") and message.endswith(".")
    assert "\n" not in message and "Traceback" not in message
    return info.value


def test_import_and_system_call_is_refused_and_creates_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    error = _refused("__import__('os').system('touch x')", "attribute access and imports")
    assert isinstance(error, ToolInputError)
    assert str(error) == (
        "Cannot evaluate \"__import__('os').system('touch x')\": "
        "attribute access and imports are not allowed."
    )
    assert list(work.iterdir()) == []


@pytest.mark.parametrize(
    ("expression", "match"),
    [
        ("().__class__.__bases__", "attribute access"),
        ("().__class__.__bases__[0].__subclasses__()", "attribute access"),
        ("x.subs(x, 1)", "attribute access"),
        ("__builtins__", "attribute access"),
        ("import os", "attribute access and imports"),
        ("lambda: 1", "attribute access and imports"),
        ("eval('1+1')", "'eval' is not an allowed function"),
        ("exec('import os')", "'exec' is not an allowed function"),
        ("open('f', 'w')", "'open' is not an allowed function"),
        ("getattr(x, 'y')", "'getattr' is not an allowed function"),
        ("Symbol('x')", "'Symbol' is not an allowed function"),
        ("'abc'", "strings are not allowed"),
        ("x[0]", "subscripts are not allowed"),
        ("(1, 2)[0]", "subscripts are not allowed"),
        ("{1: 2}", "operator '{'"),
        ("1 if x else 2", "keyword 'if'"),
        ("[x for x in y]", "keyword 'for'"),
        ("x @ y", "operator '@'"),
        ("x := 1", "operator ':'"),
        ("0x1f + 1j", "not a plain decimal"),
        ("f(x)", "'f' is not an allowed function"),
    ],
)
def test_code_is_refused_before_sympy_sees_it(expression: str, match: str) -> None:
    assert isinstance(_refused(expression, match), ToolInputError)


def test_power_tower_is_refused_at_once() -> None:
    error = _refused("9**9**9**9", r"would have about 10\^300 or more digits")
    assert isinstance(error, ToolInputError)


@pytest.mark.parametrize(
    "expression",
    ["10**10**10", "2^(10^10)", "factorial(10**9)", "(10**6)!", "2**(-10**10)", r"2^{10^{10}}"],
)
def test_huge_integers_are_refused_by_size(expression: str) -> None:
    assert isinstance(_refused(expression, "digits and the limit is"), ToolInputError)


def test_ten_thousand_nested_parentheses_is_a_clear_error() -> None:
    expression = "(" * 10_000 + "1" + ")" * 10_000
    error = _refused(expression, "characters long and the limit is 2000")
    assert isinstance(error, ToolInputError)


def test_deep_nesting_within_the_length_limit_is_a_clear_error() -> None:
    expression = "(" * 500 + "1" + ")" * 500
    assert isinstance(_refused(expression, "nested 500 deep and the limit is 64"), ToolInputError)


def test_empty_expression() -> None:
    with pytest.raises(ToolInputError, match="The expression is empty"):
        solve_math("   ")


def test_slow_computation_times_out_and_the_next_call_works() -> None:
    # Passes every static check but takes SymPy far longer than the limit.
    error = _refused(
        "expand((a + b + c + d + e1 + f + g)**40)", r"did not finish within 0.3 s", timeout=0.3
    )
    assert isinstance(error, ToolTimeout)
    assert solve_math("1 + 1").result == "2"


def test_sympy_errors_become_one_sentence() -> None:
    error = _refused(r"\frac{1}{", "")
    assert isinstance(error, ToolInputError)


@pytest.mark.parametrize("timeout", [0, -1, 1000])
def test_timeout_out_of_range(timeout: float) -> None:
    with pytest.raises(ToolInputError, match="is out of range"):
        solve_math("1", timeout=timeout)


def test_worker_killed_from_outside_is_replaced() -> None:
    from kanjian.tools.mathsolve.process import MathWorker

    worker = MathWorker()
    try:
        worker.start()
        first = worker.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        reply = worker.call(
            {"syntax": "sympy", "kind": None, "parts": ["6*7"], "equations": []}, 5.0
        )
        assert reply == {
            "ok": True,
            "value": {"result": "42", "numeric": "42", "latex": "42", "kind": "evaluate"},
        }
        assert worker.pid not in (None, first)
    finally:
        worker.close()
    assert worker.pid is None
