"""What the slurm runtime's tests share: the one-node cluster that ``scripts/ci-slurm.sh`` starts
(no cluster: the tests fail under CI and skip elsewhere), runs started on it, and the processes
of a job as Slurm lists them."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store.runs import RunFolder, list_runs
from tests.conftest import unavailable


@pytest.fixture
def slurm() -> Iterator[None]:
    """A Slurm that answers; every job the test's runs submitted is cancelled after it."""
    if shutil.which("sinfo") is None:
        unavailable("slurm tests", "no Slurm here (scripts/ci-slurm.sh sets one up, as root)")
    done = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0 or not done.stdout.strip():
        unavailable("slurm tests", f"Slurm does not answer: {done.stderr.strip()}")
    yield
    for folder in list_runs():
        job_id = folder.read().runtime_options.get("job_id")
        if job_id:
            subprocess.run(["scancel", str(job_id)], capture_output=True, timeout=30)


def start_slurm(script: str, time_limit_s: float | None = None, **options: Any) -> RunFolder:
    return start_run(
        resolve_task("digits"),
        agent_cmd=script,
        runtime="slurm",
        time_limit_s=time_limit_s,
        runtime_options=options,
    )


def job_id(folder: RunFolder) -> str:
    return str(folder.read().runtime_options["job_id"])


def job_pids(job: str) -> set[int]:
    """Every process of the job, as ``scontrol listpids`` (on its node) lists them."""
    done = subprocess.run(["scontrol", "listpids", job], capture_output=True, text=True, timeout=30)
    pids = set()
    for line in done.stdout.splitlines()[1:]:
        with contextlib.suppress(ValueError, IndexError):
            pids.add(int(line.split()[0]))
    return pids


def ps_states(pids: set[int]) -> dict[int, str]:
    """``ps -o stat`` of each pid still alive (zombies left out)."""
    states = {}
    for pid in pids:
        done = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
        stat = done.stdout.strip()
        if stat and not stat.startswith("Z"):
            states[pid] = stat
    return states


def job_in_queue(job: str) -> bool:
    done = subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True, timeout=30)
    return bool(done.stdout.strip())
