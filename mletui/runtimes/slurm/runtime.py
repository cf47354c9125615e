"""The slurm runtime as every mletui process uses it, on the login node or any other.

A run is a batch job (``sbatch --parsable``) whose script is the run's supervisor. Until the job
starts the run is "queued" and shows Slurm's reason (Priority, Resources, ...); once it runs,
the supervisor writes the run folder as on the local runtime. Freeze and thaw are signals that
Slurm carries to the supervisor (``scancel --batch``: the batch script's own process), which
stops or continues every process of the run and goes on keeping its clock. A stop asks the
supervisor (SIGTERM to it, the reason in the run folder), and cancels the job once the grace
period is over. A job Slurm ended before its supervisor could say so ends the run with Slurm's
reason.
"""

from __future__ import annotations

import json
import re
import shlex
import socket
import sys
import time
from typing import Any

from mletui.core.events import RunState
from mletui.core.safefs import NotARegularFile, write_file
from mletui.runtimes import Probe, RuntimeFailure
from mletui.runtimes.host import KILL_REQUEST, mark_ended_without_supervisor, supervisor_alive
from mletui.runtimes.local import is_stopped
from mletui.runtimes.slurm import commands
from mletui.runtimes.slurm.agent import FREEZE_SIGNAL, THAW_SIGNAL, SlurmAgent
from mletui.store.runs import RunFolder, RunRecord, mletui_home

OPTIONS = ("partition", "cpus", "memory", "gpus", "sbatch_args")
HEARTBEAT_STALE_S = 30.0
END_WAIT_S = 15.0  # after the hard cancel: Slurm's KillWait is 30 s by default, the test's 5 s
WALL_MARGIN_S = 600.0
"""Slurm's wall limit is the run's time limit and this: mletui's own limit (active time) comes
first, and Slurm's is the backstop."""

_MEMORY = re.compile(r"^(\d+)([kmgt]?)b?$", re.IGNORECASE)


