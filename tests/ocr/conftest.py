"""Fixtures for the OCR tests: images rendered by ``bench.ocr_images`` and one warm engine."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# ``bench`` is not an installed package (it lives beside the code, like ``tests``), and
# ``pytest`` run as a script does not put the repository root on sys.path.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


@pytest.fixture(scope="session")
def ocr_engine() -> None:
    """Load RapidOCR once for the whole session (a few seconds)."""
    from kanjian.tools.ocr import warm_up

    warm_up()
