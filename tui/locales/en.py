"""English: the reference catalogue; every other language has exactly these keys and fields."""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    # Key bindings, as the footer and /help name them.
    "key.cancel": "Cancel",
    "key.sidebar": "Sessions",
    "key.thoughts": "Thoughts",
    "key.new": "New",
    "key.tools": "Tools ±",
    "key.quit": "Quit",
    "key.paste_image": "Paste image",
    "key.approve": "Allow",
    "key.deny": "Deny",
    "key.send": "send",
    "key.newline": "new line",
    "key.history": "history",
    "key.palette": "command palette",
    "key.palette_footer": "palette",
    # The status bar.
    "status.health.ok": "ok",
    "status.health.down": "down",
    "status.health.checking": "checking",
    "status.rate": "{rate:.0f} tok/s",
    "status.cached": "cached {cached}/{prompt}",
    "status.image_tokens": "img {tokens} tok",
    "activity.answering": "answering… (Esc cancels)",
    "activity.step": "step {step}… (Esc cancels)",
    "activity.running": "running {tool}… (Esc cancels)",
    "activity.approval": "waiting for approval of {tool}",
    "activity.clipboard": "reading the clipboard…",
    "activity.direct": "{what}…",
    "direct.ocr": "OCR",
    "direct.math": "math",
    "direct.memory": "memory search",
    "direct.tools": "tools",
    # Slash commands: the help text, the palette's descriptions.
    "cmd.image": "attach an image to the next question (Tab completes)",
    "cmd.paste": "attach the image on the system clipboard (Ctrl+Shift+V)",
    "cmd.ocr": "read the text in an image (no model needed)",
    "cmd.math": "solve or simplify with SymPy (no model needed)",
    "cmd.new": "start a new conversation",
    "cmd.resume": "resume a past conversation with its images",
    "cmd.memory": "search past conversations",
    "cmd.tools": "list the tools the agent can use",
    "cmd.model": "show the server, the model and its health",
    "cmd.export": "save this conversation as Markdown",
    "cmd.help": "show these commands and the keys",
    "cmd.quit": "leave kanjian",
    "help.commands": "Commands",
    "help.keys": "Keys",
    # Notes, notifications and errors inside the app.
    "note.cancelled": "_Cancelled._",
    "note.model": "**Server** `{server}` · **model** `{model}` · **health** {health}",
    "notify.busy": "Still answering; press Esc to cancel first.",
    "notify.theme": "Theme {theme!r} is not known; set tui.theme to one of {names}.",
    "notify.saved": "Saved the conversation to {target}.",
    "notify.resumed": "Resumed {session} ({turns} turns).",
    "notify.reconnected": "Reconnected to {server}.",
    "notify.copied": "Copied {lines} lines to the clipboard.",
    "notify.completions": "Completions",
    "error.not_image": (
        "Cannot attach {path!r}: it is not an image file ({kinds}); check the path "
        "(Tab completes after /image)."
    ),
    "error.image_needs_path": "/image needs a path, e.g. /image photo.png (Tab completes).",
    "error.ocr_needs_image": "/ocr needs an image: /ocr PATH, or attach one first.",
    "error.math_needs_expr": "/math needs an expression, e.g. /math x**2 = 4.",
    "error.memory_needs_query": "/memory needs a query, e.g. /memory receipt total.",
    "error.export": "Cannot write {path!r}: {reason}; pick another path.",
    "error.clipboard_save": "Cannot save the clipboard's image ({reason}); check that {home} is writable.",
    # The banner.
    "banner.lost": (
        "Lost the model server at {server!r} ({detail}); retrying every {seconds:g} s. "
        "The conversation is kept."
    ),
    "banner.no_server": (
        "No model server answers at {server!r} ({detail}); start one with "
        "`kanjian serve-model` or point KANJIAN_URL (or --url) at a running server"
    ),
    "banner.no_server_tail": (
        "{reason}. Without a server, the local backend works too "
        "(pip install 'kanjian[local]'); /ocr, /math and /memory need no model."
    ),
    # The clipboard.
    "clip.timeout": (
        "{tool} did not answer within {seconds:g} s; check that the display server is "
        "running, or attach the file with /image PATH."
    ),
    "clip.no_powershell": (
        "{tool} is not on PATH, so the Windows clipboard cannot be read; add PowerShell to "
        "PATH, or attach the file with /image PATH."
    ),
    "clip.xsel_only": (
        "xsel reads text only, so the clipboard's image cannot be read; install xclip "
        "(apt install xclip)."
    ),
    "clip.no_display": (
        "No clipboard here (neither WAYLAND_DISPLAY nor DISPLAY is set, as over SSH); "
        "attach the file with /image PATH instead."
    ),
    "clip.missing_tool": "{tool} is not installed, so the clipboard cannot be read; {fix}.",
    "clip.fix.wl": "install wl-clipboard",
    "clip.fix.xclip": "install xclip (apt install xclip)",
    "clip.fix.osascript": "osascript ships with macOS",
    "clip.no_image": (
        "The clipboard holds no image ({tool} sees {holds}); copy a screenshot or an image "
        "first, or attach a file with /image PATH."
    ),
    "clip.nothing": "nothing",
    "clip.unreadable": "{tool} could not read the clipboard's {mime} ({reason}); copy the image again.",
    "clip.not_base64": (
        "PowerShell printed {text!r} instead of an image; attach the file with /image PATH instead."
    ),
    "clip.bad_image": (
        "The clipboard's {mime} from {tool} is not a readable image ({reason}); copy it again."
    ),
    # Transcript, sidebar, dialogs.
    "image.loading": "loading the picture…",
    "copy.button": "⧉ copy {lang} #{number}",
    "sidebar.search": "search sessions",
    "sidebar.empty": "(no past conversations)",
    "sidebar.turns": "{created} · {turns} turns",
    "approval.question": "Allow the tool {tool!r} to run? It has side effects.",
    "approval.deny": "Deny (n)",
    "approval.allow": "Allow (y)",
    "recall.title.one": "recalled {count} earlier conversation",
    "recall.title.many": "recalled {count} earlier conversations",
    "recall.hint": "Their notes went into this prompt; Enter on one opens it.",
    "recall.item": "{title} · {created} · score {score:.2f}",
    "evidence.title": "Evidence (Enter on one opens the whole image)",
    "evidence.whole": "whole image",
    "evidence.step": "step {step}",
    "evidence.unknown": "not shown in this conversation",
    "evidence.no_image": "{image} is not on disk here, so it cannot be opened.",
    "evidence.close": "Esc closes",
    # Direct commands' results.
    "ocr.title": "**OCR of `{name}`** ({lines} lines)",
    "tools.header": "| tool | what it does | approval |",
    "tools.asks": "asks",
    "memory.none": "No past conversation matches {query!r}.",
    "memory.title": "**Memory** for {query!r}:",
    "memory.resume": "Resume one with `/resume ID`.",
}
