"""The math worker process: ``python -m tools.mathsolve.worker``.

It reads one JSON request per line on stdin (a checked plan) and writes one JSON reply per
line on stdout: ``{"ok": true, "value": {...}}`` or ``{"ok": false, "error": "..."}``. The
parent kills it when a computation runs past its time limit and starts a fresh one, so
nothing here needs to be interruptible. Its address space is capped, so a computation
that would fill memory fails with MemoryError (reported) instead of swapping the machine.
"""

from __future__ import annotations

import json
import sys
from typing import Any

# Room for Python, SymPy and the ANTLR LaTeX parser (~250 MB) plus working space.
_MEMORY_LIMIT = 1 << 30


def _cap_memory() -> None:
    try:
        import resource
    except ImportError:  # not on POSIX: the time limit still applies
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _MEMORY_LIMIT if hard == resource.RLIM_INFINITY else min(_MEMORY_LIMIT, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _handle(line: str) -> dict[str, Any]:
    from kanjian.tools.mathsolve.engine import MathInputError, compute

    try:
        return {"ok": True, "value": compute(json.loads(line))}
    except MathInputError as exc:
        return {"ok": False, "error": str(exc)}
    except MemoryError:
        return {"ok": False, "error": "it needs more memory than the math tool allows"}
    except RecursionError:
        return {"ok": False, "error": "it is nested too deeply for SymPy"}
    except Exception as exc:
        # SymPy's own errors (bad LaTeX, unsolvable forms, type errors) are about the input.
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return {"ok": False, "error": f"SymPy could not compute it ({detail[:200]})"}


def main() -> None:
    _cap_memory()
    # Import the heavy parts before saying ready, so their cost is not charged to a request.
    import sympy.parsing.latex  # noqa: F401

    import kanjian.tools.mathsolve.engine  # noqa: F401

    out = sys.stdout
    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin:
        out.write(json.dumps(_handle(line)) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
