"""kanjian installs as ``kanjian.*`` only (issue 12): a user's own ``tools/`` or ``agent/``
folder, or PyPI's ``tools`` package, can never shadow or merge with kanjian's packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
from kanjian.tools import tool
from kanjian.agent.loop import Agent

import agent
import tools


@tool
def shout(text: str) -> str:
    '''Say it louder.'''
    return text.upper()


print(tools.OWNER, agent.OWNER, shout.name, Agent.__module__)
"""


def test_a_script_beside_its_own_tools_and_agent_packages_imports_both(tmp_path: Path) -> None:
    for package in ("tools", "agent"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(f"OWNER = 'my {package}'\n")
    (tmp_path / "script.py").write_text(SCRIPT)
    # As a user runs it: from its folder, which Python puts first on sys.path.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path[1:]])}
    done = subprocess.run(
        [sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["my", "tools", "my", "agent", "shout", "kanjian.agent.loop"]


@pytest.mark.slow
def test_the_wheel_holds_only_the_kanjian_package(tmp_path: Path) -> None:
    source = tmp_path / "src"
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        origin = REPO / name
        if origin.is_symlink():
            target.symlink_to(os.readlink(origin))
        elif origin.is_file():
            shutil.copyfile(origin, target)
    out = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         ".", "-w", str(out)],
        cwd=source, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = out.glob("kanjian-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {
        "kanjian",
        wheel.name.split("-py3")[0] + ".dist-info",
    }
    # Every package folder travels inside kanjian/, with its data files.
    for path in ("kanjian/tools/base.py", "kanjian/agent/loop.py", "kanjian/vlm/prompts/system.md"):
        assert path in names
