"""A bilingual recall set: 100 stored conversations about images, 50 keyword queries.

Conversations are about receipts, signs, charts, documents and photos, half in English and
half in Chinese. Queries are in both languages; a third of them are cross-lingual (a
Chinese question about an English conversation or the reverse). Each query names the one
conversation that answers it. Written by hand for kanjian; no external data.

The data lives in ``bench/recall_data/*.tsv`` (one row a line, tab-separated, ``#`` lines
are section notes), read by :func:`table`, which :mod:`bench.recall_more` shares.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

__all__ = ["CONVERSATIONS", "DATA", "QUERIES", "Conversation", "Query", "table"]

DATA = Path(__file__).parent / "recall_data"


class Conversation(NamedTuple):
    id: str
    question: str
    answer: str
    ocr: str = ""


class Query(NamedTuple):
    text: str
    target: str
    kind: str  # "en", "zh" or "cross"


def table(name: str) -> list[list[str]]:
    """The rows of ``recall_data/<name>.tsv``: its header and ``#`` lines skipped.

    A row may lack its trailing empty fields (an editor that strips trailing tabs), so
    callers give those fields defaults.
    """
    lines = (DATA / f"{name}.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]


CONVERSATIONS = [Conversation(*row) for row in table("conversations")]
QUERIES = [Query(*row) for row in table("queries")]
