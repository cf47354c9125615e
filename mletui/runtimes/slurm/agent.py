"""The supervisor's side of a slurm run, inside the batch job on its node.

The agent runs exactly as on the local runtime (:class:`~mletui.runtimes.local.LocalAgent`: its
own process group, the run's containment, its output pumped into the log spool). Slurm's
signals reach only the batch script's own process group (an agent in a session of its own would
escape them), so they are sent to the supervisor, which is that script, and it acts on every
process of the run through the run's containment:

- SIGUSR1 freezes (SIGSTOP to every process of the run), SIGUSR2 thaws (SIGCONT): the operator
  sends them with ``scancel --batch``; the supervisor itself goes on keeping the clock;
- a SIGTERM that no operator asked for (no stop request in the run folder) is Slurm ending the
  job (its time limit, a preemption, an administrator's cancel): the stop request is written
  with Slurm's reason before the supervisor handles the signal, so the run ends with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from types import FrameType

from mletui.core.safefs import NotARegularFile, write_file
from mletui.runtimes import AgentExit, LineSink, LiveSink, ResourceSampler, RuntimeFailure
from mletui.runtimes.cgroups import become_subreaper, reap_orphans
from mletui.runtimes.host import KILL_REQUEST
from mletui.runtimes.local import LocalAgent, signal_members
from mletui.runtimes.slurm import commands
from mletui.store.runs import RunFolder, RunRecord

FREEZE_SIGNAL = signal.SIGUSR1
THAW_SIGNAL = signal.SIGUSR2
SLURM_STOP_GRACE_S = 2.0
"""The agent got Slurm's SIGTERM too; Slurm's SIGKILL follows after its KillWait (30 s by
default), so the supervisor ends it sooner and records the end first."""


class SlurmAgent:
    """The agent of a slurm run, driven by the supervisor inside the job."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        self.local = LocalAgent(folder)
        self.job_id = os.environ.get("SLURM_JOB_ID", "")

    def launch(self, emit: LineSink, live: LiveSink | None = None) -> str:
        if not self.job_id:
            raise RuntimeFailure("the slurm runtime's supervisor runs outside a Slurm job")
        become_subreaper()
        node = socket.gethostname()
        with self.folder.updating() as rec:
            # Readers elsewhere judge the run by its heartbeat: it lives on this node.
            rec.host = node
            rec.runtime_options["job_id"] = self.job_id
            rec.runtime_options["node"] = os.environ.get("SLURMD_NODENAME", node)
        self._watch_for_slurm_stop()
        what = self.local.launch(emit, live)
        record = self.folder.read()
        for sig, applied in ((FREEZE_SIGNAL, signal.SIGSTOP), (THAW_SIGNAL, signal.SIGCONT)):
            signal.signal(sig, lambda *_, applied=applied: signal_members(record, applied))
        return f"{what}, Slurm job {self.job_id} on {node}"

    def _watch_for_slurm_stop(self) -> None:
        previous = signal.getsignal(signal.SIGTERM)

        def on_term(signum: int, frame: FrameType | None) -> None:
            if not os.path.lexists(self.folder.path / KILL_REQUEST):
                request = {"reason": slurm_reason(self.job_id), "grace_s": SLURM_STOP_GRACE_S}
                request["ts"] = time.time()
                with contextlib.suppress(OSError, NotARegularFile):
                    write_file(self.folder.path / KILL_REQUEST, json.dumps(request).encode())
            if callable(previous):
                previous(signum, frame)

        signal.signal(signal.SIGTERM, on_term)

    def ended(self) -> bool:
        reap_orphans(self.local.pid)  # orphans reparented to this subreaper, whatever containment
        return self.local.ended()

    def frozen(self) -> bool:
        return self.local.frozen()

    def terminate(self, grace_s: float) -> bool:
        return self.local.terminate(grace_s)

    def sampler(self) -> ResourceSampler:
        return self.local.sampler()

    def update_record(self, record: RunRecord) -> None:
        self.local.update_record(record)

    def finish(self) -> AgentExit:
        outcome = self.local.finish()
        reap_orphans(None)
        return outcome


def slurm_reason(job_id: str) -> str:
    """Why Slurm is ending the job, as a run's end reason ("Slurm time limit")."""
    try:
        view = commands.job(job_id)
    except RuntimeFailure:
        view = None
    if view is None:
        return "stopped by Slurm"
    if view.state in ("RUNNING", "COMPLETING"):
        # While the job is being ended its state says so; the reason already says why.
        return commands.REASONS.get(view.reason, "stopped by Slurm")
    return view.end_reason
