"""What ``kanjian doctor`` checks: server, model, the OCR models the tool loads, memory, GPU, versions, settings.

Each check is a small function returning a :class:`Check`; none raises. The command prints
them as a table (or JSON) and exits 1 when a check that blocks the main job failed.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from kanjian.agent.config import Settings

__all__ = ["Check", "run_checks"]

Status = Literal["ok", "warn", "fail", "info"]
VERSIONED = (
    "kanjian", "httpx", "pydantic", "langchain", "langgraph", "chromadb", "textual",
    "rapidocr", "onnxruntime", "sympy", "torch", "transformers", "sglang",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def run_checks(settings: Settings) -> list[Check]:
    checks = [*await _server_checks(settings)]
    checks += [_local_backend_check(settings), _ocr_check(), _memory_check(settings), _gpu_check()]
    checks += [_config_check(settings), _versions_check()]
    return checks


async def _server_checks(settings: Settings) -> list[Check]:
    from kanjian.agent.backends import http_backend
    from kanjian.vlm.errors import VLMError

    url = settings.vlm.url
    source = settings.sources.get("vlm.url", "default")
    async with http_backend(settings) as client:
        try:
            state = await client.health()
        except VLMError as exc:
            return [Check("server", "fail", f"{url} ({source}): {exc}")]
        if state != "ok":
            return [Check("server", "warn", f"{url} ({source}): up, still loading the model")]
        try:
            info = await client.model_info()
        except VLMError as exc:
            return [
                Check("server", "ok", f"{url} ({source}): healthy"),
                Check("model", "warn", str(exc)),
            ]
    return [
        Check("server", "ok", f"{url} ({source}): healthy"),
        Check("model", "ok", f"{info.model} (tile rule: {info.tile_rule})"),
    ]


def _local_backend_check(settings: Settings) -> Check:
    from kanjian.agent.backends import local_available, local_model_present

    name = settings.vlm.local_model
    if not local_available():
        return Check("local backend", "info", "not installed (pip install 'kanjian[local]')")
    if not local_model_present(name):
        fix = f"huggingface-cli download {name}, or set KANJIAN_LOCAL_MODEL to a checkpoint folder"
        return Check("local backend", "warn", f"installed; checkpoint {name!r} not on disk ({fix})")
    return Check("local backend", "ok", f"installed; checkpoint {name!r} on disk")


def _ocr_check() -> Check:
    """The two models the OCR tool loads (not every file the rapidocr wheel ships)."""
    from kanjian.tools.errors import ToolFailed
    from kanjian.tools.ocr.engine import model_files

    try:
        models = model_files()
    except ToolFailed as exc:
        return Check("ocr", "fail", str(exc))
    missing = [p for p in models if not p.is_file()]
    if missing:
        names = ", ".join(p.name for p in missing)
        fix = "pip install --force-reinstall 'rapidocr>=3,<4'"
        return Check("ocr", "fail", f"{names} missing from {missing[0].parent} ({fix})")
    # Found, not imported: onnxruntime's import alone takes a noticeable part of a second.
    if importlib.util.find_spec("onnxruntime") is None:
        return Check("ocr", "fail", "onnxruntime is not installed (pip install onnxruntime)")
    det, rec = (p.name for p in models)
    return Check("ocr", "ok", f"detection {det}, recognition {rec} on onnxruntime (CPU)")


def _memory_check(settings: Settings) -> Check:
    if not settings.memory.enabled:
        return Check("memory", "info", "disabled (memory.enabled = false)")
    where = settings.memory.url or "embedded chromadb"
    path = settings.memory_dir
    state = "exists" if path.exists() else "will be created"
    return Check("memory", "ok", f"{path} ({state}); vector index: {where}")


def _gpu_check() -> Check:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return Check("gpu", "info", "no NVIDIA GPU found (nvidia-smi absent): use a remote --url")
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return Check("gpu", "warn", f"nvidia-smi failed: {exc}")
    return Check("gpu", "ok", out.replace("\n", "; "))


def _config_check(settings: Settings) -> Check:
    path = settings.config_path
    file = str(path) if path else "none (defaults)"
    overridden = ", ".join(f"{k} from {v}" for k, v in sorted(settings.sources.items()))
    return Check("config", "info", f"file: {file}; set: {overridden or 'nothing'}")


def _versions_check() -> Check:
    found = [f"python {platform.python_version()}"]
    for name in VERSIONED:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return Check("versions", "info", ", ".join(found))
