"""A session id stored in memory is data: exporting it never writes outside ``-o``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kanjian.memory.api import Memory
from kanjian.memory.export import export_sessions


async def _store_forged(memory: Memory, absolute: Path) -> None:
    for forged in ("../../escaped", str(absolute), "..\\win"):
        sid = await memory.new_session("forged", session_id=forged)
        await memory.add_turn(sid, "q?", "a.")


def test_memory_export_with_a_forged_stored_id_never_writes_outside_dest(tmp_path: Path) -> None:
    memory = Memory.at(tmp_path / "memory", "hash")
    try:
        asyncio.run(_store_forged(memory, tmp_path / "abs-escaped"))
        dest = tmp_path / "out" / "export"
        written = export_sessions(memory.core, None, "md", dest)
    finally:
        memory.close()
    assert len(written) == 3
    assert all(path.parent == dest for path in written)
    assert sorted(p.name for p in dest.iterdir()) == sorted(p.name for p in written)
    assert not (tmp_path / "escaped.md").exists() and not (tmp_path / "abs-escaped.md").exists()
