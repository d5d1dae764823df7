"""Export sessions to Markdown or JSON, with their images copied alongside.

Layout under ``dest``: ``<session>.md`` or ``<session>.json`` per session, and
``images/<sha256>.<ext>`` for every image they use (Markdown links to those copies, so
the folder is self-contained and can be moved).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kanjian.memory.errors import MemoryInputError, StorageError
from kanjian.memory.images import atomic_write
from kanjian.memory.records import SessionRecord, TurnRecord, iso

if TYPE_CHECKING:
    from kanjian.memory.core import MemoryCore

__all__ = ["export_sessions", "session_json", "session_markdown"]


def export_sessions(
    core: MemoryCore, session_id: str | None, fmt: Literal["md", "json"], dest: Path
) -> list[Path]:
    if fmt not in ("md", "json"):
        raise MemoryInputError(f"Unknown export format {fmt!r}; use 'md' or 'json'.")
    ids = [session_id] if session_id else [s.id for s in _all_sessions(core)]
    written: list[Path] = []
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for sid in ids:
            session = core.get_session(sid)
            images = _copy_images(core, session, dest / "images")
            text = (
                session_markdown(session, images) if fmt == "md" else session_json(session, images)
            )
            path = dest / f"{_file_stem(sid)}.{fmt}"
            atomic_write(path, text.encode("utf-8"))
            written.append(path)
    except OSError as exc:
        raise StorageError(
            f"Cannot export to '{dest}': {exc}; pick a writable folder with -o."
        ) from exc
    return written


def _file_stem(session_id: str) -> str:
    """The id as a plain file name: a stored id is data, and must never steer the write
    out of ``dest`` (``../x``, ``/abs``); anything but letters, digits, ``-``, ``_`` -> ``_``."""
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", session_id)[:64]
    return stem or "_"


def _all_sessions(core: MemoryCore) -> list[SessionRecord]:
    out: list[SessionRecord] = []
    while batch := core.list_sessions(500, len(out)):
        out.extend(batch)
    return out


def _copy_images(core: MemoryCore, session: SessionRecord, folder: Path) -> dict[str, str]:
    """Copy each image the session uses; returns sha256 -> path relative to the export."""
    rel: dict[str, str] = {}
    for turn in session.turns:
        for ref in turn.images:
            if ref.sha256 in rel:
                continue
            source = core.image(ref.sha256).path
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / source.name
            if not target.exists():
                shutil.copyfile(source, target)
            rel[ref.sha256] = f"images/{source.name}"
    return rel


def session_markdown(session: SessionRecord, images: dict[str, str]) -> str:
    lines = [f"# {session.title or 'Session ' + session.id}", ""]
    lines.append(
        f"Session `{session.id}` · started {iso(session.created)} · {session.turn_count} turns"
    )
    for turn in session.turns:
        lines += ["", f"## Turn {turn.seq} · {iso(turn.created)}", ""]
        for ref in turn.images:
            label = ref.name or ref.sha256[:12]
            lines.append(f"![{label}]({images[ref.sha256]})")
        lines += [f"**Q:** {turn.question}", "", f"**A:** {turn.answer}"]
        lines += _steps_markdown(turn)
    return "\n".join(lines) + "\n"


def _steps_markdown(turn: TurnRecord) -> list[str]:
    if not turn.steps:
        return []
    out = ["", "<details><summary>Tool steps</summary>", ""]
    for step in turn.steps:
        out.append(
            f"- `{step.get('tool', '?')}` {json.dumps(step.get('args', {}), ensure_ascii=False)}"
        )
    return [*out, "", "</details>"]


def session_json(session: SessionRecord, images: dict[str, str]) -> str:
    data: dict[str, Any] = {
        "id": session.id,
        "title": session.title,
        "created": iso(session.created),
        "updated": iso(session.updated),
        "turns": [_turn_json(t, images) for t in session.turns],
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def _turn_json(turn: TurnRecord, images: dict[str, str]) -> dict[str, Any]:
    return {
        "turn": turn.seq,
        "created": iso(turn.created),
        "question": turn.question,
        "answer": turn.answer,
        "images": [{**ref.as_dict(), "path": images[ref.sha256]} for ref in turn.images],
        "steps": list(turn.steps),
        "usage": turn.usage,
        "ocr_text": turn.ocr_text,
        "labels": list(turn.labels),
        "transcript": list(turn.transcript),
    }
