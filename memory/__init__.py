"""What kanjian remembers: conversations, their images, and recall across languages.

SQLite (WAL) is the source of truth (:mod:`kanjian.memory.store`), images are stored once by
sha256 (:mod:`kanjian.memory.images`), a chromadb collection per embedder is the vector index
(:mod:`kanjian.memory.index`), and retrieval fuses vector and bilingual lexical rankings
(:mod:`kanjian.memory.retrieval`, :mod:`kanjian.memory.bilingual`). Callers use :class:`memory.api.Memory`.
Nothing heavy is imported here.
"""

from __future__ import annotations

__all__: list[str] = []
