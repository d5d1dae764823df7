"""Fixtures for the math tests: one warm worker process for the whole session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def math_worker() -> None:
    """Start the SymPy worker once (about a second), not inside the first test."""
    from kanjian.tools.mathsolve import warm_up

    warm_up()
