"""The local runtime: the agent runs in its own process group on this machine.

The run's supervisor (:mod:`mletui.supervisor`) drives a :class:`LocalAgent`: the agent process
started as the leader of a new process group, its stdout and stderr pumped into the log spool
(one thread, in large batches), SIGSTOP/SIGCONT to the group for freeze and thaw, SIGTERM then
SIGKILL to stop it.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from typing import IO, Any

import psutil

from mletui.collectors.logs import LineSplitter
from mletui.collectors.resources import ProcessGroupSampler
from mletui.events import Stream
from mletui.runtimes import AgentExit, LineSink, Probe, ResourceSampler, RuntimeFailure
from mletui.runtimes.host import (
    KILL_REQUEST,
    mark_ended_without_supervisor,
    request_stop,
    spawn_supervisor,
    supervisor_alive,
)
from mletui.store import RunFolder, RunRecord

__all__ = [
    "KILL_REQUEST",
    "LocalAgent",
    "LocalRuntime",
    "group_pids",
    "is_stopped",
    "spawn_agent",
    "supervisor_alive",
    "terminate_group",
]


class LocalRuntime:
    name = "local"

    def preflight(self, options: dict[str, Any]) -> dict[str, Any]:
        if options:
            raise RuntimeFailure(
                f"The local runtime takes no options ({', '.join(sorted(options))}); "
                "they are for --runtime docker."
            )
        return {}

    def start(self, folder: RunFolder, wait_s: float = 15.0) -> None:
        spawn_supervisor(folder, wait_s)

    def freeze(self, folder: RunFolder) -> None:
        self._signal_group(folder.read(), signal.SIGSTOP)

    def thaw(self, folder: RunFolder) -> None:
        self._signal_group(folder.read(), signal.SIGCONT)

    def stop(self, folder: RunFolder, grace_s: float, reason: str) -> None:
        """Graceful stop, escalating to SIGKILL after ``grace_s``; the supervisor carries it out."""
        if request_stop(folder, grace_s, reason):
            return
        # The supervisor is gone (a crash, a reboot): stop what is left of the group ourselves.
        record = folder.read()
        if record.agent_pid is not None:
            terminate_group(record.agent_pid, grace_s)
        mark_ended_without_supervisor(folder, reason)

    def probe(self, folder: RunFolder) -> Probe:
        record = folder.read()
        return Probe(supervisor_alive(record), is_stopped(record.agent_pid))

    def agent_side(self, folder: RunFolder) -> LocalAgent:
        return LocalAgent(folder)

    def _signal_group(self, record: RunRecord, sig: signal.Signals) -> None:
        if record.agent_pid is None:
            raise RuntimeFailure(f"Run {record.id} has no agent process yet.")
        try:
            os.killpg(record.agent_pid, sig)
        except ProcessLookupError as exc:
            raise RuntimeFailure(f"The agent of run {record.id} is no longer running.") from exc


class LocalAgent:
    """The agent as a process group on this machine, driven by the run's supervisor."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        self._proc: subprocess.Popen[bytes] | None = None
        self._pump: threading.Thread | None = None

    def launch(self, emit: LineSink) -> str:
        record = self.folder.read()
        env = {**os.environ, **record.env}
        try:
            self._proc = spawn_agent(record.command, str(self.folder.workspace), env)
        except OSError as exc:
            raise RuntimeFailure(f"could not start the agent: {exc}") from exc
        with self.folder.updating() as rec:
            rec.agent_pid = self._proc.pid
        pipes = [(self._proc.stdout, Stream.STDOUT), (self._proc.stderr, Stream.STDERR)]
        self._pump = threading.Thread(target=pump, args=(pipes, emit), daemon=True)
        self._pump.start()
        return f"pid {self._proc.pid}, command {' '.join(record.command)}"

    @property
    def pid(self) -> int:
        assert self._proc is not None, "launch() first"
        return self._proc.pid

    def ended(self) -> bool:
        return self._proc is None or self._proc.poll() is not None

    def frozen(self) -> bool:
        return is_stopped(self.pid)

    def terminate(self, grace_s: float) -> bool:
        return terminate_group(self.pid, grace_s)

    def sampler(self) -> ResourceSampler:
        return ProcessGroupSampler(self.pid)

    def update_record(self, record: RunRecord) -> None:
        return None

    def finish(self) -> AgentExit:
        assert self._proc is not None, "launch() first"
        code = self._proc.wait()
        # Whatever the agent left behind in its group goes with it, so the pipes close.
        terminate_group(self._proc.pid, 2.0)
        if self._pump is not None:
            self._pump.join(timeout=5)
        return AgentExit(code)


PIPE_BYTES = 1 << 20
"""The agent's pipes are grown to this (Linux's default ceiling for a user): room for what it
prints while the pump lets a batch gather."""

READ_BYTES = PIPE_BYTES  # a read takes all a pipe holds
STREAMING_S = 0.01
"""Reads closer together than this mean the agent is pouring output out."""

GATHER_S = 0.002
"""While it pours, the pump waits this long between reads, so that one read (and one spool
write, one wake-up) takes a few hundred lines instead of the few the agent wrote last."""


def pump(pipes: Sequence[tuple[IO[bytes] | None, Stream]], emit: LineSink) -> None:
    """Pump the agent's pipes into ``emit`` until they close, in one thread: when several have
    output, the first pipe (stdout) is emptied first, so that a line on stderr comes after the
    stdout lines written before it that were still in their pipe (two pumps racing would not)."""
    readers: dict[int, tuple[Stream, LineSplitter]] = {}
    poller = select.poll()
    for pipe, stream in pipes:
        if pipe is not None:
            fd = pipe.fileno()
            grow_pipe(fd)
            readers[fd] = (stream, LineSplitter())
            poller.register(fd, select.POLLIN)
    order = list(readers)
    last = 0.0
    while readers:
        ready = {fd for fd, _ in poller.poll()}
        now = time.time()
        for fd in order:
            if fd not in ready or fd not in readers:
                continue
            stream, splitter = readers[fd]
            chunk = os.read(fd, READ_BYTES)
            if chunk:
                lines = splitter.feed(chunk)
                if lines:
                    emit(stream, lines, now)
                continue
            poller.unregister(fd)  # closed: the agent (and all it started) is done with it
            del readers[fd]
            rest = splitter.flush()
            if rest:
                emit(stream, rest, time.time())
        if now - last < STREAMING_S:
            time.sleep(GATHER_S)
        last = now


def grow_pipe(fd: int, size: int = PIPE_BYTES) -> None:
    """Make the pipe behind ``fd`` hold ``size`` bytes, where the system allows it."""
    import fcntl

    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setpipe is None:
        return
    with contextlib.suppress(OSError):  # over the system's ceiling, or not a pipe: as it is
        fcntl.fcntl(fd, setpipe, size)


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