class SlurmRuntime:
    name = "slurm"

    def preflight(self, options: dict[str, Any]) -> dict[str, Any]:
        """Check Slurm's commands, the partition and the run folders' storage; one sentence
        says what is missing."""
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise RuntimeFailure(f"Unknown slurm runtime options: {', '.join(sorted(unknown))}.")
        out: dict[str, Any] = {
            "cpus": _count(options.get("cpus"), "--cpus", 1),
            "gpus": _count(options.get("gpus"), "--gpus", 0),
            "memory": _memory(options.get("memory")),
            "sbatch_args": [str(a) for a in options.get("sbatch_args") or []],
        }
        commands.require_commands("sbatch", "squeue", "scontrol", "scancel", "sinfo")
        found = commands.partitions()
        if not found:
            raise RuntimeFailure(
                "No Slurm partition answers (`sinfo` lists none): the slurm runtime needs a "
                "cluster with at least one partition."
            )
        partition = options.get("partition") or commands.default_partition() or next(iter(found))
        if partition not in found:
            raise RuntimeFailure(
                f"Slurm has no partition '{partition}'; partitions: {', '.join(sorted(found))}."
            )
        avail, nodes = found[partition]
        if avail != "up":
            raise RuntimeFailure(f"Slurm's partition '{partition}' is {avail}, not up.")
        check_shared_home(partition, nodes)
        out["partition"] = partition
        return out

    def start(self, folder: RunFolder) -> None:
        """Submit the batch job; the run is queued until Slurm starts it."""
        with folder.updating() as record:
            record.state = RunState.QUEUED  # before sbatch: the job may start before sbatch returns
            args = sbatch_args(folder, record)
        try:
            job_id = commands.submit(batch_script(folder), args)
        except RuntimeFailure as exc:
            with folder.updating() as record:
                record.state = RunState.EXITED
                record.end_reason = f"could not start: {exc}"
                record.ended = time.time()
            raise
        with folder.updating() as record:
            record.runtime_options["job_id"] = job_id

    def freeze(self, folder: RunFolder) -> None:
        job_id = self._running_job(folder, "freeze")
        commands.signal_job(job_id, FREEZE_SIGNAL.name.removeprefix("SIG"), batch_only=True)

    def thaw(self, folder: RunFolder) -> None:
        job_id = self._running_job(folder, "thaw")
        commands.signal_job(job_id, THAW_SIGNAL.name.removeprefix("SIG"), batch_only=True)

    def stop(self, folder: RunFolder, grace_s: float, reason: str) -> None:
        """Ask the supervisor to stop the agent (it escalates after ``grace_s``); once the grace
        period is over and the job is still there, cancel it. A queued job is cancelled at once."""
        record = folder.read()
        job_id = record.runtime_options.get("job_id")
        if not job_id:
            mark_ended_without_supervisor(folder, reason)
            return
        if record.state is RunState.QUEUED:
            commands.cancel(job_id)
            with folder.updating() as rec:
                if rec.state is RunState.QUEUED:
                    rec.state = RunState.KILLED
                    rec.end_reason = f"{reason} (cancelled while queued in Slurm)"
                    rec.ended = time.time()
            return
        request = {"grace_s": grace_s, "reason": reason, "ts": time.time()}
        try:
            write_file(folder.path / KILL_REQUEST, json.dumps(request).encode())
            asked = True
        except (OSError, NotARegularFile):
            asked = False  # a full disk: Slurm's cancel alone, without the reason
        if asked and _job_active(job_id):
            try:
                commands.signal_job(job_id, "TERM", batch_only=True)
            except RuntimeFailure:
                asked = False
        deadline = time.monotonic() + (grace_s + 5.0 if asked else 0.0)
        while time.monotonic() < deadline and _job_active(job_id):
            time.sleep(0.2)
        if _job_active(job_id):
            commands.cancel(job_id)
            deadline = time.monotonic() + END_WAIT_S
            while time.monotonic() < deadline and _job_active(job_id):
                time.sleep(0.2)
        if _job_active(job_id):
            raise RuntimeFailure(f"Slurm job {job_id} of run {record.id} is still there.")
        mark_ended_without_supervisor(folder, reason)

    def probe(self, folder: RunFolder) -> Probe:
        """A queued run: Slurm's reason, from one ``squeue`` shared by every run (a job that left
        the queue without starting ends the run with Slurm's reason). A started one: its
        supervisor and agent, seen here when they run on this node, else by the heartbeat."""
        record = folder.read()
        job_id = str(record.runtime_options.get("job_id") or "")
        if record.state is RunState.QUEUED:
            return self._queued(folder, job_id)
        here = record.host == socket.gethostname()
        if here:
            alive = supervisor_alive(record)
        else:
            alive = time.time() - (record.heartbeat or 0.0) < HEARTBEAT_STALE_S
        if not alive and job_id and record.state not in ("exited", "killed"):
            self._ended_by_slurm(folder, job_id)
        return Probe(alive, here and is_stopped(record.agent_pid))

    def remnants(self, folder: RunFolder) -> bool:
        """True while the run's job is in Slurm's queue (asks slurmctld)."""
        job_id = folder.read().runtime_options.get("job_id")
        try:
            return bool(job_id) and _job_active(str(job_id))
        except RuntimeFailure:
            return False

    def agent_side(self, folder: RunFolder) -> SlurmAgent:
        return SlurmAgent(folder)

    def _queued(self, folder: RunFolder, job_id: str) -> Probe:
        if not job_id:
            return Probe(False, False, waiting="being submitted to Slurm")
        try:
            view = commands.queue().get(job_id) or commands.job(job_id)
        except RuntimeFailure as exc:
            return Probe(False, False, waiting=f"Slurm job {job_id}; {exc}")
        if view is not None and view.state == "PENDING":
            return Probe(False, False, waiting=f"{view.reason}, Slurm job {job_id}")
        if view is not None and view.active:
            return Probe(False, False, waiting=f"starting on {view.node}, Slurm job {job_id}")
        self._ended_by_slurm(folder, job_id, view)
        return Probe(False, False)

    def _ended_by_slurm(
        self, folder: RunFolder, job_id: str, view: commands.JobView | None = None
    ) -> None:
        """The job is over and no supervisor said how the run ended: Slurm's reason does."""
        try:
            view = view or commands.job(job_id)
        except RuntimeFailure:
            return
        if view is not None and view.active:
            return
        reason = view.end_reason if view is not None else "the Slurm job is gone"
        with folder.updating() as rec:
            if rec.state is RunState.QUEUED:
                rec.state = RunState.EXITED
                rec.end_reason = (
                    f"could not start: {reason} before the supervisor ran; see "
                    f"{folder.path / 'supervisor.log'}"
                )
                rec.ended = time.time()
            elif rec.state not in ("exited", "killed"):
                rec.state = RunState.KILLED
                rec.end_reason = f"{reason} (lost: the supervisor died)"
                rec.ended = time.time()

    def _running_job(self, folder: RunFolder, action: str) -> str:
        record = folder.read()
        job_id = record.runtime_options.get("job_id")
        if record.state is RunState.QUEUED or not job_id:
            raise RuntimeFailure(
                f"Run {record.id} is queued in Slurm: nothing of it runs yet to {action}."
            )
        return str(job_id)


