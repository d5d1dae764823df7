"""Decoding the ``"answer"`` of an action while the model is still writing it.

:class:`AnswerStreamer` follows the top-level keys of the one JSON object a step emits
(:mod:`kanjian.vlm.action`) and hands out the characters of the ``"answer"`` string as they
arrive, so the final answer reaches the user token by token; the ``"thought"`` string is
kept once it has closed.
"""

from __future__ import annotations

import re

__all__ = ["AnswerStreamer"]

_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r"}
_SIMPLE_ESCAPES["t"] = "\t"
# Inside a string only a quote or a backslash changes anything; outside, only these do.
_IN_STRING = re.compile(r'["\\]')
_STRUCTURE = re.compile(r'["{}\[\],:]')


class AnswerStreamer:
    """Incrementally decode the top-level ``"answer"`` (and ``"thought"``) string values.

    Feed raw deltas as they arrive; :meth:`feed` returns the newly decoded answer
    characters. Escapes split across deltas (``\\`` at the end of one, ``u4e2d`` in the
    next) are handled. Anything before the first ``{`` (prose, a code fence) is skipped.
    ``thought`` is set once the thought string has closed.

    A delta is read in runs, not character by character: the text of a string up to its
    next quote or backslash is one piece (this runs once per streamed token).
    """

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.expect_key = False
        self.key: str | None = None
        self.buf: list[str] = []
        # Which top-level value string is being read: "key", "answer", "thought" or "other".
        self.role = ""
        self.escape: str | None = None
        self.high_surrogate: int | None = None
        self.thought: str | None = None
        self.answer: list[str] = []
        # A top-level "tool" key was read: the action is a tool call, never an answer.
        self.tool = False

    def feed(self, delta: str) -> str:
        if self.tool and self.thought is not None:
            return ""  # a tool call: no answer will come, and the thought is known
        if self.in_string and self.escape is None and '"' not in delta and "\\" not in delta:
            # The common case, a token in the middle of a string: all of it is text.
            if self.role == "answer":
                self.answer.append(delta)
                return delta
            if self.role != "other":
                self.buf.append(delta)
            return ""
        emitted: list[str] = []
        i, end = 0, len(delta)
        while i < end:
            if self.escape is not None:  # only ever inside a string
                self._escape_char(delta[i], emitted)
                i += 1
            elif self.in_string:
                i = self._string_run(delta, i, emitted)
                if self.tool and self.thought is not None:
                    break  # the key just read was "tool"
            else:
                found = _STRUCTURE.search(delta, i)
                if found is None:
                    break
                self._structure_char(found.group())
                i = found.end()
        self.answer += emitted
        return "".join(emitted)

    def _string_run(self, delta: str, i: int, emitted: list[str]) -> int:
        """Take a string's text from ``i`` to its next quote or backslash, and that one."""
        found = _IN_STRING.search(delta, i)
        j = found.start() if found is not None else len(delta)
        if j > i:
            self._emit(delta[i:j], emitted)
        if found is None:
            return j
        if delta[j] == "\\":
            self.escape = ""
        else:
            self._close_string()
        return j + 1

    def _structure_char(self, ch: str) -> None:
        if ch == '"':
            self._open_string()
        elif ch in "{[":
            self.depth += 1
            self.expect_key = ch == "{" and self.depth == 1
        elif ch in "}]":
            self.depth -= 1
        elif self.depth == 1 and ch == ",":
            self.expect_key = True
        elif self.depth == 1 and ch == ":":
            self.expect_key = False

    def _open_string(self) -> None:
        self.in_string = True
        self.buf = []
        if self.depth != 1:
            self.role = "other"
        elif self.expect_key:
            self.role = "key"
        elif self.key in ("answer", "thought"):
            self.role = self.key
        else:
            self.role = "other"

    def _close_string(self) -> None:
        self.in_string = False
        if self.role == "key":
            self.key = "".join(self.buf)
            self.tool = self.tool or self.key == "tool"
        elif self.role == "thought":
            self.thought = "".join(self.buf)

    def _escape_char(self, ch: str, emitted: list[str]) -> None:
        if self.escape == "":
            if ch == "u":
                self.escape = "u"
                return
            self.escape = None
            self._emit(_SIMPLE_ESCAPES.get(ch, ch), emitted)
            return
        assert self.escape is not None
        self.escape += ch
        if len(self.escape) < 5:
            return
        code = int(self.escape[1:], 16) if _is_hex(self.escape[1:]) else 0xFFFD
        self.escape = None
        self._emit_code(code, emitted)

    def _emit_code(self, code: int, emitted: list[str]) -> None:
        # A character outside the BMP arrives as two \u escapes (a surrogate pair).
        if 0xD800 <= code < 0xDC00:
            self.high_surrogate = code
            return
        if 0xDC00 <= code < 0xE000 and self.high_surrogate is not None:
            code = 0x10000 + ((self.high_surrogate - 0xD800) << 10) + (code - 0xDC00)
        self.high_surrogate = None
        self._emit(chr(code) if not 0xD800 <= code < 0xE000 else "\ufffd", emitted)

    def _emit(self, text: str, emitted: list[str]) -> None:
        """Decoded text of the current string: the answer's goes out, a key's or the
        thought's is kept until the string closes, any other string's is dropped."""
        if self.role == "answer":
            emitted.append(text)
        elif self.role != "other":
            self.buf.append(text)

    @property
    def streamed(self) -> str:
        """All answer characters emitted so far."""
        return "".join(self.answer)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)
