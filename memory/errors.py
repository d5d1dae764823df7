"""Errors raised by `memory`, the package that remembers conversations.

Every message is one sentence a person can act on: it names the value with ``!r``, the
rule it broke and the fix. Third-party errors (sqlite3, chromadb, httpx, PIL) are
translated at the boundary with ``raise ... from exc``.

The tree, split by who must act (``exit_code`` is what the CLI exits with):

    MemoryStoreError              base of everything raised here (1)
    ├── MemoryInputError (2)      the user must act: bad id, bad filter, bad config
    │   ├── SessionNotFound       no session with that id
    │   └── ImageNotFound         no stored image with that sha256
    ├── StorageError (1)          the SQLite store or the image files cannot be used
    ├── IndexUnavailable (1)      the vector index (embedded or Chroma server) failed
    └── EmbedderError (1)         the embedder cannot load or its server failed
"""

from __future__ import annotations

from kanjian.vlm.errors import KanjianError

__all__ = [
    "EmbedderError",
    "ImageNotFound",
    "IndexUnavailable",
    "MemoryInputError",
    "MemoryStoreError",
    "SessionNotFound",
    "StorageError",
]


class MemoryStoreError(KanjianError):
    """Base of every error raised by `memory`. ``str(err)`` is one clear sentence."""

    exit_code: int = 1


class MemoryInputError(MemoryStoreError):
    """The user must act: an unknown id, a bad filter or a setting that cannot work."""

    exit_code = 2


class SessionNotFound(MemoryInputError):
    """No session with that id is stored."""


class ImageNotFound(MemoryInputError):
    """No image with that sha256 is stored."""


class StorageError(MemoryStoreError):
    """The SQLite database or the image folder cannot be read or written."""


class IndexUnavailable(MemoryStoreError):
    """The vector index failed: the embedded Chroma files or the Chroma server."""


class EmbedderError(MemoryStoreError):
    """The embedder cannot be loaded, or its embeddings server failed."""
