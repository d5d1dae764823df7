"""The tools the agent may call, and how they are found.

:class:`ToolRegistry` is an ordered set of :class:`~tools.base.Tool` by name. :func:`load_tools`
fills one from every source, in this order:

1. entry points in the ``kanjian.tools`` group. The built-ins are one of them
   (``builtin = "kanjian.tools.builtin:register"``), so they load exactly the way a third-party
   plugin does. An entry point names a ``register(registry)`` hook, a Tool, a list of tools,
   or a module whose module-level tools are taken.
2. plugin files: ``settings.plugin_dir/*.py`` (default ``$KANJIAN_HOME/plugins``), each
   imported on its own; a file's ``register(registry)`` hook if it has one, else its
   module-level ``@tool`` functions (and LangChain tools).
3. MCP servers from ``[tools.mcp.<name>]`` in the config (:mod:`kanjian.tools.mcp`).

Then ``settings.tools.disabled`` (names or glob patterns) is applied.

A plugin that fails to import, raises in its hook, defines a broken tool or takes longer than
the load timeout is reported as a :class:`PluginProblem` and skipped; it never takes the
agent down. Each plugin registers into a registry of its own first, so a plugin that fails
half-way adds nothing.

Tool results are data, never instructions: nothing a tool returns can approve a side-effect
tool or change what the agent may do (approval comes only from the user; see
:mod:`kanjian.tools.wrappers`).
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import importlib.util
import re
import sys
import threading
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kanjian.tools.base import Tool
from kanjian.tools.errors import ToolDefinitionError, ToolError, ToolInputError
from kanjian.tools.isolation import plugin_code

if TYPE_CHECKING:
    from kanjian.tools.settings import ToolConfig

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginProblem",
    "ToolRegistry",
    "aload_tools",
    "coerce_tools",
    "load_tools",
]

ENTRY_POINT_GROUP = "kanjian.tools"
BUILTIN_HOOK = "kanjian.tools.builtin:register"
# Seconds a plugin may take to import and register before it is reported and skipped.
DEFAULT_LOAD_TIMEOUT = 20.0

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PluginProblem:
    """A plugin that was skipped, and why (one sentence)."""

    # "entry point colors (kanjian-colors)", "plugin file notes.py", "mcp server files".
    source: str
    message: str


class ToolRegistry:
    """Tools by name, in the order they were added."""

    def __init__(self, tools: Iterable[Tool] = (), *, source: str | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        # When set, every tool added is labelled with it (a plugin's own staging registry).
        self.source = source
        for item in tools:
            self.add(item)

    def add(self, item: Any) -> Tool:
        """Add a Tool, a function (made into one with ``@tool``) or a LangChain tool."""
        tools = coerce_tools(item)
        if len(tools) != 1:
            raise ToolDefinitionError(
                f"registry.add takes one tool at a time, not {len(tools)}; call it once per tool."
            )
        tool = tools[0]
        if self.source is not None and tool.source != self.source:
            tool = replace(tool, source=self.source)
        _check_tool(tool)
        if tool.name in self._tools:
            other = self._tools[tool.name]
            raise ToolDefinitionError(
                f"Tool name {tool.name!r} from {tool.source} is already taken by "
                f"{other.source}; rename one of them or disable one in tools.disabled."
            )
        self._tools[tool.name] = tool
        return tool

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            known = ", ".join(self._tools) or "none"
            raise ToolInputError(f"There is no tool {name!r}; the tools are: {known}.") from None

    def names(self) -> list[str]:
        return list(self._tools)

    def tools(self) -> list[Tool]:
        return list(self._tools.values())

    def filtered(self, disabled: Iterable[str]) -> ToolRegistry:
        """A copy without the tools whose name matches any of ``disabled`` (globs allowed)."""
        patterns = list(disabled)
        kept = [t for t in self._tools.values() if not _matches(t.name, patterns)]
        return ToolRegistry(kept)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"ToolRegistry({self.names()!r})"


def _matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _check_tool(tool: Tool) -> None:
    from kanjian.tools.decorator import validate_name

    validate_name(tool.name)
    if not tool.description.strip():
        raise ToolDefinitionError(
            f"Tool {tool.name!r} has an empty description; give it one line that says what it does."
        )
    if tool.args_schema.get("type") != "object":
        raise ToolDefinitionError(
            f"Tool {tool.name!r} has args schema {tool.args_schema!r}; it must be a JSON "
            'schema with "type": "object".'
        )


def coerce_tools(item: Any) -> list[Tool]:
    """Tools from what a plugin offers: a Tool, a function, a LangChain tool, or a list."""
    if isinstance(item, Tool):
        return [item]
    if isinstance(item, (list, tuple)):
        return [tool for element in item for tool in coerce_tools(element)]
    if _is_langchain_tool(item):
        from kanjian.tools.langchain_tools import from_langchain

        return [from_langchain(item)]
    if callable(item) and not isinstance(item, type):
        from kanjian.tools.decorator import make_tool

        return [make_tool(item)]
    raise ToolDefinitionError(
        f"{item!r} is not a tool; offer a @tool function, a Tool, a LangChain BaseTool or a "
        "list of them."
    )


def _is_langchain_tool(item: Any) -> bool:
    # Checked by name so that LangChain is imported only when a plugin actually uses it.
    return any(
        cls.__name__ == "BaseTool" and cls.__module__.startswith("langchain_core.tools")
        for cls in type(item).__mro__
    )


# --- loading -------------------------------------------------------------------------------


def load_tools(
    settings: ToolConfig, *, load_timeout: float | None = None, mcp: bool = True
) -> tuple[ToolRegistry, list[PluginProblem]]:
    """Every tool from every source; problems are reported, never raised.

    ``load_timeout`` (default: ``tools.load_timeout``) bounds each plugin's import and hook.
    """
    limit = settings.tools.load_timeout if load_timeout is None else load_timeout
    loader = _Loader(limit)
    loader.load_entry_points()
    loader.load_plugin_dir(settings.plugin_dir)
    if mcp and settings.tools.mcp:
        loader.load_mcp(settings)
    return loader.registry.filtered(settings.tools.disabled), loader.problems


async def aload_tools(
    settings: ToolConfig, *, load_timeout: float | None = None, mcp: bool = True
) -> tuple[ToolRegistry, list[PluginProblem]]:
    """:func:`load_tools` in a worker thread, so plugin imports never block the event loop."""
    import asyncio

    return await asyncio.to_thread(load_tools, settings, load_timeout=load_timeout, mcp=mcp)


class _Loader:
    """Loads plugins one by one, each into its own registry, merging the ones that work."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.registry = ToolRegistry()
        self.problems: list[PluginProblem] = []

    def load_entry_points(self) -> None:
        found = _kanjian_entry_points()
        if not any(ep.value == BUILTIN_HOOK for ep in found):
            # Running from a source tree that was never pip-installed: same hook, same path.
            self._load("builtin", functools.partial(_call_hook, BUILTIN_HOOK))
        for ep in found:
            self._load(_entry_point_source(ep), functools.partial(_load_entry_point, ep))

    def load_plugin_dir(self, folder: Path) -> None:
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*.py")):
            if not path.name.startswith("_"):
                source = f"plugin file {path.name}"
                self._load(source, functools.partial(_load_plugin_file, path))

    def load_mcp(self, settings: ToolConfig) -> None:
        from kanjian.tools.mcp import load_mcp_tools

        for name, server in settings.tools.mcp.items():
            source = f"mcp server {name}"
            self._load(source, functools.partial(load_mcp_tools, name, server))

    def _load(self, source: str, load: Callable[[ToolRegistry], None]) -> None:
        staging = ToolRegistry(source=source)
        try:
            _run_with_timeout(lambda: load(staging), self.timeout, source)
        except Exception as exc:
            self.problems.append(PluginProblem(source, _describe_failure(exc, source)))
            return
        if not len(staging):
            self.problems.append(PluginProblem(source, _no_tools_message(source)))
        for tool in staging:
            try:
                self.registry.add(tool)
            except ToolDefinitionError as exc:
                self.problems.append(PluginProblem(source, f"{exc} It was skipped."))


