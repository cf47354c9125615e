"""The supervisor and the local runtime, on real processes."""

from __future__ import annotations

import contextlib
import os
import signal
import time

import psutil
import pytest

from mletui.core.events import RunState
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.runtimes.local import group_pids
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder, list_runs
from mletui.store.spool import LogFollower
from mletui.watch.control import ActionError, RunControl
from mletui.watch.livestate import read_status
from tests.conftest import wait_ended, wait_for


def start(cmd: str, time_limit_s: float | None = None) -> RunFolder:
    return start_run(resolve_task("digits"), agent_cmd=cmd, time_limit_s=time_limit_s)


def log_text(folder: RunFolder) -> list[str]:
    return [line.text for line in LogFollower(folder.log_path).read_new()]


def test_exit_code_end_time_and_timestamped_logs() -> None:
    folder = start("echo hello; echo oops >&2; printf 'no newline'; exit 3")
    wait_ended(folder)
    record = folder.read()
    assert record.state == "exited" and record.exit_code == 3
    assert record.ended is not None and record.started is not None
    assert record.ended >= record.started
    lines = LogFollower(folder.log_path).read_new()
    texts = [line.text for line in lines]
    assert "hello" in texts and "oops" in texts and "no newline" in texts
    streams = {line.text: line.stream.value for line in lines}
    assert streams["hello"] == "o" and streams["oops"] == "e"
    assert all(line.ts >= record.created for line in lines)
    states = [e["state"] for e in read_journal(folder.journal_path).entries if e["kind"] == "state"]
    assert states == ["running", "exited"]


def test_the_agent_gets_the_protocol_environment() -> None:
    folder = start('echo "$MLETUI_CONTROL_DIR|$MLETUI_DATA_DIR|$COMPETITION_ID|$PWD"')
    wait_ended(folder)
    control, data, competition, cwd = log_text(folder)[1].split("|")
    assert control == str(folder.control)
    assert data.endswith("public") and os.path.isfile(os.path.join(data, "train.csv"))
    assert competition == "digits"
    assert os.path.realpath(cwd) == os.path.realpath(folder.workspace)


def test_time_limit_counts_active_time_and_stops_the_run() -> None:
    folder = start("sleep 60", time_limit_s=1.5)
    wait_ended(folder, 20)
    record = folder.read()
    assert record.state == "killed" and record.end_reason == "time limit"
    assert 1.5 <= record.active_s < 5


def test_kill_escalates_when_the_agent_ignores_sigterm() -> None:
    folder = start("trap '' TERM; echo ready; while true; do sleep 0.1; done")
    wait_for(lambda: "ready" in log_text(folder), 10, "the agent to start")
    pgid = folder.read().agent_pid
    assert pgid is not None
    RunControl(folder, "tester").kill(grace_s=1.0)
    wait_ended(folder, 15)
    record = folder.read()
    assert record.state == "killed" and record.end_reason == "operator"
    assert record.exit_code == -signal.SIGKILL
    assert group_pids(pgid) == ()
    assert any("sent SIGKILL" in t for t in log_text(folder))
    actions = [e for e in read_journal(folder.journal_path).entries if e["kind"] == "action"]
    assert [(a["action"], a["operator"]) for a in actions] == [("kill", "tester")]


def test_freeze_and_thaw_stop_the_whole_group_and_frozen_time_is_not_counted() -> None:
    folder = start("sh -c 'while true; do sleep 0.05; done' & while true; do sleep 0.05; done")
    wait_for(lambda: folder.read().state == "running", 10, "running")
    wait_for(lambda: len(group_pids(folder.read().agent_pid or 0)) >= 2, 10, "the child")
    control = RunControl(folder, "tester")
    control.freeze()
    wait_for(lambda: read_status(folder).state is RunState.FROZEN, 5, "frozen")

    seen: list[dict[int, str]] = []

    def all_stopped() -> bool:
        statuses = {}
        for pid in group_pids(folder.read().agent_pid or 0):
            with contextlib.suppress(psutil.NoSuchProcess):
                statuses[pid] = psutil.Process(pid).status()
        seen.append(statuses)
        return len(statuses) >= 2 and set(statuses.values()) == {psutil.STATUS_STOPPED}

    # Signal delivery is asynchronous: every process of the group stops, soon.
    deadline = time.monotonic() + 5
    while not all_stopped():
        assert time.monotonic() < deadline, f"the group did not all stop: {seen[-1]}"
        time.sleep(0.05)
    with pytest.raises(ActionError, match="already frozen"):
        control.freeze()
    time.sleep(2.0)
    control.thaw()
    wait_for(lambda: read_status(folder).state is RunState.RUNNING, 5, "thawed")
    status = read_status(folder)
    assert status.wall_s - status.active_s >= 1.5
    control.kill(grace_s=2)
    wait_ended(folder)


def test_a_frozen_run_can_be_killed() -> None:
    folder = start("while true; do sleep 0.1; done")
    wait_for(lambda: folder.read().state == "running", 10, "running")
    control = RunControl(folder)
    control.freeze()
    wait_for(lambda: read_status(folder).state is RunState.FROZEN, 5, "frozen")
    control.kill(grace_s=2)
    wait_ended(folder, 10)
    assert folder.read().state == "killed"


def test_a_run_whose_supervisor_died_is_lost_not_running() -> None:
    folder = start("sleep 60")
    wait_for(lambda: folder.read().state == "running", 10, "running")
    record = folder.read()
    assert record.supervisor_pid is not None
    os.kill(record.supervisor_pid, signal.SIGKILL)
    wait_for(lambda: read_status(folder).state is RunState.LOST, 10, "lost")
    with pytest.raises(ActionError, match="lost"):
        RunControl(folder).pause()
    RunControl(folder).kill(grace_s=1)  # kill still acts on what is left
    assert read_status(folder).state is RunState.KILLED
    assert group_pids(record.agent_pid or 0) == ()


def test_actions_on_an_ended_run_are_refused_with_a_reason() -> None:
    folder = start("true")
    wait_ended(folder)
    for action in ("pause", "freeze", "kill"):
        with pytest.raises(ActionError, match="already ended"):
            getattr(RunControl(folder), action)()


def test_soft_pause_and_hints_need_a_hello() -> None:
    folder = start("sleep 30")
    wait_for(lambda: folder.read().state == "running", 10, "running")
    assert read_status(folder).observe_only
    with pytest.raises(ActionError, match="observe-only"):
        RunControl(folder).pause()
    with pytest.raises(ActionError, match="observe-only"):
        RunControl(folder).hint("try harder")
    RunControl(folder).kill(grace_s=1)
    wait_ended(folder)


def test_runs_are_found_by_any_process() -> None:
    a, b = start("true"), start("true")
    wait_ended(a)
    wait_ended(b)
    assert {f.id for f in list_runs()} == {a.id, b.id}
