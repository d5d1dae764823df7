"""The SymPy side: turn a checked :class:`~tools.mathsolve.guard.Plan` into exact results.

This module runs inside the math worker process (see :mod:`kanjian.tools.mathsolve.worker`), where a
runaway computation can be killed. It imports SymPy at the top on purpose: nothing in the
main process imports it. Expressions are parsed with ``parse_expr`` against a namespace that
holds only the whitelisted SymPy names (and no builtins), after the guard has checked every
token; LaTeX goes through SymPy's ANTLR parser.

Before anything is evaluated the expression is parsed once unevaluated and its integer
powers and factorials are sized: ``9**9**9**9`` is refused at once as far too large
instead of running into the time limit.
"""

from __future__ import annotations

import math
import re
from typing import Any

import sympy
from sympy.parsing.sympy_parser import (
    convert_xor,
    function_exponentiation,
    implicit_application,
    implicit_multiplication,
    parse_expr,
    rationalize,
    standard_transformations,
)

from kanjian.tools.mathsolve.guard import ALIASES, CONSTANTS, FUNCTIONS

__all__ = ["MathInputError", "compute"]

# Results (and intermediate integers) beyond this many digits are refused, not computed.
MAX_DIGITS = 20_000
MAX_RESULT_CHARS = 20_000
_NUMERIC_DIGITS = 15

_TRANSFORMS = (
    *standard_transformations,
    implicit_multiplication,
    implicit_application,
    function_exponentiation,
    convert_xor,
    # Decimals are exact: 0.1 + 0.2 is 3/10.
    rationalize,
)
_UNEVALUATED_KINDS: dict[type, str] = {
    sympy.Derivative: "diff",
    sympy.Integral: "integrate",
    sympy.Limit: "limit",
    sympy.Sum: "sum",
    sympy.Product: "sum",
}


class MathInputError(ValueError):
    """The expression parsed but cannot be computed; the message is for the user."""


def _namespace() -> dict[str, Any]:
    names: dict[str, Any] = {"__builtins__": {}}
    # What parse_expr's generated code refers to (auto_number, auto_symbol, factorial_notation).
    # Add/Mul/Pow are what evaluate=False rewrites the operators into (for the size check).
    helpers = (
        "Integer",
        "Float",
        "Rational",
        "Symbol",
        "Function",
        "factorial",
        "Add",
        "Mul",
        "Pow",
    )
    for helper in helpers:
        names[helper] = getattr(sympy, helper)
    for name in FUNCTIONS:
        names[name] = getattr(sympy, name)
    for alias, target in ALIASES.items():
        names[alias] = getattr(sympy, target)
    for name, target in CONSTANTS.items():
        names[name] = getattr(sympy, target)
    return names


_NAMESPACE = _namespace()


# ---------------------------------------------------------------------------- parsing


def _parse(text: str, syntax: str, *, evaluate: bool = True) -> Any:
    if syntax == "latex":
        return _parse_latex(text)
    # parse_expr may add names to the dicts it is given: hand it copies.
    return parse_expr(
        text,
        local_dict={},
        global_dict=dict(_NAMESPACE),
        transformations=_TRANSFORMS,
        evaluate=evaluate,
    )


def _parse_latex(text: str) -> Any:
    from sympy.parsing.latex import parse_latex

    expr = parse_latex(text)
    # The LaTeX parser reads \pi, e and i as plain symbols; i only means the imaginary unit
    # where it is free (not the index of a sum).
    constants = {
        sympy.Symbol("pi"): sympy.pi,
        sympy.Symbol("e"): sympy.E,
        sympy.Symbol("i"): sympy.I,
    }
    return expr.subs(
        {name: value for name, value in constants.items() if name in expr.free_symbols}
    )


def _size_check(text: str, syntax: str) -> None:
    """Refuse integer powers and factorials whose results would be astronomically large."""
    if syntax == "latex":
        tree = _parse_latex(text)
    else:
        try:
            tree = _parse(text, syntax, evaluate=False)
        except Exception:
            return  # the evaluated parse below reports the problem (or the time limit does)
    for node in sympy.preorder_traversal(tree):
        digits = _digits(node)
        if digits is not None and digits > MAX_DIGITS:
            raise MathInputError(
                f"{sympy.sstr(node)[:40]} would have about {_about(digits)} digits and the limit "
                f"is {MAX_DIGITS}; use smaller numbers or ask for a logarithm"
            )


def _digits(node: Any) -> float | None:
    """Decimal digits of an integer-valued power or factorial node, estimated from logs."""
    log10 = _log10_bound(node)
    return None if log10 is None else log10 + 1


def _log10_bound(node: Any) -> float | None:
    """An estimate of log10(|node|) for integer-valued arithmetic, else None."""
    if isinstance(node, sympy.Rational):
        return max(_log10_int(node.p), _log10_int(node.q))
    if isinstance(node, sympy.Pow):
        base, exp = _log10_bound(node.base), _value_bound(node.exp)
        return None if base is None or exp is None else base * exp
    if isinstance(node, sympy.factorial):
        n = _value_bound(node.args[0])
        if n is None or n < 2:
            return None
        return n * math.log10(n / math.e) + 0.5 * math.log10(2 * math.pi * n)
    if isinstance(node, (sympy.Mul, sympy.Add)):
        logs = [_log10_bound(arg) for arg in node.args]
        if any(log is None for log in logs):
            return None
        known = [log for log in logs if log is not None]
        # A product adds logs; a sum is at most len(args) times its largest term.
        return sum(known) if isinstance(node, sympy.Mul) else max(known) + math.log10(len(known))
    return None


