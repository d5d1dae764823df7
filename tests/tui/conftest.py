"""Fixtures for the chat app: settings, a scripted event source, and a test image."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from kanjian.agent.config import Settings, load_settings
from kanjian.agent.events import ApprovalRequest, Event
from kanjian.tui.app import KanjianApp
from kanjian.tui.chat_controller import Approver, ChatServices
from kanjian.tui.i18n import set_language

# Pilot tests run at this size unless they test another.
SIZE = (100, 32)


@dataclass
class Wait:
    """A pause in a script: the source blocks until ``release`` is set (or it is cancelled)."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    reached: asyncio.Event = field(default_factory=asyncio.Event)


class ScriptedSource:
    """An :class:`~tui.chat_controller.EventSource` that plays one script of events per run.

    An ``ApprovalRequest`` in a script is also put to the approver, as the agent does; the
    answers are kept in ``approvals``. ``closed`` counts runs whose generator was closed
    (finished or cancelled), which is how the agent learns a run was cancelled.
    """

    def __init__(self, *scripts: Sequence[Event | Wait]) -> None:
        self.scripts = list(scripts)
        self.calls: list[tuple[str, list[str], str | None]] = []
        self.approvals: list[bool] = []
        self.closed = 0

    async def __call__(
        self, question: str, images: Sequence[str], *, session: str | None, approver: Approver
    ) -> AsyncGenerator[Event, None]:
        self.calls.append((question, list(images), session))
        script = self.scripts.pop(0)
        try:
            for item in script:
                if isinstance(item, Wait):
                    item.reached.set()
                    await item.release.wait()
                    continue
                yield item
                if isinstance(item, ApprovalRequest):
                    self.approvals.append(await approver(item))
                await asyncio.sleep(0)
        finally:
            self.closed += 1


@pytest.fixture(autouse=True)
def _english(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The app's words follow the locale: tests see English unless they choose Chinese."""
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    set_language("en")
    yield
    set_language("en")


@pytest.fixture
def settings() -> Settings:
    return load_settings()


@pytest.fixture
def image_path(tmp_path: Path) -> Path:
    """A small PNG with a red square on white (deterministic bytes)."""
    img = Image.new("RGB", (64, 48), "white")
    ImageDraw.Draw(img).rectangle((16, 12, 40, 36), fill="red")
    path = tmp_path / "square.png"
    img.save(path)
    return path.resolve()


def make_app(
    settings: Settings, source: ScriptedSource | None = None, **kwargs: object
) -> KanjianApp:
    options: dict[str, object] = {
        "warm_up": False,
        "image_mode": "halfcell",
        "health_interval": 60.0,
    }
    options.update(kwargs)
    return KanjianApp(ChatServices(settings, source=source), **options)  # type: ignore[arg-type]


async def started(app: KanjianApp) -> None:
    """Wait for the app's start after the first paint: settings, health, past sessions."""
    await app.ready.wait()
    await app.workers.wait_for_complete()
