"""Settings: defaults, then the TOML config file, then ``KANJIAN_*`` env vars, then flags.

Each layer overrides the one before it; :attr:`Settings.sources` remembers which layer set
each value so that ``kanjian doctor`` can show it. The config file is
``$KANJIAN_HOME/config.toml`` when it exists, else ``<user config dir>/kanjian/config.toml``.

Env vars: the common ones have short names (``KANJIAN_URL``, ``KANJIAN_API_KEY``, ...; see
:data:`ENV_ALIASES`), and any setting can be set as ``KANJIAN_<SECTION>__<KEY>`` (for example
``KANJIAN_AGENT__MAX_STEPS=8``).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kanjian.agent.errors import ConfigError
from kanjian.memory.settings import MemorySettings
from kanjian.tools.settings import McpServer, ToolSettings

__all__ = [
    "ENV_ALIASES",
    "AgentSettings",
    "McpServer",
    "MemorySettings",
    "ServeSettings",
    "Settings",
    "ToolSettings",
    "TuiSettings",
    "VLMSettings",
    "config_file_path",
    "data_dir",
    "load_settings",
]

DEFAULT_URL = "http://127.0.0.1:30000"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class VLMSettings(_Section):
    url: str = DEFAULT_URL
    api_key: str | None = None
    # Model name sent to the server; SGLang serves one model and accepts "default".
    model: str = "default"
    # "auto": the server when it answers /health, else the local backend if installed.
    backend: Literal["auto", "sglang", "local"] = "auto"
    local_model: str = "OpenGVLab/InternVL3-1B-hf"
    device: str = "auto"
    max_num: int = Field(12, ge=1, le=40)
    connect_timeout: float = 5.0
    read_timeout: float = 300.0
    retries: int = Field(3, ge=0, le=10)
    temperature: float = 0.0
    max_tokens: int = 1024
    health_wait: float = 600.0


class AgentSettings(_Section):
    max_steps: int = Field(6, ge=1, le=50)
    tool_timeout: float = 60.0
    approve: Literal["ask", "always", "never"] = "ask"
    # Bring relevant past turns from memory into a new conversation.
    recall: bool = True
    recall_budget_tokens: int = 600


class ServeSettings(_Section):
    """How ``kanjian serve-model`` launches SGLang (host and port come from vlm.url)."""

    model_path: str = "OpenGVLab/InternVL-Chat-V1-5"
    chat_template: str = "internvl-2-5"
    # The Python that has SGLang installed (often a separate GPU environment).
    python: str = "python3"
    extra_args: list[str] = Field(default_factory=list)
    # Skip the GPU check (for CPU-only SGLang builds and tests).
    require_gpu: bool = True


class TuiSettings(_Section):
    theme: str = "textual-dark"
    # The chat's words: "auto" follows the locale (LC_ALL, LC_MESSAGES, LANG), or "en", "zh".
    language: Literal["auto", "en", "zh"] = "auto"
    keymap: dict[str, str] = Field(default_factory=dict)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    home: Path
    config_path: Path | None = None
    vlm: VLMSettings = Field(default_factory=VLMSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    tools: ToolSettings = Field(default_factory=ToolSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    tui: TuiSettings = Field(default_factory=TuiSettings)
    # "vlm.url" -> "default" | "config" | "env KANJIAN_URL" | "flag"
    sources: dict[str, str] = Field(default_factory=dict)

    @property
    def plugin_dir(self) -> Path:
        return Path(self.tools.plugin_dir) if self.tools.plugin_dir else self.home / "plugins"

    @property
    def memory_dir(self) -> Path:
        return self.home / "memory"

    def flat(self) -> dict[str, Any]:
        """Every setting as ``section.key -> value`` (the API key masked), for doctor."""
        out: dict[str, Any] = {}
        for section in _SECTIONS:
            for key, value in getattr(self, section).model_dump().items():
                out[f"{section}.{key}"] = value
        if out.get("vlm.api_key"):
            out["vlm.api_key"] = "***"
        return out


ENV_ALIASES: dict[str, str] = {
    "KANJIAN_URL": "vlm.url",
    "KANJIAN_API_KEY": "vlm.api_key",
    "KANJIAN_MODEL": "vlm.model",
    "KANJIAN_BACKEND": "vlm.backend",
    "KANJIAN_LOCAL_MODEL": "vlm.local_model",
    "KANJIAN_DEVICE": "vlm.device",
    "KANJIAN_MAX_STEPS": "agent.max_steps",
    "KANJIAN_APPROVE": "agent.approve",
    "KANJIAN_MEMORY_URL": "memory.url",
    "KANJIAN_EMBEDDER": "memory.embedder",
    "KANJIAN_EMBED_URL": "memory.embed_url",
    "KANJIAN_RECALL": "memory.recall",
    "KANJIAN_PLUGIN_DIR": "tools.plugin_dir",
}
_SECTIONS = ("vlm", "agent", "memory", "tools", "serve", "tui")


def data_dir() -> Path:
    """``$KANJIAN_HOME``, else the platform's user data dir for kanjian."""
    if home := os.environ.get("KANJIAN_HOME"):
        return Path(home).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("kanjian", appauthor=False))