def _log10_int(value: int) -> float:
    return math.log10(abs(value)) if value else 0.0


def _value_bound(node: Any) -> float | None:
    """|node| as a float (inf when too large to hold), for integer-valued nodes only."""
    log10 = _log10_bound(node)
    if log10 is None:
        return None
    return math.inf if log10 > 300 else 10**log10


def _about(digits: float) -> str:
    return "10^300 or more" if math.isinf(digits) else f"{digits:.3g}"


# ---------------------------------------------------------------------------- computing


def compute(request: dict[str, Any]) -> dict[str, Any]:
    """Run one plan (``Plan.to_json()``); a dict with result, numeric, latex and kind."""
    syntax, kind = request["syntax"], request["kind"]
    if request["equations"]:
        for left, right in request["equations"]:
            _size_check(left, syntax)
            _size_check(right, syntax)
        return _solve_equations([tuple(pair) for pair in request["equations"]], syntax)
    (text,) = request["parts"]
    _size_check(text, syntax)
    value = _parse(text, syntax)
    return _finish(value, kind)


def _finish(value: Any, kind: str | None) -> dict[str, Any]:
    if isinstance(value, (list, tuple, dict)):
        return _render(value, kind or "solve")
    if not isinstance(value, sympy.Basic):
        raise MathInputError(f"the result {value!r} is not a SymPy expression")
    if isinstance(value, sympy.Equality):
        return _solve_relations([value])
    if kind is None:
        kind = _UNEVALUATED_KINDS.get(type(value))
    value = value.doit()
    if kind is None:
        # No operation was asked for: show the simplest exact form.
        kind = "simplify" if value.free_symbols else "evaluate"
        if not value.is_Atom:
            value = sympy.simplify(value)
    return _render(value, kind)


def _solve_equations(equations: list[tuple[str, str]], syntax: str) -> dict[str, Any]:
    relations = []
    for left, right in equations:
        lhs, rhs = _parse(left, syntax), _parse(right, syntax)
        relations.append(sympy.Eq(lhs, rhs, evaluate=False))
    return _solve_relations(relations)


def _solve_relations(relations: list[Any]) -> dict[str, Any]:
    unknowns = sorted(set().union(*(rel.free_symbols for rel in relations)), key=_symbol_order)
    if not unknowns:
        truth = all(bool(sympy.simplify(rel.lhs - rel.rhs) == 0) for rel in relations)
        return _render(sympy.true if truth else sympy.false, "solve")
    exprs = [rel.lhs - rel.rhs for rel in relations]
    if len(exprs) == 1:
        return _render(sympy.solve(exprs[0], unknowns[0]), "solve")
    solutions = sympy.solve(exprs, unknowns, dict=True)
    if len(solutions) == 1:
        return _render(solutions[0], "solve")
    return _render(solutions, "solve")


def _symbol_order(symbol: Any) -> tuple[int, str]:
    # x, y, z first (the usual unknowns), then the rest by name.
    preferred = {"x": 0, "y": 1, "z": 2}
    return (preferred.get(symbol.name, 3), symbol.name)


# ---------------------------------------------------------------------------- rendering


def _render(value: Any, kind: str) -> dict[str, Any]:
    result = _exact(value)
    if len(result) > MAX_RESULT_CHARS:
        raise MathInputError(
            f"the result has {len(result)} characters and the limit is {MAX_RESULT_CHARS}; "
            "ask for something smaller"
        )
    return {"result": result, "numeric": _numeric(value), "latex": _latex(value), "kind": kind}


def _exact(value: Any) -> str:
    if isinstance(value, dict):
        keys = sorted(
            value, key=lambda k: _symbol_order(k) if isinstance(k, sympy.Symbol) else (9, str(k))
        )
        return "{" + ", ".join(f"{sympy.sstr(k)}: {_exact(value[k])}" for k in keys) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_exact(item) for item in value) + "]"
    return str(sympy.sstr(value))


def _numeric(value: Any) -> str | None:
    if isinstance(value, dict):
        parts = {k: _numeric(v) for k, v in value.items()}
        if any(v is None for v in parts.values()):
            return None
        keys = sorted(
            parts, key=lambda k: _symbol_order(k) if isinstance(k, sympy.Symbol) else (9, str(k))
        )
        return "{" + ", ".join(f"{sympy.sstr(k)}: {parts[k]}" for k in keys) + "}"
    if isinstance(value, (list, tuple)):
        items = [_numeric(item) for item in value]
        return None if any(item is None for item in items) else "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
    if not isinstance(value, sympy.Expr) or not value.is_number:
        return None
    if isinstance(value, sympy.Integer) and len(str(abs(int(value)))) <= _NUMERIC_DIGITS:
        return str(int(value))
    number = value.evalf(_NUMERIC_DIGITS)
    if not number.is_number or number.has(sympy.zoo, sympy.nan):
        return None
    return _trim(sympy.sstr(number))


_TRAILING_ZEROS = re.compile(r"(\d+\.(?:\d*[1-9])?)0+(?!\d)")


def _trim(text: str) -> str:
    """Drop trailing zeros of every decimal: '13.5000000000000' -> '13.5', '2.000' -> '2.0'."""

    def keep(match: re.Match[str]) -> str:
        digits = match.group(1)
        return digits + "0" if digits.endswith(".") else digits

    return _TRAILING_ZEROS.sub(keep, text)


def _latex(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{sympy.latex(k)} = {sympy.latex(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_latex(item) for item in value)
    return str(sympy.latex(value))
