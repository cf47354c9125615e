"""The local runtime: the agent runs in its own process group under a supervisor process.

The supervisor (``python -m mletui.supervisor RUN_DIR``) is started in a session of its own so it
outlives the TUI and the command that started it. It records the run; this module holds the
process-level parts: starting the supervisor, the agent's process group, signals, and probing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping

import psutil

from mletui.runtimes import Probe, RuntimeFailure
from mletui.store import RunFolder, RunRecord

KILL_REQUEST = "kill-request.json"


class LocalRuntime:
    name = "local"

    def start(self, folder: RunFolder, wait_s: float = 15.0) -> None:
        log = (folder.path / "supervisor.log").open("ab")
        subprocess.Popen(
            [sys.executable, "-m", "mletui.supervisor", str(folder.path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
        log.close()
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            record = folder.read()
            if record.state != "created":
                return
            time.sleep(0.05)
        raise RuntimeFailure(
            f"The supervisor of run {folder.id} did not start within {wait_s:.0f} s; "
            f"see {folder.path / 'supervisor.log'}."
        )

    def freeze(self, folder: RunFolder) -> None:
        self._signal_group(folder.read(), signal.SIGSTOP)

    def thaw(self, folder: RunFolder) -> None:
        self._signal_group(folder.read(), signal.SIGCONT)

    def stop(self, folder: RunFolder, grace_s: float, reason: str) -> None:
        """Graceful stop, escalating to SIGKILL after ``grace_s``; the supervisor carries it out."""
        record = folder.read()
        request = {"grace_s": grace_s, "reason": reason, "ts": time.time()}
        (folder.path / KILL_REQUEST).write_text(json.dumps(request), encoding="utf-8")
        if supervisor_alive(record):
            assert record.supervisor_pid is not None
            os.kill(record.supervisor_pid, signal.SIGTERM)
            return
        # The supervisor is gone (a crash, a reboot): stop what is left of the group ourselves.
        if record.agent_pid is not None:
            terminate_group(record.agent_pid, grace_s)
        with folder.updating() as rec:
            if rec.state not in ("exited", "killed"):
                rec.state = "killed"
                rec.end_reason = reason
                rec.ended = time.time()

    def probe(self, folder: RunFolder) -> Probe:
        record = folder.read()
        return Probe(supervisor_alive(record), is_stopped(record.agent_pid))

    def _signal_group(self, record: RunRecord, sig: signal.Signals) -> None:
        if record.agent_pid is None:
            raise RuntimeFailure(f"Run {record.id} has no agent process yet.")
        try:
            os.killpg(record.agent_pid, sig)
        except ProcessLookupError as exc:
            raise RuntimeFailure(f"The agent of run {record.id} is no longer running.") from exc


def supervisor_alive(record: RunRecord) -> bool:
    """True when the supervisor process recorded in run.json is still that same process."""
    if record.supervisor_pid is None:
        return False
    try:
        proc = psutil.Process(record.supervisor_pid)
        started = proc.create_time()
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return record.supervisor_started is None or abs(started - record.supervisor_started) < 1.0


def is_stopped(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        return psutil.Process(pid).status() == psutil.STATUS_STOPPED
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def group_pids(pgid: int) -> tuple[int, ...]:
    """The live processes of a process group (the agent and everything it started)."""
    pids = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                pids.append(proc.pid)
        except (ProcessLookupError, psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return tuple(pids)


def terminate_group(pgid: int, grace_s: float) -> bool:
    """SIGTERM the group (after SIGCONT, so a frozen group can act on it), SIGKILL after grace.

    Returns True when SIGKILL was needed.
    """
    for sig in (signal.SIGCONT, signal.SIGTERM):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return False
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not group_pids(pgid):
            return False
        time.sleep(0.1)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def spawn_agent(command: list[str], cwd: str, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start the agent as the leader of a new process group, its output on two pipes."""
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        close_fds=True,
    )
