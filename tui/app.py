"""The Textual chat app behind ``kanjian chat``.

The app holds a :class:`~kanjian.tui.chat_controller.ChatServices` and nothing else from
kanjian: a question starts a ``turn`` worker that walks the agent's event stream and hands
each event to the :class:`~kanjian.tui.presenter.EventPresenter`, which puts it in the
:class:`~kanjian.tui.widgets.transcript.Transcript` or the status bar; Esc cancels that
worker, which closes the agent's run. A ``health`` worker polls the server every few seconds
and drives the banner, so a server that goes away (or was never there) never takes the
conversation with it. Past sessions open from the sidebar and from a "recalled" row alike
(:meth:`KanjianApp.resume_session`).

The parts live beside this module, one job each: :mod:`~kanjian.tui.startup` (what happens
after the first paint), :mod:`~kanjian.tui.presenter` (events to widgets, errors to
sentences), :mod:`~kanjian.tui.slash_actions` (what each slash command does; the table both
they and the command palette read is :mod:`~kanjian.tui.slash_commands`). The approval
dialog, the palette's provider and Markdown load on first use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Input

from kanjian.tui.chat_controller import ChatServices, no_server_banner
from kanjian.tui.i18n import (
    Language,
    choose_language,
    language,
    set_language,
    t,
    translate_bindings,
)
from kanjian.tui.presenter import EventPresenter, describe_error
from kanjian.tui.slash_actions import SlashActions
from kanjian.tui.slash_commands import IMAGE_SUFFIXES, SlashCommand, parse_slash
from kanjian.tui.startup import Startup
from kanjian.tui.widgets.banner import Banner
from kanjian.tui.widgets.graphics import prepare_graphics
from kanjian.tui.widgets.prompt import AttachmentBar, PromptInput
from kanjian.tui.widgets.recall import RecallRow
from kanjian.tui.widgets.sidebar import SessionSidebar
from kanjian.tui.widgets.status import ChatFooter, StatusBar
from kanjian.tui.widgets.transcript import Transcript

if TYPE_CHECKING:
    from textual.command import Provider

    from kanjian.agent.events import ApprovalRequest

__all__ = ["KanjianApp"]

# The sidebar takes 30 columns; below this width the chat gets the whole screen by default.
SIDEBAR_MIN_WIDTH = 100


def _slash_provider() -> type[Provider]:
    # Loaded when the palette first opens, not before the first paint.
    from kanjian.tui.widgets.palette import SlashCommandProvider

    return SlashCommandProvider


class KanjianApp(App[None]):
    """Chat with the model about images; see the module docstring for how it is wired."""

    CSS_PATH = "app.tcss"
    TITLE = "kanjian 看见"
    COMMANDS = App.COMMANDS | {_slash_provider}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="kanjian.cancel"),
        Binding("ctrl+b", "toggle_sidebar", "Sessions", id="kanjian.sidebar"),
        Binding("ctrl+t", "toggle_thoughts", "Thoughts", id="kanjian.thoughts"),
        Binding("ctrl+n", "new_chat", "New", id="kanjian.new"),
        Binding("ctrl+o", "expand_tools", "Tools ±", id="kanjian.tools"),
        # Where the terminal passes it on (most take Ctrl+Shift+V for their own text paste);
        # rebind it with tui.keymap = {"kanjian.paste_image" = "f2"}.
        Binding("ctrl+shift+v", "paste_image", "Paste image", show=False, id="kanjian.paste_image"),
        Binding("ctrl+q", "quit", "Quit", id="kanjian.quit", priority=True),
    ]

    busy: reactive[bool] = reactive(False)
    show_thoughts: reactive[bool] = reactive(True)
    show_sidebar: reactive[bool] = reactive(True)

    def __init__(
        self,
        services: ChatServices,
        *,
        attachments: Sequence[str | Path] = (),
        resume: str | None = None,
        image_mode: str = "auto",
        health_interval: float = 5.0,
        keymap: dict[str, str] | None = None,
        theme: str | None = None,
        warm_up: bool = True,
        language: Language | None = None,
        status_hint: tuple[str, str] | None = None,
    ) -> None:
        # Before any widget exists: the first frame is in this language (given, else the
        # locale's); tui.language may change it once the settings load.
        set_language(language or choose_language())
        super().__init__()
        translate_bindings(self)
        self.services = services
        self.session_id: str | None = resume
        self.pending: list[tuple[str, str]] = []
        self.image_count = 0
        self.health_interval = health_interval
        self._initial_attachments = [str(a) for a in attachments]
        # Before the app runs: asking the terminal (when it must) is only possible now.
        self.renderer = prepare_graphics(image_mode)
        # Settings that failed to load after the first paint (the app then exits).
        self.startup_error: Exception | None = None
        # Set when the start after the first paint is over: settings applied, the first
        # health check and the sidebar's sessions done (or failed).
        self.ready = asyncio.Event()
        self.startup = Startup(
            self,
            keymap=dict(keymap or {}),
            theme=theme,
            language_given=language is not None,
            warm_up=warm_up,
            status_hint=status_hint,
        )
        self._sidebar_chosen = False
        self.presenter = EventPresenter(self)
        self.slash = SlashActions(self)

    # --- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Banner(id="banner")
        with Horizontal(id="main"):
            yield SessionSidebar(id="sidebar")
            with Vertical(id="chat"):
                yield Transcript(image_mode=self.renderer, id="transcript")
                yield AttachmentBar(id="attachments")
                yield PromptInput(id="prompt")
        yield StatusBar(id="status")
        yield ChatFooter()

    @property
    def transcript(self) -> Transcript:
        return self.query_one(Transcript)

    @property
    def prompt(self) -> PromptInput:
        return self.query_one(PromptInput)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def banner(self) -> Banner:
        return self.query_one(Banner)

    async def on_mount(self) -> None:
        self.startup.first_frame()
        self.prompt.focus()
        for path in self._initial_attachments:
            await self.attach(path)
        self.set_interval(self.health_interval, self.check_health)

    def apply_language(self, lang: Language) -> None:
        """Switch the app's words to ``lang`` (tui.language, known only after the first paint)."""
        if lang == language():
            return
        set_language(lang)
        translate_bindings(self)
        # The footer recomposes from the bindings; the rest re-reads the catalogue.
        self.refresh_bindings()
        self.status.refresh()
        self.query_one(SessionSidebar).retranslate()
        self.watch_busy(self.busy)

    def on_resize(self) -> None:
        if not self._sidebar_chosen:
            self.show_sidebar = self.size.width >= SIDEBAR_MIN_WIDTH

    def watch_show_sidebar(self, shown: bool) -> None:
        self.query_one(SessionSidebar).display = shown

    def watch_show_thoughts(self, shown: bool) -> None:
        self.query_one(Transcript).set_class(not shown, "-hide-thoughts")

    def watch_busy(self, busy: bool) -> None:
        self.status.activity = t("activity.answering") if busy else ""

    # --- asking -------------------------------------------------------------------------------

    @on(PromptInput.Submitted)
    async def submitted(self, message: PromptInput.Submitted) -> None:
        parsed = parse_slash(message.text)
        if parsed is not None:
            await self.run_slash(*parsed)
            return
        if self.busy:
            self.prompt.load_text(message.text)
            self.notify(t("notify.busy"), severity="warning")
            return
        question = message.text[1:] if message.text.startswith("//") else message.text
        attachments, self.pending = self.pending, []
        self.query_one(AttachmentBar).show([])
        await self.transcript.add_user(question, attachments)
        self.run_turn(question, [path for _, path in attachments])

    @work(exclusive=True, group="turn", exit_on_error=False)
    async def run_turn(self, question: str, images: list[str]) -> None:
        """One agent run, its events shown as they arrive; errors stay inside the transcript."""
        self.busy = True
        self.presenter.start_run()
        try:
            events = self.services.run(
                question, images, session=self.session_id, approver=self.ask_approval
            )
            async with aclosing(events) as stream:
                async for event in stream:
                    await self.presenter.show(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self.transcript.end_turn()
            await self.transcript.add_error(describe_error(exc))
        finally:
            self.busy = False

    async def ask_approval(self, request: ApprovalRequest) -> bool:
        """The agent's approver: the dialog's answer (Esc and closing it mean no)."""
        from kanjian.tui.screens.approval import ApprovalScreen

        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def done(allowed: bool | None) -> None:
            if not answer.done():
                answer.set_result(bool(allowed))

        self.push_screen(ApprovalScreen(request), callback=done)
        return await answer

    # --- attachments ----------------------------------------------------------------------------

    async def attach(self, path_text: str | Path) -> bool:
        """Queue an image for the next question as the next ``image_N``; False if unusable."""
        path = _image_file(path_text)
        if path is None:
            kinds = ", ".join(sorted(IMAGE_SUFFIXES))
            await self.transcript.add_error(t("error.not_image", path=str(path_text), kinds=kinds))
            return False
        name = f"image_{self.image_count + len(self.pending) + 1}"
        self.pending.append((name, str(path)))
        self.query_one(AttachmentBar).show(self.pending)
        self.prompt.insert(f"[{name}] ")
        return True

    def action_paste_image(self) -> None:
        self.paste_from_clipboard()

    @work(exclusive=True, group="paste", exit_on_error=False)
    async def paste_from_clipboard(self) -> None:
        """Attach the image on the system clipboard, or say in one line why there is none."""
        from kanjian.tui.clipboard import ClipboardError, paste_image

        self.status.activity = t("activity.clipboard")
        try:
            path = await paste_image(self.services.settings.home / "clipboard")
        except ClipboardError as exc:
            await self.transcript.add_error(str(exc))
            return
        except OSError as exc:
            await self.transcript.add_error(
                t("error.clipboard_save", reason=exc, home=self.services.settings.home)
            )
            return
        finally:
            self.watch_busy(self.busy)
        await self.attach(path)

    @on(PromptInput.AttachRequested)
    async def pasted_image(self, message: PromptInput.AttachRequested) -> None:
        await self.attach(message.path)

    # --- slash commands ---------------------------------------------------------------------------

    async def run_slash(self, name: str, arg: str) -> None:
        await self.slash.run(name, arg)

    def palette_command(self, command: SlashCommand) -> None:
        """From the command palette (see :meth:`SlashActions.from_palette`)."""
        self.slash.from_palette(command)

    async def new_conversation(self) -> None:
        """Cancel the run in progress, clear the screen, and start afresh."""
        self.workers.cancel_group(self, "turn")
        await self._reset_conversation()
        self.prompt.focus()

    async def _reset_conversation(self) -> None:
        await self.transcript.clear()
        self.session_id = None
        self.image_count = 0
        self.pending = []
        self.query_one(AttachmentBar).show([])
        self.status.image_tokens = 0
        self.status.cached_tokens = 0
        self.status.prompt_tokens = 0

    def show_sessions(self) -> None:
        """Open the session picker and put the cursor in its search box."""
        self.show_sidebar = True
        self._sidebar_chosen = True
        self.query_one("#session-search").focus()

    # --- sessions ------------------------------------------------------------------------------------

    @property
    def session_query(self) -> str:
        """What the sidebar's search box holds."""
        return str(self.query_one("#session-search", Input).value)

    @on(SessionSidebar.Search)
    def sidebar_search(self, message: SessionSidebar.Search) -> None:
        self.refresh_sessions(message.query)

    @on(SessionSidebar.Selected)
    def sidebar_selected(self, message: SessionSidebar.Selected) -> None:
        self.resume_session(message.session_id)

    @on(RecallRow.Selected)
    def recalled_selected(self, message: RecallRow.Selected) -> None:
        self.resume_session(message.session_id)

    @work(exclusive=True, group="sessions", exit_on_error=False)
    async def refresh_sessions(self, query: str) -> None:
        try:
            sessions = await self.services.sessions(query)
        except Exception as exc:
            self.log.warning(f"sessions unavailable: {exc}")
            sessions = []
        self.query_one(SessionSidebar).sessions = tuple(sessions)

    @work(exclusive=True, group="turn", exit_on_error=False)
    async def resume_session(self, session_id: str) -> None:
        """Show a past conversation, images included, and continue it."""
        try:
            turns = await self.services.load_session(session_id)
        except Exception as exc:
            await self.transcript.add_error(describe_error(exc))
            return
        # This worker is in the "turn" group: reset without cancelling the group (itself).
        await self._reset_conversation()
        self.session_id = session_id
        from kanjian.agent.events import ImageAdded

        for turn in turns:
            await self.transcript.add_user(turn.question, list(turn.images))
            for name, path in turn.images:
                await self.presenter.image_added(ImageAdded(name, path, *_image_size(path)))
            await self.transcript.answer_done(turn.answer)
        self.notify(t("notify.resumed", session=session_id, turns=len(turns)))

    # --- control -----------------------------------------------------------------------------------

    async def action_cancel(self) -> None:
        if not self.busy:
            return
        from kanjian.tui.screens.approval import ApprovalScreen

        if isinstance(self.screen, ApprovalScreen):
            self.screen.dismiss(False)
        self.workers.cancel_group(self, "turn")
        await self.transcript.end_turn()
        await self.transcript.add_note(t("note.cancelled"), kind="cancelled")
        self.busy = False

    def action_toggle_sidebar(self) -> None:
        self._sidebar_chosen = True
        self.show_sidebar = not self.show_sidebar

    def action_toggle_thoughts(self) -> None:
        self.show_thoughts = not self.show_thoughts

    def action_expand_tools(self) -> None:
        rows = list(self.transcript.query("ToolRow"))
        collapse = any(not row.collapsed for row in rows)  # type: ignore[attr-defined]
        for row in rows:
            row.collapsed = collapse  # type: ignore[attr-defined]

    async def action_new_chat(self) -> None:
        await self.new_conversation()

    @work(exclusive=True, group="health", exit_on_error=False)
    async def check_health(self) -> None:
        """Poll the server; the banner says what is wrong and clears itself on reconnect."""
        health = await self.services.health()
        before = self.status.health
        self.status.health = "ok" if health.ok else "down"
        if health.ok:
            self.status.model = health.model or self.services.model
            self.banner.message = ""
            if before == "down":
                self.notify(t("notify.reconnected", server=self.services.server))
        elif before == "ok":
            self.banner.message = t(
                "banner.lost",
                server=self.services.server,
                detail=health.detail,
                seconds=self.health_interval,
            )
        else:
            self.banner.message = no_server_banner(self.services.server, health.detail)

    async def on_unmount(self) -> None:
        await self.services.aclose()


def _image_file(path_text: str | Path) -> Path | None:
    path = Path(str(path_text)).expanduser()
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        return path.resolve()
    return None


def _image_size(path: str) -> tuple[int, int]:
    try:
        from PIL import Image

        with Image.open(path) as img:
            return img.size
    except OSError:
        return (0, 0)