def config_file_path() -> Path:
    home_config = data_dir() / "config.toml"
    if home_config.exists() or os.environ.get("KANJIAN_HOME"):
        return home_config
    from platformdirs import user_config_dir

    return Path(user_config_dir("kanjian", appauthor=False)) / "config.toml"


def load_settings(
    flags: dict[str, Any] | None = None, *, config_path: Path | None = None
) -> Settings:
    """Defaults < config file < env < ``flags`` (keys like ``"vlm.url"``; None values skipped)."""
    path = config_path or config_file_path()
    layers: list[tuple[str, dict[str, Any]]] = [
        ("config", _read_toml(path)),
        *_env_layers(),
        ("flag", {k: v for k, v in (flags or {}).items() if v is not None}),
    ]
    merged: dict[str, dict[str, Any]] = {s: {} for s in _SECTIONS}
    sources: dict[str, str] = {}
    for source, values in layers:
        for dotted, value in values.items():
            section, _, key = dotted.partition(".")
            if section not in merged or not key:
                raise ConfigError(
                    f"Unknown setting {dotted!r} ({source}): settings look like 'vlm.url' "
                    f"with a section among {', '.join(_SECTIONS)}."
                )
            merged[section][key] = value
            sources[dotted] = source
    try:
        settings = Settings.model_validate(
            {"home": data_dir(), "config_path": path if path.exists() else None, **merged}
        )
    except ValidationError as exc:
        raise ConfigError(_describe_validation(exc, sources)) from exc
    settings.sources = sources
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read config file '{path}': {exc}. Fix or remove it.") from exc
    flat: dict[str, Any] = {}
    for section, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(
                f"Config file '{path}' sets {section!r} at the top level; put it under a "
                f"section such as [vlm] or [agent]."
            )
        for key, value in values.items():
            flat[f"{section}.{key}"] = value
    return flat


def _env_layers() -> list[tuple[str, dict[str, Any]]]:
    layers: list[tuple[str, dict[str, Any]]] = []
    for name, value in sorted(os.environ.items()):
        if not name.startswith("KANJIAN_") or name == "KANJIAN_HOME":
            continue
        if name in ENV_ALIASES:
            layers.append((f"env {name}", {ENV_ALIASES[name]: value}))
        elif "__" in name:
            section, _, key = name.removeprefix("KANJIAN_").lower().partition("__")
            layers.append((f"env {name}", {f"{section}.{key}": value}))
    return layers


def _describe_validation(exc: ValidationError, sources: dict[str, str]) -> str:
    error = exc.errors()[0]
    dotted = ".".join(str(part) for part in error["loc"])
    where = sources.get(dotted, "default")
    return f"Setting {dotted!r} from {where} is invalid: {error['msg']}. Fix it in {where}."