class _LoadTimeout(Exception):
    pass


def _run_with_timeout(job: Callable[[], T], timeout: float, source: str) -> T:
    """Run ``job`` in a daemon thread; a hung plugin is abandoned, never waited for."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            with plugin_code():  # a plugin's print() at import must not reach stdout
                outcome["value"] = job()
        except BaseException as exc:  # reported to the caller, whatever it was
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"kanjian-load {source}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise _LoadTimeout(
            f"{source} did not finish loading within {timeout:g} s (tools.load_timeout), so "
            "it was skipped; make its import and register hook fast (load models lazily, on "
            "first call) or raise tools.load_timeout."
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")  # type: ignore[return-value]


def _describe_failure(exc: BaseException, source: str) -> str:
    if isinstance(exc, _LoadTimeout | ToolError):
        return f"{exc}"
    return f"{source} failed to load ({type(exc).__name__}: {exc}), so it was skipped."


def _no_tools_message(source: str) -> str:
    return (
        f"{source} defines no tools; decorate functions with @tool or give it a "
        "register(registry) hook."
    )


def _kanjian_entry_points() -> list[EntryPoint]:
    seen: set[tuple[str, str]] = set()
    unique: list[EntryPoint] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if (ep.name, ep.value) not in seen:
            seen.add((ep.name, ep.value))
            unique.append(ep)
    # Built-ins first, so their names win and the prompt's tool list starts the same way.
    return sorted(unique, key=lambda ep: (ep.value != BUILTIN_HOOK, ep.name))


def _entry_point_source(ep: EntryPoint) -> str:
    if ep.value == BUILTIN_HOOK:
        return "builtin"
    dist = getattr(ep, "dist", None)
    return f"entry point {ep.name} ({dist.name})" if dist is not None else f"entry point {ep.name}"


def _load_entry_point(ep: EntryPoint, staging: ToolRegistry) -> None:
    _offer(ep.load(), staging)


def _call_hook(value: str, staging: ToolRegistry) -> None:
    module_name, _, attr = value.partition(":")
    module = importlib.import_module(module_name)
    _offer(getattr(module, attr), staging)


def _offer(obj: Any, staging: ToolRegistry) -> None:
    """Register what an entry point or plugin named: hook, module, Tool or list of tools."""
    if isinstance(obj, types.ModuleType):
        _collect_module(obj, staging)
    elif isinstance(obj, (Tool, list, tuple)) or _is_langchain_tool(obj):
        for tool in coerce_tools(obj):
            staging.add(tool)
    elif callable(obj):
        obj(staging)
    else:
        raise ToolDefinitionError(
            f"{obj!r} is neither a register(registry) hook nor a tool; point the entry "
            "point at one of those."
        )


def _load_plugin_file(path: Path, staging: ToolRegistry) -> None:
    module = _import_file(path)
    _collect_module(module, staging)


def _import_file(path: Path) -> types.ModuleType:
    # A unique module name per file path, so two folders' "notes.py" never collide.
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    stem = re.sub(r"\W", "_", path.stem)
    name = f"kanjian_plugin_{stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ToolDefinitionError(f"Plugin file '{path}' cannot be imported as Python.")
    module = importlib.util.module_from_spec(spec)
    # In sys.modules while it runs: dataclasses and pydantic look their module up there.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _collect_module(module: types.ModuleType, staging: ToolRegistry) -> None:
    hook = getattr(module, "register", None)
    if callable(hook) and not isinstance(hook, Tool):
        hook(staging)
        return
    for value in list(vars(module).values()):
        if _defined_in(value, module) or _is_langchain_tool(value):
            staging.add(value)


def _defined_in(value: Any, module: types.ModuleType) -> bool:
    """A module-level Tool that this module made (not one it imported from elsewhere)."""
    if not isinstance(value, Tool):
        return False
    function = getattr(value, "function", None)
    return function is None or getattr(function, "__module__", None) == module.__name__
