"""Repairing almost-JSON, as models write it when nothing constrains their decoding.

:func:`repair` makes one pass over the text: single quotes become double quotes, raw
newlines and tabs in strings are escaped, bare keys are quoted, Python literals
(``True``/``False``/``None``) become JSON's, trailing commas are dropped, and unclosed
strings, objects and arrays are closed. The result may still not be JSON; the caller says so.
"""

from __future__ import annotations

__all__ = ["repair"]

_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}


def repair(text: str) -> str:
    """``text`` with the common breakage fixed (see the module docstring)."""
    return _Repairer(text).run()


class _Repairer:
    """One pass over almost-JSON: quotes, escapes, commas, literals and closers fixed."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.out: list[str] = []
        self.stack: list[str] = []
        self.quote: str | None = None
        self.escape = False

    def run(self) -> str:
        i = 0
        while i < len(self.text):
            i = self._step(i)
        if self.quote is not None:
            self.out.append('"')
        self._drop_trailing_comma()
        self.out.extend("}" if c == "{" else "]" for c in reversed(self.stack))
        return "".join(self.out)

    def _step(self, i: int) -> int:
        ch = self.text[i]
        if self.quote is not None:
            self._in_string(ch)
            return i + 1
        if ch in "\"'":
            self.quote = ch
            self.out.append('"')
        elif ch in "{[":
            self.stack.append(ch)
            self.out.append(ch)
        elif ch in "}]":
            self._drop_trailing_comma()
            if self.stack:
                self.stack.pop()
            self.out.append(ch)
        elif ch.isalpha():
            return self._word(i)
        else:
            self.out.append(ch)
        return i + 1

    def _word(self, i: int) -> int:
        j = i
        while j < len(self.text) and (self.text[j].isalnum() or self.text[j] == "_"):
            j += 1
        word = self.text[i:j]
        k = j
        while k < len(self.text) and self.text[k].isspace():
            k += 1
        if k < len(self.text) and self.text[k] == ":" and word not in ("true", "false", "null"):
            self.out.append(f'"{word}"')  # a bare key, JavaScript style
        else:
            self.out.append(_PY_LITERALS.get(word, word))
        return j

    def _in_string(self, ch: str) -> None:
        if self.escape:
            self.escape = False
            # \' is not a JSON escape: inside a single-quoted string it just means a quote.
            self.out.append("'" if ch == "'" else "\\" + ch)
        elif ch == "\\":
            self.escape = True
        elif ch == self.quote:
            self.quote = None
            self.out.append('"')
        elif ch == '"':
            self.out.append('\\"')
        elif ch == "\n":
            self.out.append("\\n")
        elif ch == "\r":
            self.out.append("\\r")
        elif ch == "\t":
            self.out.append("\\t")
        else:
            self.out.append(ch)

    def _drop_trailing_comma(self) -> None:
        k = len(self.out) - 1
        while k >= 0 and self.out[k].isspace():
            k -= 1
        if k >= 0 and self.out[k] == ",":
            del self.out[k]
