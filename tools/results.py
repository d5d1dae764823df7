"""A tool's result, made safe once: JSON-safe data and text capped for the model.

Whatever a plugin returns ends up in JSON (``ask --json``, batch lines, the session file,
memory) and in the next model request. Two rules, applied in the tool pipeline
(:func:`kanjian.tools.wrappers.shaped`) so no consumer has to repeat them:

- :func:`json_safe` turns ``datetime``, ``set``, ``Path``, ``bytes``, numpy values,
  dataclasses, pydantic models, enums and the like into plain JSON values (a batch once
  died on a ``datetime`` and could never finish);
- :func:`capped` cuts text beyond the limit (16,000 characters by default) with a note that
  says so and where the whole output was kept: a 5 MB result once went whole into every
  later request of its conversation and into the session file.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import enum
import json
import math
import uuid
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

from kanjian.tools.base import ToolOutput

__all__ = ["DEFAULT_OUTPUT_LIMIT", "capped", "json_safe"]

# Characters of a tool's text the model reads (about 4,000 tokens).
DEFAULT_OUTPUT_LIMIT = 16_000
# The JSON data (for people and scripts) may be larger, but not without bound.
_DATA_FACTOR = 16
_MAX_DEPTH = 64


def json_safe(value: Any, _depth: int = 0) -> Any:
    """``value`` as plain JSON values (dict with str keys, list, str, int, float, bool, None)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # NaN is not JSON
    if _depth > _MAX_DEPTH:
        return str(value)
    if isinstance(value, Mapping):
        return {_key(k): json_safe(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, _depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [json_safe(v, _depth + 1) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    return _leaf(value, _depth)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else str(json_safe(key))


def _leaf(value: Any, depth: int) -> Any:
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return json_safe(value.value, depth + 1)
    if isinstance(value, (PurePath, uuid.UUID)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes(bytes(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return json_safe(fields, depth + 1)
    if hasattr(value, "model_dump"):  # pydantic
        return json_safe(value.model_dump(mode="json"), depth + 1)
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return json_safe(value.tolist(), depth + 1)
    if hasattr(value, "isoformat"):  # pandas Timestamp and other date-likes
        return str(value.isoformat())
    return str(value)


def _bytes(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode("ascii")


def capped(output: ToolOutput, name: str, limit: int, keep_in: Path | None) -> ToolOutput:
    """``output`` with text over ``limit`` characters cut, and data over 16× that replaced.

    The whole output is written to ``keep_in/<tool>-<id>.json`` first (when given), and the
    note the model reads names that file.
    """
    data_text = json.dumps(output.data, ensure_ascii=False)
    text_over = len(output.text) > limit
    data_over = len(data_text) > limit * _DATA_FACTOR
    if not (text_over or data_over):
        return output
    kept = _keep(output, name, keep_in)
    where = f"; the whole output is in {kept}" if kept else ""
    text, data = output.text, output.data
    if text_over:
        text = (
            f"{text[:limit]}\n[Output cut: the first {limit:,} of {len(output.text):,} "
            f"characters are shown{where}.]"
        )
    if data_over:
        data = {"cut": True, "characters": len(data_text), "full_output": kept}
    return ToolOutput(text=text, data=data, images=output.images)


def _keep(output: ToolOutput, name: str, folder: Path | None) -> str | None:
    if folder is None:
        return None
    path = folder / f"{name}-{uuid.uuid4().hex[:12]}.json"
    record = {"tool": name, "text": output.text, "data": output.data}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    except OSError:
        return None  # a read-only data dir still gets the cut output
    return str(path)
