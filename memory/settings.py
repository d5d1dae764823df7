"""The ``[memory]`` settings section: the memory package's own, read by :mod:`kanjian.agent.config`.

``memory`` sits below ``agent``, so it declares what it needs here and never imports the
agent's settings: :meth:`kanjian.memory.api.Memory.open` takes anything shaped like
:class:`MemoryConfig`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

__all__ = ["MemoryConfig", "MemorySettings"]


class MemorySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    enabled: bool = True
    # A Chroma server (``chroma run``) URL; empty means the embedded PersistentClient.
    url: str | None = None
    # "auto" (local multilingual-capable default), "hash", "minilm", or "openai" (embed_url).
    embedder: str = "auto"
    embed_url: str | None = None
    embed_model: str | None = None
    # "auto": a new conversation gets the past turns that pass the recall gate
    # (kanjian.memory.gate); "off": nothing is injected, though turns are still remembered.
    recall: Literal["auto", "off"] = "auto"


class _HasApiKey(Protocol):
    @property
    def api_key(self) -> str | None: ...


class MemoryConfig(Protocol):
    """What opening memory needs from the settings (``kanjian.agent.config.Settings``)."""

    @property
    def memory(self) -> MemorySettings: ...

    @property
    def memory_dir(self) -> Path: ...

    @property
    def vlm(self) -> _HasApiKey: ...
