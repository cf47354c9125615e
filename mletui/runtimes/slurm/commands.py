"""Slurm's documented commands, run and read as text: submit, list the queue, read a job, signal
and cancel it, and check that a cluster answers. Every failure is a :class:`RuntimeFailure` with a
sentence, never a traceback."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mletui.runtimes import RuntimeFailure

COMMAND_TIMEOUT_S = 30.0
QUEUE_TTL_S = 2.0
"""One ``squeue`` serves every run a process shows for this long: the overview refreshes many
runs at once, and slurmctld is shared by everyone on the cluster."""

# Job states in which the job's processes may still be running or about to.
ACTIVE_STATES = frozenset(
    {"PENDING", "CONFIGURING", "RUNNING", "SUSPENDED", "COMPLETING", "REQUEUED", "RESIZING"}
)

# What a job state Slurm ended a job with means for the person reading the run's state.
END_REASONS = {
    "TIMEOUT": "Slurm time limit",
    "PREEMPTED": "preempted by Slurm",
    "NODE_FAIL": "Slurm node failure",
    "CANCELLED": "cancelled in Slurm",
    "DEADLINE": "Slurm deadline",
    "OUT_OF_MEMORY": "out of memory (Slurm)",
    "BOOT_FAIL": "Slurm node failed to boot",
    "FAILED": "the Slurm job failed",
    "COMPLETED": "the Slurm job ended",
}

# Slurm's reasons for a job it is ending, while its state is still "COMPLETING".
REASONS = {"TimeLimit": END_REASONS["TIMEOUT"], "Deadline": END_REASONS["DEADLINE"]}


@dataclass(frozen=True)
class JobView:
    """A job as Slurm says it is now."""

    job_id: str
    state: str  # Slurm's job state: PENDING, RUNNING, TIMEOUT, ...
    reason: str  # why it waits or how it ended: Priority, Resources, TimeLimit, None
    node: str  # where it runs ("" while pending)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def end_reason(self) -> str:
        return END_REASONS.get(self.state, f"Slurm job {self.state.lower()}")


def require_commands(*names: str) -> None:
    for name in names:
        if shutil.which(name) is None:
            raise RuntimeFailure(
                f"There is no `{name}` on PATH: the slurm runtime needs Slurm's commands; run "
                "mletui on the cluster's login node (or install Slurm's client tools)."
            )


def run_slurm(args: Sequence[str], what: str, stdin: str | None = None) -> str:
    """Run one of Slurm's commands and return its output; a sentence when it fails."""
    require_commands(args[0])
    try:
        done = subprocess.run(
            list(args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            env={**os.environ, "SLURM_TIME_FORMAT": "standard"},
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeFailure(
            f"Slurm did not answer within {COMMAND_TIMEOUT_S:.0f} s ({what}, `{args[0]}`)."
        ) from exc
    except OSError as exc:
        raise RuntimeFailure(f"Could not run `{args[0]}` ({what}): {exc.strerror}.") from exc
    if done.returncode != 0:
        said = " ".join(done.stderr.split())[:300] or f"exit status {done.returncode}"
        raise RuntimeFailure(f"Slurm refused {what}: {said}")
    return done.stdout


def submit(script: str, args: Sequence[str]) -> str:
    """``sbatch --parsable``: the job id of the submitted batch script."""
    out = run_slurm(["sbatch", "--parsable", *args], "the batch job", stdin=script).strip()
    job_id = out.split(";")[0]  # "id;cluster" on a federation
    if not job_id.isdigit():
        raise RuntimeFailure(f"sbatch answered {out[:80]!r}, not a job id.")
    return job_id


_queue_lock = threading.Lock()
_queue: tuple[float, dict[str, JobView]] = (0.0, {})


def queue(fresh: bool = False) -> dict[str, JobView]:
    """Every job in Slurm's queue by id (one ``squeue`` per :data:`QUEUE_TTL_S`)."""
    global _queue
    with _queue_lock:
        taken, jobs = _queue
        if fresh or time.monotonic() - taken > QUEUE_TTL_S:
            out = run_slurm(["squeue", "-h", "-a", "-o", "%i|%T|%r|%N"], "listing the queue")
            jobs = {}
            for line in out.splitlines():
                parts = line.split("|")
                if len(parts) == 4:
                    jobs[parts[0]] = JobView(parts[0], parts[1], parts[2], parts[3])
            _queue = (time.monotonic(), jobs)
        return jobs


_FIELD = re.compile(r"\b(JobState|Reason|NodeList)=(\S*)")


def job(job_id: str) -> JobView | None:
    """The job as ``scontrol show job`` says, ended ones included while slurmctld keeps them
    (MinJobAge); None once it has forgotten the job."""
    try:
        out = run_slurm(["scontrol", "show", "job", "-o", job_id], f"reading job {job_id}")
    except RuntimeFailure as exc:
        if "Invalid job id" in str(exc):
            return None
        raise
    fields = dict(_FIELD.findall(out))
    if "JobState" not in fields:
        return None
    node = fields.get("NodeList", "")
    node = "" if node == "(null)" else node
    return JobView(job_id, fields["JobState"], fields.get("Reason", ""), node)


def signal_job(job_id: str, signal_name: str, *, batch_only: bool = False) -> None:
    """``scancel --signal``: to the job's batch script and its steps (``--full``; a process in a
    session of its own is not reached), or to the batch script's own process alone (``--batch``)."""
    scope = "--batch" if batch_only else "--full"
    run_slurm(
        ["scancel", f"--signal={signal_name}", scope, job_id],
        f"sending SIG{signal_name} to job {job_id}",
    )
    _forget()


def cancel(job_id: str) -> None:
    """The hard cancel: Slurm sends SIGTERM to every process of the job, SIGKILL after KillWait."""
    run_slurm(["scancel", job_id], f"cancelling job {job_id}")
    _forget()


def _forget() -> None:
    global _queue
    with _queue_lock:
        _queue = (0.0, {})


def partitions() -> dict[str, tuple[str, list[str]]]:
    """Every partition Slurm answers with: name -> (availability, its nodes' names)."""
    out = run_slurm(["sinfo", "-h", "-a", "-N", "-o", "%P|%a|%n"], "listing the partitions")
    found: dict[str, tuple[str, list[str]]] = {}
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) != 3:
            continue
        name = parts[0].rstrip("*")
        avail, nodes = found.get(name, (parts[1], []))
        found[name] = (avail, [*nodes, parts[2]])
    return found


def default_partition() -> str | None:
    out = run_slurm(["sinfo", "-h", "-o", "%P"], "listing the partitions")
    for line in out.split():
        if line.endswith("*"):
            return line.rstrip("*")
    return None


LOCAL_ONLY_FILESYSTEMS = frozenset({"tmpfs", "ramfs", "devtmpfs"})


def filesystem_type(path: Path) -> str:
    """The type of the file system that holds ``path`` (from /proc/mounts; "" if unknown)."""
    path = path.resolve()
    best, kind = "", ""
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                parts = line.split()
                if len(parts) < 3:
                    continue
                point = parts[1].replace("\\040", " ")
                inside = str(path) == point or str(path).startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, kind = point, parts[2]
    except OSError:
        return ""
    return kind
