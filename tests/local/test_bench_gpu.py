"""``python -m bench.gpu``: runs end to end on a CPU with the tiny shape, so a GPU run is not its
first; without CUDA the real shapes are one sentence and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.gpu import IMAGES, PATHS, main

pytestmark = pytest.mark.local

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("argv", [[], ["--shape", "1b"], ["--shape", "v1.5"]])
def test_without_cuda_a_real_shape_is_one_sentence(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1
    assert "needs a CUDA GPU" in out and "--shape tiny" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_as_a_command_it_exits_2_without_a_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.gpu"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stdout.count("\n") == 1


@pytest.mark.slow
def test_the_tiny_shape_prints_the_whole_table() -> None:
    done = subprocess.run(
        # --decode static: kanjian takes the static-cache path too (a CPU compiles nothing).
        [
            sys.executable,
            "-m",
            "bench.gpu",
            "--shape",
            "tiny",
            "--tokens",
            "16",
            "--decode",
            "static",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("shape") and "TTFT s" in line for line in lines), done.stdout
    for label, *_ in IMAGES:
        for path in PATHS:
            assert any(label in line and f" {path} " in line for line in lines), (label, path)
    assert sum("ratios: TTFT kanjian/bare static" in line for line in lines) == len(IMAGES)
    assert any("constrained action step (json_schema, xgrammar)" in line for line in lines)
    assert any(line.startswith("tiny: peak memory") for line in lines)
    assert "failed" not in done.stdout
