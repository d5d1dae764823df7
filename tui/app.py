"""The Textual chat app behind ``kanjian chat``.

The app holds a :class:`~tui.chat_controller.ChatServices` and nothing else from kanjian:
a question starts a ``turn`` worker that walks the agent's event stream and hands each event
to the :class:`~tui.widgets.transcript.Transcript`; Esc cancels that worker, which closes
the agent's run. A ``health`` worker polls the server every few seconds and drives the
banner, so a server that goes away (or was never there) never takes the conversation with
it. Slash commands and the command palette share one table (:mod:`kanjian.tui.slash_commands`).

Start-up is ordered for the first paint: the first screen needs Textual and this package's
widgets only. After it is on the terminal, ``start_services`` loads the settings (when
``kanjian chat`` handed over a loader) and imports httpx and the memory store in a thread,
then starts the health check and the sidebar; the warm-up thread imports textual-image and
LangChain. The approval dialog, the palette's provider and Markdown load on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive

from kanjian.tui.chat_controller import ChatServices, no_server_banner
from kanjian.tui.i18n import (
    Language,
    choose_language,
    language,
    set_language,
    t,
    translate_bindings,
)
from kanjian.tui.slash_commands import IMAGE_SUFFIXES, SlashCommand, help_markdown, parse_slash
from kanjian.tui.widgets.banner import Banner
from kanjian.tui.widgets.graphics import prepare_graphics
from kanjian.tui.widgets.prompt import AttachmentBar, PromptInput
from kanjian.tui.widgets.sidebar import SessionSidebar
from kanjian.tui.widgets.status import ChatFooter, StatusBar
from kanjian.tui.widgets.transcript import Transcript

if TYPE_CHECKING:
    from textual.command import Provider

    from kanjian.agent.events import ApprovalRequest, Event, UsageEvent

__all__ = ["KanjianApp"]

# The sidebar takes 30 columns; below this width the chat gets the whole screen by default.
SIDEBAR_MIN_WIDTH = 100
# After the first frame, how long the screen gets to reach the terminal before heavy work.
SETTLE_S = 0.1


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
        self._language_given = language is not None
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
        # Given here, these win over the settings' tui.keymap and tui.theme.
        self._keymap = dict(keymap or {})
        self._theme_name = theme
        self._settings_applied = False
        # Settings that failed to load after the first paint (the app then exits).
        self.startup_error: Exception | None = None
        # Set when the start after the first paint is over: settings applied, the first
        # health check and the sidebar's sessions done (or failed).
        self.ready = asyncio.Event()
        self._warm_up = warm_up
        # (server, model) the settings will name, for the first frame (see chat_launch).
        self._status_hint = status_hint
        self._sidebar_chosen = False
        self._stream_started = 0.0
        self._stream_deltas = 0
        self._rate_shown = 0.0

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
        if self.services.settings_loaded:
            self._settings_ready()
        elif self._status_hint is not None:
            self.status.server, self.status.model = self._status_hint
        self.prompt.focus()
        for path in self._initial_attachments:
            await self.attach(path)
        self.set_interval(self.health_interval, self.check_health)
        # Everything that loads heavy modules waits until the first screen is on the terminal.
        self.call_after_refresh(self._after_first_paint)

    def _settings_ready(self) -> None:
        """Apply what the settings say: keymap, theme, server; resume a session if asked."""
        self._settings_applied = True
        tui = self.services.settings.tui
        if not self._language_given and tui.language != "auto":
            self.apply_language(choose_language(tui.language))
        self._apply_keymap_and_theme(
            dict(self._keymap or tui.keymap), self._theme_name or tui.theme
        )
        self.status.server = self.services.server
        self.status.model = self.services.model
        if self.session_id:
            self.resume_session(self.session_id)

    def _apply_keymap_and_theme(self, keymap: dict[str, str], theme: str) -> None:
        if keymap:
            self.set_keymap(keymap)
        if theme in self.available_themes:
            self.theme = theme
        else:
            names = ", ".join(sorted(self.available_themes))
            self.notify(t("notify.theme", theme=theme, names=names), severity="warning")

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

    def _after_first_paint(self) -> None:
        # Textual's writer thread and the terminal still have to put that frame out; a busy
        # import thread started now would hold them up (the GIL) by ~0.1 s.
        self.set_timer(SETTLE_S, self.start_services)

    @work(group="start", exit_on_error=False)
    async def start_services(self) -> None:
        """Settings, health and the sidebar, loaded off the event loop after the first paint."""
        try:
            await self._start_services()
        finally:
            self.ready.set()

    async def _start_services(self) -> None:
        # pydantic, httpx and the memory store's modules take a while to import; on the event
        # loop they would hold up keys and paints. The settings come first, alone: the status
        # bar names the server as soon as they are in, not after every other import.
        try:
            await asyncio.to_thread(self.services.load_settings)
        except Exception as exc:
            if self.services.settings_loaded:
                raise
            # Bad settings: leave, and let the launcher print the sentence.
            self.startup_error = exc
            self.exit(return_code=int(getattr(exc, "exit_code", 1)))
            return
        if not self._settings_applied:
            self._settings_ready()
        await asyncio.to_thread(self.services.preload)
        started = [self.check_health(), self.refresh_sessions("")]
        if self._warm_up:
            self.warm_up()
        for worker in started:
            await worker.wait()

    @work(thread=True, group="warm-up", exit_on_error=False)
    def warm_up(self) -> None:
        """Import the agent (LangChain) and textual-image in the background.

        The first question then starts fast, and the first image shows without a wait.
        """
        import importlib

        from kanjian.tui.widgets.graphics import image_widget_class

        image_widget_class(self.renderer)
        for name in ("kanjian.agent.loop", "kanjian.vlm.client"):
            # A part not installed shows its own error when first used.
            with contextlib.suppress(ImportError):
                importlib.import_module(name)

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
        self._stream_deltas = 0
        try:
            events = self.services.run(
                question, images, session=self.session_id, approver=self.ask_approval
            )
            async with aclosing(events) as stream:
                async for event in stream:
                    await self.show_event(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self.transcript.end_turn()
            await self.transcript.add_error(_describe(exc))
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

    async def show_event(self, event: Event) -> None:
        """Put one agent event on the screen."""
        from kanjian.agent import events as ev

        transcript = self.transcript
        if isinstance(event, ev.ImageAdded):
            await self._image_added(event)
        elif isinstance(event, ev.StepStarted):
            self.status.activity = t("activity.step", step=event.step)
        elif isinstance(event, ev.Thought):
            await transcript.add_thought(event.text)
        elif isinstance(event, ev.ToolCallEvent):
            self.status.activity = t("activity.running", tool=event.tool)
            await transcript.start_tool(event)
        elif isinstance(event, ev.ApprovalRequest):
            self.status.activity = t("activity.approval", tool=event.tool)
        elif isinstance(event, ev.ToolResultEvent):
            await transcript.finish_tool(event)
        elif isinstance(event, ev.AnswerDelta):
            self._count_delta()
            await transcript.answer_delta(event.text)
        elif isinstance(event, ev.AnswerDone):
            await transcript.answer_done(event.text, event.evidence)
        elif isinstance(event, ev.UsageEvent):
            self._usage(event)
        elif isinstance(event, ev.ErrorEvent):
            await transcript.end_turn()
            await transcript.add_error(event.message)
        elif isinstance(event, ev.RunFinished):
            self.session_id = event.session or self.session_id

    async def _image_added(self, event: Any) -> None:
        number = event.image_id.removeprefix("image_")
        if number.isdigit():
            self.image_count = max(self.image_count, int(number))
        # A figure the status bar can do without, should tiling be unavailable.
        with contextlib.suppress(ImportError, ValueError):
            self.status.image_tokens += self.services.image_tokens(event.width, event.height)
        await self.transcript.add_image(event)

    def _count_delta(self) -> None:
        now = time.perf_counter()
        if self._stream_deltas == 0:
            self._stream_started = now
        self._stream_deltas += 1
        elapsed = now - self._stream_started
        # A few updates a second are plenty to read; one per token would repaint the bar
        # hundreds of times a second.
        if elapsed > 0.2 and now - self._rate_shown >= 0.25:
            self._rate_shown = now
            # Servers stream about one token per chunk: a live estimate until usage arrives.
            self.status.tokens_per_s = self._stream_deltas / elapsed

    def _usage(self, event: UsageEvent) -> None:
        usage = event.usage
        self.status.prompt_tokens = usage.prompt_tokens
        self.status.cached_tokens = usage.cached_tokens
        if event.seconds > 0 and usage.completion_tokens:
            self.status.tokens_per_s = usage.completion_tokens / event.seconds

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
        handler = getattr(self, f"_slash_{name}")
        await handler(arg)

    def palette_command(self, command: SlashCommand) -> None:
        """From the command palette: fill the prompt when an argument is needed, else run."""
        if command.needs_arg:
            self.prompt.load_text(f"/{command.name} ")
            self.prompt.move_cursor(self.prompt.document.end)
            self.prompt.focus()
        else:
            self.call_later(self.run_slash, command.name, "")

    async def _slash_image(self, arg: str) -> None:
        if not arg:
            await self.transcript.add_error(t("error.image_needs_path"))
            return
        await self.attach(arg.strip("'\""))

    async def _slash_paste(self, arg: str) -> None:
        self.paste_from_clipboard()

    async def _slash_ocr(self, arg: str) -> None:
        path = arg.strip("'\"") or self._latest_image()
        if not path:
            await self.transcript.add_error(t("error.ocr_needs_image"))
            return
        self.direct(t("direct.ocr"), self.services.ocr(path))

    async def _slash_math(self, arg: str) -> None:
        if not arg:
            await self.transcript.add_error(t("error.math_needs_expr"))
            return
        self.direct(t("direct.math"), self.services.math(arg))

    async def _slash_memory(self, arg: str) -> None:
        if not arg:
            await self.transcript.add_error(t("error.memory_needs_query"))
            return
        self.direct(t("direct.memory"), self.services.memory_markdown(arg))

    async def _slash_tools(self, arg: str) -> None:
        self.direct(t("direct.tools"), self.services.tools_markdown())

    async def _slash_model(self, arg: str) -> None:
        status = self.status
        health = t(f"status.health.{status.health}")
        await self.transcript.add_note(
            t("note.model", server=self.services.server, model=status.model, health=health)
        )

    async def _slash_new(self, arg: str) -> None:
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

    async def _slash_resume(self, arg: str) -> None:
        if not arg:
            self.show_sidebar = True
            self._sidebar_chosen = True
            self.query_one("#session-search").focus()
            return
        self.resume_session(arg)

    async def _slash_export(self, arg: str) -> None:
        target = _export_path(arg, self.session_id)
        text = "\n\n".join(self.transcript.log_lines) + "\n"
        try:
            await asyncio.to_thread(target.write_text, text, encoding="utf-8")
        except OSError as exc:
            await self.transcript.add_error(
                t("error.export", path=str(target), reason=exc.strerror)
            )
            return
        self.notify(t("notify.saved", target=target))

    async def _slash_help(self, arg: str) -> None:
        keys = [
            (binding.key, binding.description)
            for _key, binding in self._bindings
            if binding.description and binding.id and binding.id.startswith("kanjian.")
        ]
        keys += [
            ("enter", t("key.send")),
            ("ctrl+j", t("key.newline")),
            ("up/down", t("key.history")),
            ("ctrl+p", t("key.palette")),
        ]
        await self.transcript.add_note(help_markdown(keys))

    async def _slash_quit(self, arg: str) -> None:
        self.exit()

    def _latest_image(self) -> str | None:
        if self.pending:
            return self.pending[-1][1]
        views = self.transcript.query("ImageView")
        return str(views.last().path) if views else None  # type: ignore[attr-defined]

    @work(group="direct", exit_on_error=False)
    async def direct(self, what: str, job: Any) -> None:
        """A command that needs no model (/ocr, /math, /memory, /tools): result or error inline."""
        self.status.activity = t("activity.direct", what=what)
        try:
            await self.transcript.add_note(await job, kind="direct")
        except Exception as exc:
            await self.transcript.add_error(_describe(exc))
        finally:
            self.watch_busy(self.busy)

    # --- sessions ------------------------------------------------------------------------------------

    @on(SessionSidebar.Search)
    def sidebar_search(self, message: SessionSidebar.Search) -> None:
        self.refresh_sessions(message.query)

    @on(SessionSidebar.Selected)
    def sidebar_selected(self, message: SessionSidebar.Selected) -> None:
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
            await self.transcript.add_error(_describe(exc))
            return
        # This worker is in the "turn" group: reset without cancelling the group (itself).
        await self._reset_conversation()
        self.session_id = session_id
        from kanjian.agent.events import ImageAdded

        for turn in turns:
            await self.transcript.add_user(turn.question, list(turn.images))
            for name, path in turn.images:
                await self._image_added(ImageAdded(name, path, *_image_size(path)))
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
        await self._slash_new("")

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


def _describe(exc: BaseException) -> str:
    """One sentence for an error inside the transcript: ours as is, others with their type."""
    from kanjian.vlm.errors import KanjianError

    if isinstance(exc, KanjianError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _image_file(path_text: str | Path) -> Path | None:
    path = Path(str(path_text)).expanduser()
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        return path.resolve()
    return None


def _export_path(arg: str, session_id: str | None) -> Path:
    if arg:
        return Path(arg).expanduser()
    return Path.cwd() / f"kanjian-{session_id or 'chat'}-{time.strftime('%Y%m%d-%H%M%S')}.md"


def _image_size(path: str) -> tuple[int, int]:
    try:
        from PIL import Image

        with Image.open(path) as img:
            return img.size
    except OSError:
        return (0, 0)