def _job_active(job_id: str) -> bool:
    view = commands.job(job_id)
    return view is not None and view.active


def batch_script(folder: RunFolder) -> str:
    """The job's script: the run's supervisor, as the batch step's own process (``exec``), so
    that ``scancel --batch`` reaches it alone."""
    run_dir = shlex.quote(str(folder.path))
    return (
        "#!/bin/sh\n"
        f"# mletui run {folder.id}: its supervisor, with the agent under it\n"
        f"if [ ! -d {run_dir} ]; then\n"
        f'  echo "mletui: node $(hostname) does not see the run folder {run_dir}:'
        ' MLETUI_HOME must be on storage the nodes share" >&2\n'
        "  exit 3\n"
        "fi\n"
        f"exec {shlex.quote(sys.executable)} -m mletui.run.supervisor {run_dir}\n"
    )


def sbatch_args(folder: RunFolder, record: RunRecord) -> list[str]:
    options = record.runtime_options
    extra = [str(a) for a in options.get("sbatch_args") or []]
    args = [
        f"--job-name=mletui-{record.id}",
        f"--output={folder.path / 'supervisor.log'}",
        "--open-mode=append",
        f"--chdir={folder.path}",
        "--export=ALL",
        f"--partition={options['partition']}",
        "--ntasks=1",
        f"--cpus-per-task={options.get('cpus', 1)}",
    ]
    if options.get("memory"):
        args.append(f"--mem={options['memory']}")
    if options.get("gpus"):
        args.append(f"--gpus={options['gpus']}")
    asks_time = any(a == "-t" or a.startswith(("--time=", "-t", "--time")) for a in extra)
    if record.time_limit_s is not None and not asks_time:
        minutes = -(-int(record.time_limit_s + WALL_MARGIN_S) // 60)
        args.append(f"--time={minutes}")
    return [*args, *extra]


def check_shared_home(partition: str, nodes: list[str]) -> None:
    """The run folders must be on storage the partition's nodes see: a file system that lives
    in this machine's memory never is (unless this machine is the partition's only node)."""
    this = {socket.gethostname(), socket.gethostname().split(".")[0]}
    if set(nodes) <= this:
        return
    home = mletui_home()
    probe_at = home if home.exists() else next((p for p in home.parents if p.exists()), home)
    kind = commands.filesystem_type(probe_at)
    if kind in commands.LOCAL_ONLY_FILESYSTEMS:
        raise RuntimeFailure(
            f"MLETUI_HOME ({home}) is on {kind}, in this machine's memory: the nodes of "
            f"partition '{partition}' do not see it. Set MLETUI_HOME to a folder on the "
            "cluster's shared filesystem."
        )


def _count(value: Any, flag: str, least: int) -> int:
    if value is None or value == "":
        return least
    try:
        number = int(str(value))
    except ValueError:
        raise RuntimeFailure(f"{flag} takes a whole number, not '{value}'.") from None
    if number < least:
        raise RuntimeFailure(f"{flag} takes a number of at least {least}, not {number}.")
    return number


def _memory(value: Any) -> str | None:
    """``16g`` -> ``16G`` (sbatch's --mem), checked here rather than by sbatch."""
    if value is None or value == "":
        return None
    match = _MEMORY.match(str(value).strip())
    if match is None:
        raise RuntimeFailure(f"--memory takes a size such as 16g or 512m, not '{value}'.")
    return f"{match[1]}{(match[2] or 'm').upper()}"
