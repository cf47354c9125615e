"""Hostile agents against kill and freeze: every process an agent starts, however it leaves its
process group, is stopped by a freeze and gone after `mletui kill`; with the supervisor
SIGKILLed, on a full disk, and with the agent running as another user.

Each test runs with both containments this machine offers: the run's cgroup ("auto") and the
fallback, a marker in the environment and a subreaper ("scan")."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from mletui.core.events import RunState
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.runtimes.cgroups import RunCgroup
from mletui.store.audit import audit_journal
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder
from mletui.watch.control import RunControl
from mletui.watch.livestate import read_status
from tests.conftest import alive, require_root, wait_ended, wait_for

ESCAPES = {
    "setsid": "setsid sh -c 'echo $$ >> pids; exec sleep 1000' &",
    "double-fork": "(sh -c 'echo $$ >> pids; exec sleep 1000' &) &",
    "python-setsid-fork": (
        f'{sys.executable} -c "import os, time\n'
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        open('pids', 'a').write(f'{os.getpid()}\\\\n'); time.sleep(1000)\n"
        "    os._exit(0)\n"
        'os.wait()" &'
    ),
    "ignores-sigterm": (
        "setsid sh -c 'trap \"\" TERM; echo $$ >> pids; while true; do sleep 0.2; done' &"
    ),
    "fork-bomb": (
        # Two generations of three setsid'd children each: 12 processes, each out of the group.
        f'{sys.executable} -c "import os, time\n'
        "def go(depth):\n"
        "    for _ in range(3):\n"
        "        if os.fork() == 0:\n"
        "            os.setsid(); open('pids', 'a').write(f'{os.getpid()}\\\\n')\n"
        "            if depth > 1: go(depth - 1)\n"
        "            time.sleep(1000)\n"
        'go(2); time.sleep(1000)" &'
    ),
}
EXPECTED = {"setsid": 1, "double-fork": 1, "python-setsid-fork": 1, "ignores-sigterm": 1}
EXPECTED["fork-bomb"] = 3 + 9


@pytest.fixture(params=["auto", "scan"])
def containment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLETUI_CONTAINMENT", str(request.param))
    return str(request.param)


def start(script: str) -> RunFolder:
    agent = f"echo $$ >> pids; {script}\necho started; while true; do sleep 0.2; done"
    return start_run(resolve_task("digits"), agent_cmd=agent)


def recorded_pids(folder: RunFolder, count: int) -> set[int]:
    """Wait for the agent's processes to write their pids (the agent's own first)."""
    path = folder.workspace / "pids"

    def read() -> set[int]:
        with contextlib.suppress(OSError, ValueError):
            return {int(p) for p in path.read_text().split()}
        return set()

    wait_for(lambda: len(read()) >= count + 1, 20, f"{count + 1} pids in {path}")
    pids = read()
    assert all(psutil.pid_exists(p) for p in pids)
    return pids


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mletui", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )


def assert_cgroup_used(folder: RunFolder, containment: str) -> None:
    label = folder.read().runtime_options.get("containment")
    if containment == "scan":
        assert label == "marker scan and subreaper"
    else:
        assert label == "cgroup v1" or label == "cgroup v2"


@pytest.mark.parametrize("escape", sorted(ESCAPES))
def test_kill_reaches_every_descendant(escape: str, containment: str) -> None:
    folder = start(ESCAPES[escape])
    pids = recorded_pids(folder, EXPECTED[escape])
    result = cli("kill", folder.id, "--yes", "--grace", "1")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: not alive(pids), 10, "every pid of the agent's tree to be gone")
    record = folder.read()
    assert record.state == "killed" and record.end_reason == "operator"
    assert RunCgroup.find(folder.id) is None  # cleaned up with the run
    assert_cgroup_used(folder, containment)


def test_freeze_stops_a_setsid_child(containment: str) -> None:
    folder = start(ESCAPES["setsid"])
    pids = recorded_pids(folder, 1)
    control = RunControl(folder, "tester")
    control.freeze()
    wait_for(lambda: read_status(folder).state is RunState.FROZEN, 5, "frozen")

    def states() -> set[str]:
        return {psutil.Process(p).status() for p in pids}

    wait_for(lambda: states() == {psutil.STATUS_STOPPED}, 5, f"all stopped: {states()}")
    control.thaw()
    wait_for(lambda: psutil.STATUS_STOPPED not in states(), 5, f"all thawed: {states()}")
    control.kill(grace_s=1)
    wait_for(lambda: not alive(pids), 10, "every pid gone")


def test_kill_after_the_supervisor_was_sigkilled(containment: str) -> None:
    folder = start(ESCAPES["setsid"] + "\n" + ESCAPES["double-fork"])
    pids = recorded_pids(folder, 2)
    supervisor = folder.read().supervisor_pid
    assert supervisor is not None
    os.kill(supervisor, signal.SIGKILL)
    wait_for(lambda: read_status(folder).state is RunState.LOST, 10, "lost")
    result = cli("kill", folder.id, "--yes", "--grace", "1")
    assert result.returncode == 0, result.stderr
    assert not alive(pids)
    record = folder.read()
    assert record.state == "killed"
    assert record.end_reason == "operator (lost: the supervisor died)"
    assert RunCgroup.find(folder.id) is None


def test_a_run_marked_ended_while_its_agent_lives_can_still_be_frozen_and_killed(
    containment: str,
) -> None:
    folder = start(ESCAPES["setsid"])
    pids = recorded_pids(folder, 1)
    supervisor = folder.read().supervisor_pid
    assert supervisor is not None
    os.kill(supervisor, signal.SIGKILL)
    # What a supervisor that died of an error leaves: "exited", while the agent lives on.
    with folder.updating() as rec:
        rec.state = "exited"
        rec.end_reason = "supervisor error: maximum recursion depth exceeded"
    control = RunControl(folder, "tester")
    control.freeze()
    wait_for(
        lambda: {psutil.Process(p).status() for p in pids} == {psutil.STATUS_STOPPED}, 5, "stop"
    )
    control.kill(grace_s=1)
    assert not alive(pids)
    assert folder.read().end_reason == (
        "lost: the supervisor died (maximum recursion depth exceeded); then stopped by operator"
    )
    with pytest.raises(Exception, match="already ended"):
        control.kill(grace_s=1)  # now it has: nothing of it is left


def test_kill_on_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_root("the full-disk test (it mounts a small tmpfs)")
    home = tmp_path / "tmpfs"
    home.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(home)], check=True)
    try:
        monkeypatch.setenv("MLETUI_HOME", str(home))
        folder = start(ESCAPES["setsid"])
        pids = recorded_pids(folder, 1)
        filler = home / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as f:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        result = cli("kill", folder.id, "--yes", "--grace", "1")
        wait_for(lambda: not alive(pids), 15, "every pid gone on a full disk")
        # The journal's anchor is outside the full disk: the kill's line is journaled when the
        # journal's last page has room for it, and said to be unjournaled when it has not.
        entries = read_journal(folder.journal_path).entries
        journaled = [e for e in entries if e.get("action") == "kill"]
        said = "could not journal the kill" in result.stderr
        assert len(journaled) + said == 1, (journaled, result.stderr)
        assert "Traceback" not in result.stderr
        # Once the disk has room again, the supervisor (which outlived the full disk) records
        # the end, and lines the full disk cut short are not left behind as tampering.
        filler.unlink()
        wait_ended(folder, 90)  # its retry after a full disk is slow on a loaded machine
        record = folder.read()
        assert (record.state, record.end_reason) == ("killed", "operator")
        assert audit_journal(folder.journal_path).breaks == []
        notes = [
            e["text"] for e in read_journal(folder.journal_path).entries if e["kind"] == "notice"
        ]
        assert any(n.startswith("the disk was full from ") for n in notes), notes
    finally:
        subprocess.run(["umount", "-l", str(home)], check=False)
