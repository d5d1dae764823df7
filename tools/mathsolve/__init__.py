"""The math engine: exact answers from SymPy, with safe parsing and bounded time and size.

    >>> solve_math("1/2 + 1/3 + 2/3").result
    '3/2'

Input is SymPy syntax (``x^2 = 4``, ``diff(sin(x)*x, x)``, ``integrate(x^2, (x, 0, 1))``) or
LaTeX (``\\frac{1}{2}+\\frac{1}{3}``, ``\\int_0^1 x^2 dx``). An ``=`` means solve (several
equations separated by ``;`` or ``,`` make a system; the unknowns are inferred); an outer
``diff``/``integrate``/``limit``/``summation``/``simplify``/``factor``/``expand`` call names
the operation; anything else is evaluated exactly (numbers) or simplified (symbols).

Safety, in three layers: :mod:`~tools.mathsolve.guard` checks every token against a
whitelist before SymPy sees the text (no attribute access, dunders, imports, strings or
unknown callables; bounded length and nesting); :mod:`~tools.mathsolve.engine` sizes
integer powers and factorials before evaluating them; and all SymPy work runs in a
persistent worker process (:mod:`~tools.mathsolve.process`) that is killed when a call runs
past its time limit, with a memory cap of its own.

Errors: :class:`~tools.errors.ToolInputError` (one sentence) for refused or uncomputable
input; :class:`~tools.errors.ToolTimeout` when the time limit is hit.
"""

from __future__ import annotations

import atexit
import time
from dataclasses import dataclass

from kanjian.tools.errors import ToolInputError, ToolTimeout
from kanjian.tools.mathsolve.guard import Kind, plan
from kanjian.tools.mathsolve.process import MathWorker

__all__ = ["MathResult", "asolve_math", "solve_math", "warm_up"]

_MAX_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class MathResult:
    input: str
    # Exact, in SymPy syntax: "27/2", "[-2, 2]" for solutions, "{x: 1, y: 2}" for systems.
    result: str
    # The same to 15 significant digits, or None where it is not a number (symbols remain).
    numeric: str | None
    latex: str
    kind: Kind
    seconds: float


_worker = MathWorker()
atexit.register(_worker.close)


def warm_up() -> None:
    """Start the worker process (Python + SymPy, about a second) ahead of the first call."""
    _worker.start()


# ``timeout`` bounds SymPy's time in the worker (which is killed when it runs over), so it is
# not the caller-side cancellation that ASYNC109 asks to express with asyncio.timeout.
async def asolve_math(expression: str, *, timeout: float = 2.0) -> MathResult:  # noqa: ASYNC109
    """:func:`solve_math` in a worker thread, for the agent's event loop."""
    import asyncio

    return await asyncio.to_thread(solve_math, expression, timeout=timeout)


def solve_math(expression: str, *, timeout: float = 2.0) -> MathResult:
    """Compute ``expression`` exactly; at most ``timeout`` seconds of SymPy time."""
    if not 0 < timeout <= _MAX_TIMEOUT:
        raise ToolInputError(
            f"Timeout {timeout!r} is out of range; give seconds between 0 and {_MAX_TIMEOUT:g}."
        )
    started = time.perf_counter()
    checked = plan(expression)
    try:
        reply = _worker.call(checked.to_json(), timeout)
    except ToolTimeout as exc:
        raise ToolTimeout(
            f"Cannot evaluate {_show(expression)}: it did not finish within {timeout:g} s; "
            "try a smaller problem or a numeric approximation."
        ) from exc
    if not reply["ok"]:
        raise ToolInputError(f"Cannot evaluate {_show(expression)}: {reply['error']}.")
    value = reply["value"]
    return MathResult(
        input=expression,
        result=value["result"],
        numeric=value["numeric"],
        latex=value["latex"],
        kind=value["kind"],
        seconds=time.perf_counter() - started,
    )


def _show(expression: str) -> str:
    shown = expression.strip()
    return repr(shown if len(shown) <= 60 else shown[:57] + "...")
