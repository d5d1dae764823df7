"""NumPy for memory, imported with one OpenBLAS thread, and more threads only for big batches.

NumPy's OpenBLAS starts one thread per core when it loads: on a busy two-core machine
that cost ``kanjian ask`` about 40 ms of CPU at ``import numpy`` alone, and its threads then
made the small matrix products of a one-question embedding 5x slower. Memory's matrices
are small (a question, a turn, a matrix-vector product), so the first import of NumPy here
asks OpenBLAS for one thread, unless the user chose a count (``OPENBLAS_NUM_THREADS``) or
NumPy was already imported by someone else. The variable is restored at once, so child
processes (a model server, a tool) never inherit it. A big batch (``memory reindex``)
gets every core back for its duration through threadpoolctl.
"""

from __future__ import annotations

import contextlib
import os
import sys
from functools import cache
from typing import Any

__all__ = ["BIG_BATCH", "numpy", "threads_for"]

BIG_BATCH = 2048  # padded tokens from which a forward pass gets every core
_VARIABLE = "OPENBLAS_NUM_THREADS"


def numpy() -> Any:
    if "numpy" not in sys.modules and _VARIABLE not in os.environ:
        os.environ[_VARIABLE] = "1"
        try:
            import numpy as np
        finally:
            os.environ.pop(_VARIABLE, None)
        return np
    import numpy as np

    return np


def threads_for(tokens: int) -> Any:
    """A context in which a forward pass over ``tokens`` padded tokens runs: one BLAS
    thread for a short batch, every core for a big one (no-op without threadpoolctl)."""
    controller = _controller()
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=1 if tokens < BIG_BATCH else os.cpu_count(), user_api="blas")


@cache
def _controller() -> Any:
    numpy()  # threadpoolctl finds the BLAS NumPy loaded
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # an optional speed-up: without it NumPy keeps its own threads
        return None
    return ThreadpoolController()
