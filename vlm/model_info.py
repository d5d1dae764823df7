"""What a server says it serves: SGLang's ``/model_info`` and OpenAI's ``/v1/models``, read.

Pure functions of the decoded JSON, so the client keeps only the asking: each returns None
for a body that names no model, and the client words that error with the server's URL.
"""

from __future__ import annotations

from typing import Any

from kanjian.vlm.types import ModelInfo

__all__ = ["DEFAULT_MODEL", "openai_info", "sglang_info"]

# SGLang answers to any model name; "default" is what it calls the served model.
DEFAULT_MODEL = "default"
# Servers whose OpenAI endpoint honours response_format json_schema (SGLang also `regex`).
_CONSTRAINED_SERVERS = frozenset({"sglang", "vllm", "lmdeploy"})


def sglang_info(data: Any) -> ModelInfo | None:
    """``/model_info`` (or the older ``/get_model_info``) of an SGLang server."""
    if not isinstance(data, dict):
        return None
    name = data.get("served_model_name") or data.get("model_path")
    return ModelInfo(
        model=str(name or DEFAULT_MODEL),
        tile_rule="sglang",
        supports_constraints=True,
        extra={"server": "sglang", **data},
    )


def openai_info(data: Any) -> ModelInfo | None:
    """``/v1/models`` of any OpenAI-compatible server: the first model card is the served one."""
    cards = data.get("data") if isinstance(data, dict) else None
    if not isinstance(cards, list) or not cards or not isinstance(cards[0], dict):
        return None
    card = cards[0]
    owner = str(card.get("owned_by", "")).lower()
    return ModelInfo(
        model=str(card.get("id") or DEFAULT_MODEL),
        tile_rule="sglang" if owner == "sglang" else "official",
        supports_constraints=owner in _CONSTRAINED_SERVERS,
        extra={
            "server": owner or None,
            "models": [c.get("id") for c in cards],
            "max_model_len": card.get("max_model_len"),
        },
    )
