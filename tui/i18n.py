"""The chat app's words in English and Chinese: one catalogue per language, one lookup.

``t("status.cached", ...)`` returns the text of a key in the current language, formatted with
its fields (``str.format``); a key missing from the Chinese catalogue falls back to English,
and a test keeps both catalogues at the same keys and fields. The language is chosen once at
start from the locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``: ``zh_*`` is Chinese, anything
else English) so the first frame is already in it; ``tui.language = "en" | "zh"`` in the
settings overrides the locale when the settings arrive (after the first paint), and the app
then redraws its words (:meth:`KanjianApp.apply_language`).

No Textual and nothing heavy here: the first screen imports this module.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, Literal

from kanjian.tui.locales import en, zh

__all__ = [
    "LANGUAGES",
    "Language",
    "choose_language",
    "language",
    "set_language",
    "t",
    "translate_bindings",
]

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "zh")
CATALOGUES: dict[Language, Mapping[str, str]] = {"en": en.MESSAGES, "zh": zh.MESSAGES}
# The order POSIX gives them: LC_ALL overrides LC_MESSAGES, which overrides LANG.
_LOCALE_VARS = ("LC_ALL", "LC_MESSAGES", "LANG")

_current: Language = "en"


def choose_language(setting: str = "auto", env: Mapping[str, str] | None = None) -> Language:
    """``setting`` when it names a language; for ``"auto"``, what the locale says."""
    if setting in LANGUAGES:
        return setting  # type: ignore[return-value]
    env = os.environ if env is None else env
    for name in _LOCALE_VARS:
        value = env.get(name, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def set_language(lang: Language) -> None:
    global _current
    _current = lang


def language() -> Language:
    return _current


def t(key: str, /, **fields: object) -> str:
    """The text of ``key`` in the current language, with ``fields`` filled in."""
    text = CATALOGUES[_current].get(key)
    if text is None:
        text = en.MESSAGES[key]
    return text.format(**fields) if fields else text


# Bindings whose description is UI text: binding id (or action) -> catalogue key.
_BINDING_TEXT = {
    "kanjian.cancel": "key.cancel",
    "kanjian.sidebar": "key.sidebar",
    "kanjian.thoughts": "key.thoughts",
    "kanjian.new": "key.new",
    "kanjian.tools": "key.tools",
    "kanjian.quit": "key.quit",
    "kanjian.paste_image": "key.paste_image",
    "kanjian.approve": "key.approve",
    "kanjian.deny": "key.deny",
    "command_palette": "key.palette_footer",
}


def translate_bindings(node: Any) -> None:
    """Put the current language's descriptions on a Textual node's key bindings.

    Bindings are frozen and declared on the class in English; each node holds its own copy
    (``_bindings``), so replacing them there changes this app's footer and help only.
    """
    table = node._bindings.key_to_bindings
    for key, bindings in table.items():
        table[key] = [_translated(binding) for binding in bindings]


def _translated(binding: Any) -> Any:
    name = _BINDING_TEXT.get(binding.id or "") or _BINDING_TEXT.get(binding.action)
    return dataclasses.replace(binding, description=t(name)) if name else binding
