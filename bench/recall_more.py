"""The enlarged recall set: 60 more conversations, natural questions, unrelated questions.

:data:`STORE` is the 100 conversations of :mod:`bench.recall_set` plus 60 more whose topics
overlap them (a second Starbucks receipt, another parking sign, more tickets, menus, math
homework, screenshots) and long-lived facts a user comes back for (the router password, a
medicine's dose, a locker code). :data:`QUESTIONS` are 168 questions as a user would ask
them in a new conversation, about one stored conversation each, paraphrased (none quotes its
target), 77 of them cross-lingual (the last 58, 41 cross-lingual, were written before the
second recall gate was designed). :data:`UNRELATED` are 90 questions about topics no stored
conversation touches (instruments, sport, art, animals, landscapes), many in the generic
wording of a question about a new image ("this image", "照片里").

Both are split into a development part (used to calibrate the recall gate) and a held-out
part (used only to report it): :func:`dev` and :func:`held_out`. Written by hand for kanjian;
the rows live in ``bench/recall_data/`` and are read by :func:`bench.recall_set.table`.
"""

from __future__ import annotations

from typing import NamedTuple

from bench.recall_set import CONVERSATIONS, Conversation, Query, table

__all__ = ["MORE", "QUESTIONS", "STORE", "UNRELATED", "Unrelated", "dev", "held_out"]


class Unrelated(NamedTuple):
    text: str
    dev: bool


MORE = [Conversation(*row) for row in table("more_conversations")]
STORE: list[Conversation] = [*CONVERSATIONS, *MORE]
QUESTIONS = [Query(*row) for row in table("questions")]
UNRELATED = [Unrelated(text, part == "dev") for text, part in table("unrelated")]


def dev() -> tuple[list[Query], list[str]]:
    """The development part: every third related question and the dev unrelated ones."""
    related = [q for i, q in enumerate(QUESTIONS) if i % 3 == 0]
    return related, [u.text for u in UNRELATED if u.dev]


def held_out() -> tuple[list[Query], list[str]]:
    """The held-out part: the other related questions and the other unrelated ones."""
    related = [q for i, q in enumerate(QUESTIONS) if i % 3 != 0]
    return related, [u.text for u in UNRELATED if not u.dev]
