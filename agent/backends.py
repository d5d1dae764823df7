"""Choosing the model backend from settings: the SGLang server, or the local transformers one.

``vlm.backend = "auto"`` (the default) uses the server when its ``/health`` answers; when
nothing listens there, the ``local`` extra (torch + transformers) is installed and the local
checkpoint is on disk (a folder, or already in the Hugging Face cache: nothing is downloaded
behind the user's back), it runs that checkpoint in-process instead. Otherwise it returns
the HTTP client anyway, so the first request fails with the client's clear "cannot reach"
sentence, which names the fix.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kanjian.agent.config import Settings
    from kanjian.vlm.client import SGLangClient
    from kanjian.vlm.types import ChatBackend

__all__ = ["http_backend", "local_available", "make_backend"]


def http_backend(settings: Settings) -> SGLangClient:
    from kanjian.vlm.client import SGLangClient

    vlm = settings.vlm
    return SGLangClient(
        vlm.url,
        api_key=vlm.api_key,
        model=vlm.model,
        connect_timeout=vlm.connect_timeout,
        read_timeout=vlm.read_timeout,
        retries=vlm.retries,
    )


def local_available() -> bool:
    """Whether the local extra is installed (torch and transformers importable)."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "transformers"))


def local_model_present(name: str) -> bool:
    """Whether checkpoint ``name`` is a local folder or already in the Hugging Face cache.

    Looked up on disk the way huggingface_hub lays out its cache, without importing it (with
    tqdm, about a tenth of a second on every ``ask``).
    """
    if Path(name).expanduser().is_dir():
        return True
    if name.count("/") != 1 or any(not part for part in name.split("/")):
        return False  # not a repo id
    folder = _hub_cache() / f"models--{name.replace('/', '--')}" / "snapshots"
    return any(folder.glob("*/config.json"))


def _hub_cache() -> Path:
    """huggingface_hub's cache folder, from the same environment variables it reads."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if value := os.environ.get(variable):
            return Path(value).expanduser()
    if home := os.environ.get("HF_HOME"):
        return Path(home).expanduser() / "hub"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "huggingface" / "hub"


def local_backend(settings: Settings) -> ChatBackend:
    from kanjian.vlm.local import LocalBackend

    vlm = settings.vlm
    return LocalBackend(vlm.local_model, device=vlm.device, max_num=vlm.max_num)


async def make_backend(settings: Settings) -> ChatBackend:
    """The backend ``settings.vlm.backend`` asks for (see the module docstring for auto)."""
    choice = settings.vlm.backend
    if choice == "local":
        return local_backend(settings)
    client = http_backend(settings)
    if choice == "sglang" or not local_available():
        return client
    if not local_model_present(settings.vlm.local_model):
        return client
    from kanjian.vlm.errors import ServerError

    try:
        await client.health()
    except ServerError:
        await client.aclose()
        return local_backend(settings)
    return client
