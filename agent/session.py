"""A conversation: its id, its images and its append-only message history.

The history is kept in the form the model is sent, with images referenced by id instead of
inlined (``{"type": "image", "image_id": "image_1"}``)::

    {"role": "user", "content": [{"type": "image", "image_id": "image_1"}, {"type": "text", ...}]}
    {"role": "assistant", "content": "<the raw JSON action the model produced>"}
    {"role": "user", "content": [{"type": "text", "text": "Observation from ocr:\\n..."}]}

Rendering it back (:meth:`Session.history`) gives LangChain messages that the adapter turns
into exactly the bytes sent before, so a resumed conversation hits the prefix cache too.
A session is saved as JSON under ``$KANJIAN_HOME/sessions/<id>.json``, written atomically
(a temp file, then ``os.replace``) so a kill never leaves half a file. The path is made from
the id alone, and an id is checked to be one (letters, digits, ``-``, ``_``), so neither a
``--session ../../x`` nor an ``id`` forged inside a file can lead a read or a write out of
that folder.

Several processes may continue one session at once (``ask --session`` in parallel). Each
save takes an exclusive lock (``sessions/.locks/<id>.lock``), reads what is on disk and, when
another process saved turns since this one loaded, appends this run's turns after theirs
(its new images renumbered after theirs): compare-and-append, so no turn is lost.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kanjian.agent.errors import InputError
from kanjian.agent.images import ImageRegistry, ImageStore
from kanjian.memory.images import atomic_write

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from kanjian.agent.events import RunFinished
    from kanjian.vlm.types import ChatBackend

__all__ = ["Session", "check_session_id", "sessions_dir"]

FORMAT_VERSION = 1
# Ours are 32 hex digits, memory's 12; anything of this shape is a file name and nothing more.
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def check_session_id(value: str) -> str:
    """``value`` if it is a session id; otherwise one sentence saying what an id is."""
    if not _ID.fullmatch(value):
        raise InputError(
            f"{value!r} is not a session id: an id is 1 to 64 letters, digits, '-' or '_' "
            "(not a path); pass the id printed by an earlier `kanjian ask --json`."
        )
    return value


def sessions_dir() -> Path:
    from kanjian.agent.config import data_dir

    return data_dir() / "sessions"


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class Session:
    id: str = ""  # "": a new id, made here (see ``new``)
    images: ImageRegistry = field(default_factory=ImageRegistry)
    messages: list[dict[str, Any]] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    # How many messages and images are already on disk (loaded or saved by this object):
    # what lies past them is this process's own, to append after whatever others saved.
    saved_messages: int = field(default=0, repr=False)
    saved_images: int = field(default=0, repr=False)
    # Where the latest turn starts in ``messages`` (moves when a save merges others' turns).
    turn_start: int = field(default=0, repr=False)
    # Why the latest save could not be written (a read-only KANJIAN_HOME), for a warning.
    unsaved: str | None = field(default=None, repr=False)
    # Its id was made by this process and it was never saved: no other process can know
    # the id, so the first save needs neither the lock nor a read of the file (a batch
    # saves one such session per task).
    new: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.id:
            self.id, self.new = _new_id(), True

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
        self.turn_start = len(self.messages)
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
        """A session from its JSON; ``ValueError`` (naming what is wrong) if it is not one."""
        if not isinstance(data, dict):
            raise ValueError(f"it holds a JSON {type(data).__name__}, not an object")
        messages, images = data.get("messages", []), data.get("images", [])
        if not isinstance(messages, list) or not all(_is_message(m) for m in messages):
            raise ValueError("its 'messages' is not a list of {role, content} objects")
        if not isinstance(images, list) or not all(_is_image(i) for i in images):
            raise ValueError("its 'images' is not a list of {id, sha256} objects")
        try:
            session = cls(
                id=check_session_id(str(data.get("id"))),
                images=ImageRegistry.from_json(images, backend, store=store),
                messages=list(messages),
                created=float(data.get("created", time.time())),
                updated=float(data.get("updated", time.time())),
            )
        except (TypeError, ValueError, KeyError, IndexError, InputError) as exc:
            raise ValueError(str(exc)) from exc
        session.saved_messages = session.turn_start = len(session.messages)
        session.saved_images = len(session.images)
        return session

    def path(self) -> Path:
        """``sessions/<id>.json``: made from the id only, once the id is checked to be one."""
        return sessions_dir() / f"{check_session_id(self.id)}.json"

    def save(self) -> Path:
        """Append this session's new turns to its file, under the session's lock; return it.

        A folder that cannot be written does not fail the turn (the user has the answer):
        :attr:`unsaved` says why, and :func:`note_unsaved` turns that into a warning.
        """
        target = self.path()
        self.unsaved = None
        try:
            if not (self.new and _create(target, self._encoded())):
                with _locked(target):
                    on_disk = _read_saved(target)
                    if on_disk is not None:
                        self._merge(on_disk)
                    atomic_write(target, self._encoded(), durable=False)
        except OSError as exc:
            self.unsaved = (
                f"The conversation was not saved to {str(target)!r} ({exc.strerror or exc}), "
                "so it cannot be continued with --session; make the data folder writable or "
                "point KANJIAN_HOME elsewhere."
            )
            return target
        self.saved_messages = len(self.messages)
        self.saved_images = len(self.images)
        self.new = False
        return target

    def _encoded(self) -> bytes:
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")).encode()

    def _merge(self, on_disk: dict[str, Any]) -> None:
        """Put the turns others saved since we loaded before ours (compare-and-append)."""
        theirs = on_disk.get("messages")
        if not isinstance(theirs, list) or len(theirs) <= self.saved_messages:
            return  # nobody else appended: ours is the whole story
        ours = self.messages[self.saved_messages :]
        renamed = self.images.rebase(on_disk.get("images") or [], self.saved_images)
        ours = [_renamed(m, renamed) for m in ours]
        self.turn_start = len(theirs) + max(self.turn_start - self.saved_messages, 0)
        self.messages = [*theirs, *ours]

    @classmethod
    def load(
        cls,
        id_or_path: str | Path,
        backend: ChatBackend | None = None,
        *,
        store: ImageStore | None = None,
    ) -> Session:
        """A saved session, by id (never by path: the path is made from the checked id)."""
        session_id = check_session_id(str(id_or_path))
        path = sessions_dir() / f"{session_id}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(
                f"There is no session {session_id!r} (looked for {str(path)!r}); "
                "pass the id printed by an earlier `kanjian ask --json`."
            ) from None
        except (OSError, ValueError) as exc:
            raise InputError(
                f"Cannot read session file {str(path)!r}: {exc}. Delete it or pass another id."
            ) from exc
        try:
            session = cls.from_json(data, backend, store=store)
        except ValueError as exc:
            raise InputError(
                f"The session file {str(path)!r} is not a kanjian session ({exc}); delete it "
                "or pass another id."
            ) from None
        if session.id != session_id:
            raise InputError(
                f"The session file {str(path)!r} says its id is {session.id!r}, not "
                f"{session_id!r}, so it was renamed or forged; delete it or pass another id."
            )
        return session


def note_unsaved(finished: RunFinished, session: Session) -> RunFinished:
    """``finished`` with a ``session_error`` warning when its session could not be saved."""
    if session.unsaved is None or finished.error:
        return finished
    return replace(finished, extra={**finished.extra, "session_error": session.unsaved})


def _create(target: Path, data: bytes) -> bool:
    """Write ``target``, which must not exist yet, whole or not at all; False when it exists
    (or the file system cannot link): the caller then takes the lock and merges.

    The bytes go to a temporary file that is then hard-linked to ``target``: a link never
    replaces an existing file, and a reader never sees half of one.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        try:
            os.link(tmp, target)
        except OSError:  # there already (FileExistsError), or no hard links here
            return False
        return True
    finally:
        os.unlink(tmp)


