"""The slurm runtime against a real one-node Slurm cluster (``scripts/ci-slurm.sh``): runs
submitted, queued behind a full node with Slurm's reason, started, their logs streamed,
frozen (every process of the job stopped, as ``ps`` says), thawed, killed (every process gone),
and one ended by Slurm's own time limit; and the doctor's sentences."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mletui.core.events import RunState, state_text
from mletui.runtimes import RuntimeFailure, get_runtime
from mletui.runtimes.slurm.runtime import check_shared_home
from mletui.store.spool import LogFollower
from mletui.watch.control import ActionError, RunControl
from mletui.watch.livestate import read_status
from tests.conftest import alive, wait_ended, wait_for
from tests.slurm_cluster import (
    job_id,
    job_in_queue,
    job_pids,
    ps_states,
    slurm,
    start_slurm,
)

__all__ = ["slurm"]  # the fixture, used by name

pytestmark = pytest.mark.usefixtures("slurm")

# Prints a line every 0.2 s, with a child in a session of its own beside it.
TALKER = """echo $$ >> pids
setsid sh -c 'echo $$ >> pids; exec sleep 1000' &
i=0
while true; do echo "line $i"; i=$((i + 1)); sleep 0.2; done
"""


def pids_of(folder_path: Path, count: int) -> set[int]:
    path = folder_path / "workspace" / "pids"

    def read() -> set[int]:
        try:
            return {int(p) for p in path.read_text().split()}
        except (OSError, ValueError):
            return set()

    wait_for(lambda: len(read()) >= count, 30, f"{count} pids in {path}")
    return read()


def test_queued_started_streamed_frozen_thawed_killed() -> None:
    # All the node's CPUs for the first run: the second waits for them.
    first = start_slurm(TALKER, cpus=4)
    wait_for(lambda: read_status(first).state is RunState.RUNNING, 60, "the first run to start")
    second = start_slurm("echo second; sleep 1000", cpus=1)
    status = read_status(second)
    assert status.state is RunState.QUEUED
    wait_for(
        lambda: (read_status(second).waiting or "").startswith("Resources"),
        60,
        "Slurm's reason for the second run",
    )
    status = read_status(second)
    assert status.waiting == f"Resources, Slurm job {job_id(second)}"
    assert state_text(status) == f"queued (Resources, Slurm job {job_id(second)})"
    with pytest.raises(ActionError, match="the run is still queued"):
        RunControl(second, "tester").freeze()

    # The log, read as the watch screen reads it: the spool, followed as it grows.
    follower = LogFollower(first.log_path)
    texts: list[str] = []
    wait_for(
        lambda: texts.extend(line.text for line in follower.read_new()) or "line 5" in texts,
        30,
        "the first run's lines in its log",
    )
    assert texts[0].startswith("[mletui] agent started")
    assert any(t.endswith(f"Slurm job {job_id(first)} on {first.read().host}") for t in texts)

    agent = pids_of(first.path, 2)
    record = first.read()
    job = job_id(first)
    assert record.runtime_options["node"] and record.runtime_options["partition"] == "debug"
    control = RunControl(first, "tester")
    control.freeze()
    wait_for(lambda: read_status(first).state is RunState.FROZEN, 10, "frozen")
    # Every process of the job is stopped, but the supervisor (mletui's own, which keeps
    # the clock and the heartbeat); the agent's pids are the job's.
    others = job_pids(job) - {record.supervisor_pid}
    assert agent <= others
    wait_for(
        lambda: all(s.startswith("T") for s in ps_states(others).values()),
        10,
        f"every process of job {job} stopped: {ps_states(others)}",
    )
    follower.read_new()  # what was in flight as it froze
    active = read_status(first).active_s
    time.sleep(1.5)
    assert [line.text for line in follower.read_new()] == []  # a frozen agent prints nothing
    assert read_status(first).active_s - active < 0.5  # and frozen time is not counted

    control.thaw()
    wait_for(lambda: read_status(first).state is RunState.RUNNING, 10, "thawed")
    wait_for(
        lambda: not any(s.startswith("T") for s in ps_states(others).values()),
        10,
        f"every process of job {job} running again: {ps_states(others)}",
    )

    control.kill(grace_s=1)
    wait_for(lambda: not alive(others | agent), 20, "every process of the job gone")
    wait_ended(first, 30)
    record = first.read()
    assert (record.state, record.end_reason) == ("killed", "operator")
    wait_for(lambda: not job_in_queue(job), 30, f"job {job} out of the queue")

    # The node is free: the queued run starts, and is killed like any other.
    wait_for(lambda: read_status(second).state is RunState.RUNNING, 60, "the second run to start")
    RunControl(second, "tester").kill(grace_s=1)
    wait_ended(second, 30)
    assert second.read().end_reason == "operator"


def test_a_queued_run_is_cancelled_by_kill() -> None:
    blocker = start_slurm("sleep 1000", cpus=4)
    queued = start_slurm("sleep 1000", cpus=4)
    assert read_status(queued).state is RunState.QUEUED
    RunControl(queued, "tester").kill(grace_s=1)
    record = queued.read()
    assert record.state == "killed"
    assert record.end_reason == "operator (cancelled while queued in Slurm)"
    assert not job_in_queue(job_id(queued))
    RunControl(blocker, "tester").kill(grace_s=1)


def test_slurms_own_time_limit_ends_the_run_with_its_reason() -> None:
    folder = start_slurm(TALKER, sbatch_args=["--time=1"])
    wait_for(lambda: read_status(folder).state is RunState.RUNNING, 60, "the run to start")
    agent = pids_of(folder.path, 2)
    # Slurm's limit is in minutes and checked every 30 s or so.
    wait_ended(folder, 180)
    status = read_status(folder)
    assert status.state is RunState.KILLED
    assert status.end_reason == "Slurm time limit"
    assert state_text(status) == "killed (Slurm time limit)"
    assert not alive(agent)


def test_the_doctor_says_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = get_runtime("slurm")
    with pytest.raises(RuntimeFailure, match=r"^Slurm has no partition 'nope'; partitions: debug"):
        runtime.preflight({"partition": "nope"})
    with pytest.raises(RuntimeFailure, match=r"^--memory takes a size such as 16g"):
        runtime.preflight({"memory": "lots"})
    # The nodes of a real cluster are other machines: they never see this one's memory.
    monkeypatch.setenv("MLETUI_HOME", "/dev/shm/mletui-test-home")
    with pytest.raises(RuntimeFailure, match=r"is on tmpfs.*Set MLETUI_HOME to a folder on"):
        check_shared_home("gpu", ["node1", "node2"])
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeFailure, match=r"^There is no `sbatch` on PATH"):
        runtime.preflight({})


def test_no_sbatch_is_one_sentence_from_the_cli(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "mletui", "run", "digits", "--runtime", "slurm", "--detach"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode != 0
    assert "There is no `sbatch` on PATH" in done.stderr
    assert "Traceback" not in done.stderr
