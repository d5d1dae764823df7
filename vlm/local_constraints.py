"""Constrained decoding for the local backend, with the grammar engine SGLang uses.

A request's top-level ``regex`` or ``response_format`` (``json_schema`` or ``json_object``) is
compiled with xgrammar against the checkpoint's tokenizer and applied as a transformers logits
processor, so the local backend holds the model to the same formats a real SGLang server does
(the action protocol's JSON, the grounding regex). xgrammar is optional: without it
:func:`available` is false, the backend reports ``supports_constraints=False`` and callers fall
back to lenient parsing, as they do with servers that cannot constrain.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import weakref
from typing import Any

from kanjian.vlm.errors import BadRequestError
from kanjian.vlm.types import ChatRequest

__all__ = ["available", "logits_processors"]

_compilers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_compilers_lock = threading.Lock()


def available() -> bool:
    """Whether xgrammar is installed, so constraints can be honoured."""
    return importlib.util.find_spec("xgrammar") is not None


def logits_processors(
    model: Any, tokenizer: Any, stop_ids: list[int], request: ChatRequest
) -> list[Any] | None:
    """A fresh logits processor enforcing the request's constraint, or None if it has none.

    A fresh one per generation: xgrammar's processor keeps its matcher state across calls.
    """
    kind, spec = _constraint(request)
    if kind is None or not available():
        return None
    from kanjian.vlm.local_logits import GrammarMask

    compiler = _compiler(model, tokenizer, stop_ids)
    try:
        if kind == "regex":
            compiled = compiler.compile_regex(spec)
        elif kind == "json_schema":
            compiled = compiler.compile_json_schema(spec, any_whitespace=False)
        else:
            compiled = compiler.compile_builtin_json_grammar()
    except (RuntimeError, ValueError) as exc:
        raise BadRequestError(
            f"The {kind} constraint {_shown(spec)!r} does not compile ({_first_line(exc)}); "
            "fix the pattern or schema.",
            body=str(exc),
        ) from exc
    return [GrammarMask(compiled)]


def _constraint(request: ChatRequest) -> tuple[str | None, str]:
    if request.regex is not None:
        return "regex", request.regex
    fmt = request.response_format or {}
    if fmt.get("type") == "json_schema":
        schema = fmt.get("json_schema", {}).get("schema", {})
        return "json_schema", json.dumps(schema)
    if fmt.get("type") == "json_object":
        return "json_object", ""
    return None, ""


def _compiler(model: Any, tokenizer: Any, stop_ids: list[int]) -> Any:
    import xgrammar

    with _compilers_lock:
        compiler = _compilers.get(model)
        if compiler is None:
            # The model's vocabulary can be larger than the tokenizer's (padding rows); the
            # bitmask must cover every logit.
            vocab_size = model.config.get_text_config().vocab_size
            info = xgrammar.TokenizerInfo.from_huggingface(
                tokenizer, vocab_size=vocab_size, stop_token_ids=stop_ids
            )
            compiler = xgrammar.GrammarCompiler(info)
            _compilers[model] = compiler
        return compiler


def _shown(spec: str) -> str:
    return spec if len(spec) <= 60 else spec[:57] + "..."


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].rstrip(".") if lines else type(exc).__name__
