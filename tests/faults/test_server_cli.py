"""The fault suite through the real ``kanjian ask`` process: what a user sees, and how soon.

Each row plays one misbehaviour of the model server and checks the exit code, what reaches
stdout and stderr, and that the process ends within a bound (none waits a full read timeout
it does not need to).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.faults import fault_server as fs
from tests.faults.conftest import Kanjian
from tests.faults.fault_server import Act, FaultServer

KEY = "sk-fault-suite-0123456789"


@dataclass
class Case:
    acts: list[Act]
    code: int
    said: str  # in stderr (or, for exit 0, the answer on stdout)
    env: dict[str, str] = field(default_factory=dict)
    within: float = 30.0
    stuck_info: bool = False


CASES = {
    "429-then-answer": Case([fs.too_many("1"), fs.ok()], 0, "fine"),
    "429-persists": Case(
        [fs.too_many("0")] * 3, 1, "429 Too Many Requests after 2 attempts", {"KANJIAN_VLM__RETRIES": "1"}
    ),
    "5xx-burst": Case([fs.status(500), fs.status(502), fs.ok()], 0, "fine"),
    "stalled-server": Case(
        [fs.stall(60)], 1, "did not answer /model_info within 3 s",
        {"KANJIAN_VLM__READ_TIMEOUT": "3"}, stuck_info=True,
    ),
    "stall-mid-answer": Case(
        [fs.stall_mid(60)], 1, "sent nothing for 3 s in the middle of an answer",
        {"KANJIAN_VLM__READ_TIMEOUT": "3"},
    ),
    "no-done-open": Case([fs.no_done()], 0, "fine", {"KANJIAN_VLM__READ_TIMEOUT": "120"}),
    "html": Case([fs.html()], 1, "text/html page (content-type), so it is not an OpenAI-compatible API"),
    "slow-drip": Case([fs.drip(0.001)], 0, "fine"),
    "disconnect": Case([fs.disconnect()], 1, "was cut off mid-stream after 16 characters"),
    "echoed-key": Case(
        [fs.echo_auth(401)], 1, "\"bad header 'Bearer ***'\"", {"KANJIAN_API_KEY": KEY}
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_kanjian_ask_against_a_misbehaving_server(
    kanjian: Kanjian, faults: FaultServer, name: str
) -> None:
    case = CASES[name]
    faults.play(*case.acts)
    if case.stuck_info:
        faults.info_act = fs.stall(60)
    ran = kanjian("ask", "What is this?", "--no-memory", "--url", faults.url, env=case.env)
    assert "Traceback" not in ran.stderr and "internal error" not in ran.stderr
    assert ran.code == case.code, ran.stderr
    if case.code == 0:
        assert ran.stdout == f"{case.said}\n" and ran.stderr == ""
    else:
        assert ran.stdout == ""
        assert ran.stderr.startswith("kanjian: ") and ran.stderr.count("\n") == 1
        assert case.said in ran.stderr
    assert KEY not in ran.stderr
    assert ran.seconds < case.within
    if case.stuck_info:
        assert faults.chats == []  # the read timeout was waited once, not again for the chat
