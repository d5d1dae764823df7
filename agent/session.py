"""A conversation: its id, its images and its append-only message history.

The history is kept in the form the model is sent, with images referenced by id instead of
inlined (``{"type": "image", "image_id": "image_1"}``)::

    {"role": "user", "content": [{"type": "image", "image_id": "image_1"}, {"type": "text", ...}]}
    {"role": "assistant", "content": "<the raw JSON action the model produced>"}
    {"role": "user", "content": [{"type": "text", "text": "Observation from ocr:\\n..."}]}

Rendering it back (:meth:`Session.history`) gives LangChain messages that the adapter turns
into exactly the bytes sent before, so a resumed conversation hits the prefix cache too.
A session is saved as JSON under ``$KANJIAN_HOME/sessions/<id>.json``, written atomically
(a temp file, then ``os.replace``) so a kill never leaves half a file.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kanjian.agent.errors import ConfigError, InputError
from kanjian.agent.images import ImageRegistry, ImageStore
from kanjian.memory.images import atomic_write

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from kanjian.vlm.types import ChatBackend

__all__ = ["Session", "sessions_dir"]

FORMAT_VERSION = 1


def sessions_dir() -> Path:
    from kanjian.agent.config import data_dir

    return data_dir() / "sessions"


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class Session:
    id: str = field(default_factory=_new_id)
    images: ImageRegistry = field(default_factory=ImageRegistry)
    messages: list[dict[str, Any]] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    # -- model history --------------------------------------------------------------------

    def history(self) -> list[BaseMessage]:
        """The stored turns as LangChain messages, images resolved to their wire bytes."""
        from langchain_core.messages import AIMessage, HumanMessage

        out: list[BaseMessage] = []
        for message in self.messages:
            if message["role"] == "assistant":
                out.append(AIMessage(content="", additional_kwargs={"raw": message["content"]}))
            else:
                out.append(HumanMessage(content=[self._resolve(p) for p in message["content"]]))
        return out

    def _resolve(self, part: dict[str, Any]) -> dict[str, Any]:
        if part.get("type") != "image":
            return part
        image_id = part["image_id"]
        url = self.images.wire_url(image_id)
        return {"type": "image_url", "image_url": {"url": url}, "image_id": image_id}

    def append(self, messages: list[BaseMessage]) -> None:
        """Append a finished turn's LangChain messages in stored form."""
        self.messages.extend(stored_form(m) for m in messages)
        self.updated = time.time()

    # -- persistence --------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "id": self.id,
            "created": self.created,
            "updated": self.updated,
            "images": self.images.to_json(),
            "messages": self.messages,
        }

    @classmethod
    def from_json(
        cls,
        data: dict[str, Any],
        backend: ChatBackend | None = None,
        *,
        store: ImageStore | None = None,
    ) -> Session:
        return cls(
            id=str(data["id"]),
            images=ImageRegistry.from_json(data.get("images", []), backend, store=store),
            messages=list(data.get("messages", [])),
            created=float(data.get("created", time.time())),
            updated=float(data.get("updated", time.time())),
        )

    def path(self) -> Path:
        return sessions_dir() / f"{self.id}.json"

    def save(self, path: Path | None = None) -> Path:
        """Write the session atomically; return where it went."""
        target = path or self.path()
        data = json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"))
        try:
            atomic_write(target, data.encode("utf-8"), durable=False)
        except OSError as exc:
            raise ConfigError(
                f"Cannot save session {self.id!r} to {str(target)!r}: {exc.strerror or exc}. "
                "Make the data folder writable or point KANJIAN_HOME elsewhere."
            ) from exc
        return target

    @classmethod
    def load(
        cls,
        id_or_path: str | Path,
        backend: ChatBackend | None = None,
        *,
        store: ImageStore | None = None,
    ) -> Session:
        """A saved session, by id (under the sessions folder) or by path."""
        path = Path(id_or_path)
        if not path.suffix:
            path = sessions_dir() / f"{id_or_path}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(
                f"There is no session {str(id_or_path)!r} (looked for {str(path)!r}); "
                "pass the id printed by an earlier `kanjian ask --json`."
            ) from None
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(
                f"Cannot read session file {str(path)!r}: {exc}. Delete it or pass another id."
            ) from exc
        return cls.from_json(data, backend, store=store)


def _stored_parts(content: Any) -> list[dict[str, Any]]:
    items = [content] if isinstance(content, str) else list(content)
    parts: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, str):
            parts.append({"type": "text", "text": item})
        elif item.get("type") == "text":
            parts.append({"type": "text", "text": item["text"]})
        elif item.get("image_id"):
            parts.append({"type": "image", "image_id": item["image_id"]})
    return parts


def stored_form(message: BaseMessage) -> dict[str, Any]:
    """One LangChain message in stored form (see the module docstring)."""
    from langchain_core.messages import AIMessage, ToolMessage

    from kanjian.vlm.chat_model import assistant_text, split_observation

    if isinstance(message, AIMessage):
        return {"role": "assistant", "content": assistant_text(message)}
    if isinstance(message, ToolMessage):
        head, images = split_observation(message)
        return {"role": "user", "content": [{"type": "text", "text": head}, *_stored_parts(images)]}
    return {"role": "user", "content": _stored_parts(message.content)}
