"""``kanjian doctor``: what is reachable, installed and configured, and from where."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kanjian.tools.ocr.engine import model_files
from kanjian.vlm.fake_server import ScriptedServer
from tests.cli.conftest import KanjianRunner


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer(model="OpenGVLab/InternVL-Chat-V1-5") as srv:
        yield srv


def checks(stdout: str) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in json.loads(stdout)["checks"]}


def test_healthy_server_model_and_tile_rule(
    kanjian: KanjianRunner, server: ScriptedServer, _hermetic_env: Path
) -> None:
    result = kanjian("doctor", "--json", "--url", server.url)
    assert result.returncode == 0, result.stderr
    found = checks(result.stdout)
    assert found["server"]["status"] == "ok"
    assert found["model"]["detail"] == "OpenGVLab/InternVL-Chat-V1-5 (tile rule: sglang)"
    assert found["ocr"]["status"] == "ok"
    # What the OCR tool loads, not every model the rapidocr wheel ships (it has a direction
    # classifier the tool does not run).
    det, rec = (p.name for p in model_files())
    assert found["ocr"]["detail"] == f"detection {det}, recognition {rec} on onnxruntime (CPU)"
    assert "cls" not in found["ocr"]["detail"]
    assert found["memory"]["detail"].startswith(str(_hermetic_env / "memory"))


def test_unreachable_server_fails_with_the_fix(kanjian: KanjianRunner) -> None:
    result = kanjian("doctor", "--json", "--url", "http://127.0.0.1:9")
    assert result.returncode == 1
    server = checks(result.stdout)["server"]
    assert server["status"] == "fail"
    assert "kanjian serve-model" in server["detail"]


def test_shows_where_each_setting_came_from(
    kanjian: KanjianRunner, server: ScriptedServer, _hermetic_env: Path
) -> None:
    (_hermetic_env / "config.toml").write_text(
        '[agent]\nmax_steps = 4\n[vlm]\nmodel = "from-config"\n'
    )
    result = kanjian("doctor", "--url", server.url, env={"KANJIAN_VLM__MODEL": "from-env"})
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    assert rows["agent.max_steps"][1:] == ["4", "config"]
    assert rows["vlm.model"][1:] == ["from-env", "env", "KANJIAN_VLM__MODEL"]
    assert rows["vlm.url"][1:] == [server.url, "flag"]
    assert rows["vlm.retries"][1:] == ["3", "default"]