@contextmanager
def _locked(target: Path) -> Iterator[None]:
    """An exclusive lock on ``.locks/<id>.lock`` beside ``target``, across processes (flock).

    The holder removes the lock file before releasing it, so none pile up (a batch saves one
    session per task). A process that waited on a file removed meanwhile holds a lock nobody
    else can see: it checks that the path is still the file it locked, else tries again.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no flock; saves there are last-writer-wins
        yield
        return
    folder = target.parent / ".locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{target.stem}.lock"
    while True:
        with path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
            try:
                current = os.stat(path).st_ino
            except FileNotFoundError:
                continue
            if current != os.fstat(lock.fileno()).st_ino:
                continue
            try:
                yield
            finally:
                path.unlink(missing_ok=True)
            return


def _read_saved(path: Path) -> dict[str, Any] | None:
    """What another process saved at ``path``; None when nothing usable is there."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_message(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("role"), str) and "content" in item


def _is_image(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("id"), str) and "sha256" in item


_IMAGE_REF = re.compile(r"\bimage_\d+\b")


def _renamed(message: dict[str, Any], renamed: dict[str, str]) -> dict[str, Any]:
    """``message`` with its image ids (parts and text alike) renamed per ``renamed``."""
    if not renamed:
        return message
    text = json.dumps(message, ensure_ascii=False)
    text = _IMAGE_REF.sub(lambda m: renamed.get(m.group(), m.group()), text)
    out: dict[str, Any] = json.loads(text)
    return out


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
