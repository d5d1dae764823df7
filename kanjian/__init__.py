"""kanjian (看见): a terminal assistant that sees.

The code lives in five packages, installed under this name so that neither PyPI's ``tools``
nor a user's own ``tools/`` or ``agent/`` folder can shadow them::

    kanjian.vlm      talks to the model
    kanjian.tools    what the agent can do (``from kanjian.tools import tool``)
    kanjian.memory   what it remembers
    kanjian.agent    the composition root: config, the loop, the Python API
    kanjian.tui      the ``kanjian`` command and the chat app

The names a script needs are importable from here, loaded on first use so that
``import kanjian`` stays instant::

    from kanjian import Kanjian
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kanjian.agent.api import BlockingKanjian, Kanjian

__all__ = ["BlockingKanjian", "Kanjian", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Kanjian", "BlockingKanjian"):
        return getattr(importlib.import_module("kanjian.agent.api"), name)
    if name == "__version__":
        # Read on first use: importlib.metadata (with zipfile and email) is a noticeable part
        # of `kanjian --help`'s start-up otherwise.
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("kanjian")
        except PackageNotFoundError:  # a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'kanjian' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
