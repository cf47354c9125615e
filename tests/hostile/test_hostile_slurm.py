"""Hostile agents on the slurm runtime: one that leaves its process group and session to outlive
a kill (Slurm's own signals do not follow it there; the run's containment does), and one that
stops itself to stop its clock."""

from __future__ import annotations

import sys

import pytest

from mletui.core.events import RunState
from mletui.runtimes.local import is_stopped
from mletui.watch.control import RunControl
from mletui.watch.livestate import read_status
from tests.conftest import alive, wait_ended, wait_for
from tests.hostile.test_hostile_kill import ESCAPES, recorded_pids
from tests.slurm_cluster import job_id, job_in_queue, slurm, start_slurm

__all__ = ["slurm"]  # the fixture, used by name

pytestmark = pytest.mark.usefixtures("slurm")

OUTLIVER = (
    "echo $$ >> pids\n"
    + ESCAPES["ignores-sigterm"]
    + "\n"
    + ESCAPES["python-setsid-fork"]
    + "\necho started; while true; do sleep 0.2; done"
)


def test_a_setsid_child_that_ignores_sigterm_does_not_outlive_kill() -> None:
    folder = start_slurm(OUTLIVER)
    pids = recorded_pids(folder, 2)
    RunControl(folder, "tester").kill(grace_s=1)
    wait_for(lambda: not alive(pids), 20, "every process of the agent gone")
    wait_ended(folder, 30)
    record = folder.read()
    assert (record.state, record.end_reason) == ("killed", "operator")
    wait_for(lambda: not job_in_queue(job_id(folder)), 30, "the job out of the queue")


def test_an_agent_that_stops_itself_stays_on_the_clock() -> None:
    assert sys.platform == "linux"
    folder = start_slurm("( sleep 0.3; kill -STOP -$$ ) &\nwait", time_limit_s=3)
    wait_for(lambda: read_status(folder).state is RunState.RUNNING, 60, "the run to start")
    leader = folder.read().agent_pid
    assert leader is not None
    wait_for(lambda: is_stopped(leader), 20, "the agent to stop itself")
    assert read_status(folder).state is RunState.RUNNING  # not frozen: no operator froze it
    wait_ended(folder, 30)
    record = folder.read()
    assert (record.state, record.end_reason) == ("killed", "time limit")
    assert 3.0 <= record.active_s < 6.0
    assert not alive({leader})
