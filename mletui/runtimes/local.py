"""The local runtime: the agent runs in its own process group on this machine.

The run's supervisor (:mod:`mletui.run.supervisor`) drives a :class:`LocalAgent`: the agent process
started as the leader of a new process group, inside the run's containment
(:mod:`mletui.runtimes.cgroups`: a cgroup, or a marker and a subreaper), optionally as another
user (``--agent-user``); its stdout and stderr pumped into the log spool (one thread, in large
batches). Freeze and thaw are SIGSTOP/SIGCONT, and a stop SIGTERM then SIGKILL, to every process
of the run: its group, its cgroup and every process carrying its marker, wherever it went.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil

from mletui.core.events import Stream
from mletui.gpu.resources import ProcessGroupSampler
from mletui.runtimes import AgentExit, LineSink, LiveSink, Probe, ResourceSampler, RuntimeFailure
from mletui.runtimes.cgroups import (
    MARKER_ENV,
    RunCgroup,
    become_subreaper,
    containment_choice,
    live,
    marked_pids,
    new_marker,
    reap_orphans,
    valid_marker,
)
from mletui.runtimes.host import (
    KILL_REQUEST,
    mark_ended_without_supervisor,
    request_stop,
    spawn_supervisor,
    supervisor_alive,
)
from mletui.store.runs import ENV_CONFIG_DIR, RunFolder, RunRecord
from mletui.store.spool import LineSplitter

__all__ = [
    "AGENT_FOLDERS",
    "KILL_REQUEST",
    "AgentIdentity",
    "LocalAgent",
    "LocalRuntime",
    "agent_identity",
    "group_pids",
    "hand_over",
    "is_stopped",
    "kill_members",
    "run_members",
    "spawn_agent",
    "stop_members",
    "supervisor_alive",
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
        self._signal_run(folder.read(), signal.SIGSTOP)

    def thaw(self, folder: RunFolder) -> None:
        self._signal_run(folder.read(), signal.SIGCONT)

    def stop(self, folder: RunFolder, grace_s: float, reason: str) -> None:
        """Graceful stop, escalating to SIGKILL after ``grace_s``; the supervisor carries it out
        when it is there and could be told why. Otherwise (it crashed; the disk is full) every
        process of the run is stopped from here, and the run marked ended once none is left."""
        if request_stop(folder, grace_s, reason):
            return
        record = folder.read()
        stop_members(record, grace_s)
        left = run_members(record)
        if left:
            raise RuntimeFailure(
                f"Run {record.id} still has processes after SIGKILL: "
                f"{', '.join(map(str, sorted(left)))}."
            )
        cgroup = RunCgroup.find(record.id)
        if cgroup is not None:
            cgroup.remove()
        mark_ended_without_supervisor(folder, reason)

    def remnants(self, folder: RunFolder) -> bool:
        """True while any process of the run lives, whatever run.json says."""
        return bool(run_members(folder.read()))

    def probe(self, folder: RunFolder) -> Probe:
        record = folder.read()
        return Probe(supervisor_alive(record), is_stopped(record.agent_pid))

    def agent_side(self, folder: RunFolder) -> LocalAgent:
        return LocalAgent(folder)

    def _signal_run(self, record: RunRecord, sig: signal.Signals) -> None:
        if record.agent_pid is None:
            raise RuntimeFailure(f"Run {record.id} has no agent process yet.")
        if not signal_members(record, sig):
            raise RuntimeFailure(f"The agent of run {record.id} is no longer running.")


class LocalAgent:
    """The agent as a process group on this machine, driven by the run's supervisor."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        self._proc: subprocess.Popen[bytes] | None = None
        self._pump: threading.Thread | None = None
        self._record: RunRecord | None = None
        self._cgroup: RunCgroup | None = None

    def launch(self, emit: LineSink, live: LiveSink | None = None) -> str:
        record = self.folder.read()
        choice = containment_choice()
        self._cgroup = RunCgroup.create(record.id) if choice != "scan" else None
        if self._cgroup is None and choice == "cgroup":
            raise RuntimeFailure("could not make a cgroup for the agent (containment: cgroup)")
        if self._cgroup is None:
            become_subreaper()
        marker = new_marker(record.id)
        with self.folder.updating() as rec:
            rec.env[MARKER_ENV] = marker
            rec.runtime_options["containment"] = (
                self._cgroup.label if self._cgroup else "marker scan and subreaper"
            )
        # Where the journal key lives is none of the agent's business.
        inherited = {k: v for k, v in os.environ.items() if k != ENV_CONFIG_DIR}
        env = {**inherited, **record.env, MARKER_ENV: marker}
        try:
            self._proc = spawn_agent(
                record.command, str(self.folder.workspace), env, self._cgroup, record.agent_user
            )
        except (OSError, subprocess.SubprocessError) as exc:
            if self._cgroup is not None:
                self._cgroup.remove()
            raise RuntimeFailure(f"could not start the agent: {exc}") from exc
        with self.folder.updating() as rec:
            rec.agent_pid = self._proc.pid
            self._record = rec
        pipes = [(self._proc.stdout, Stream.STDOUT), (self._proc.stderr, Stream.STDERR)]
        self._pump = threading.Thread(target=pump, args=(pipes, emit, live), daemon=True)
        self._pump.start()
        return f"pid {self._proc.pid}, command {' '.join(record.command)}"

    @property
    def pid(self) -> int:
        assert self._proc is not None, "launch() first"
        return self._proc.pid

    def ended(self) -> bool:
        if self._cgroup is None:
            reap_orphans(self.pid if self._proc is not None else None)
        return self._proc is None or self._proc.poll() is not None

    def frozen(self) -> bool:
        return is_stopped(self.pid)

    def terminate(self, grace_s: float) -> bool:
        assert self._record is not None, "launch() first"
        return stop_members(self._record, grace_s)

    def sampler(self) -> ResourceSampler:
        return ProcessGroupSampler(self.pid)

    def update_record(self, record: RunRecord) -> None:
        return None

    def finish(self) -> AgentExit:
        assert self._proc is not None, "launch() first"
        code = self._proc.wait()
        # Whatever the agent left behind, wherever it went, goes with it, so the pipes close.
        assert self._record is not None
        stop_members(self._record, 2.0)
        if self._cgroup is None:
            reap_orphans(None)
        else:
            self._cgroup.remove()
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


LIVE_EVERY_S = 0.1
"""How often the line still being written (a progress bar) is handed on while it changes."""


def pump(
    pipes: Sequence[tuple[IO[bytes] | None, Stream]],
    emit: LineSink,
    live: LiveSink | None = None,
) -> None:
    """Pump the agent's pipes into ``emit`` until they close, in one thread. When several have
    output, a pipe finishing a line it began earlier goes first (a progress bar on stderr ends
    before the stdout line printed after it), then the first pipe (stdout), so that a line on
    stderr comes after the stdout lines written before it that were still in their pipe (two
    pumps racing would not). ``live`` is told each pipe's unfinished line as it changes (at most
    every :data:`LIVE_EVERY_S`) and ``b""`` once it is finished."""
    readers: dict[int, tuple[Stream, LineSplitter]] = {}
    poller = select.poll()
    for pipe, stream in pipes:
        if pipe is not None:
            fd = pipe.fileno()
            grow_pipe(fd)
            readers[fd] = (stream, LineSplitter())
            poller.register(fd, select.POLLIN)
    order = list(readers)
    streams = {fd: stream for fd, (stream, _) in readers.items()}
    last = 0.0
    shown: dict[int, bytes] = {}  # the unfinished line live was last told, per pipe
    stale: set[int] = set()  # pipes whose unfinished line changed since live was told
    told = 0.0
    while readers:
        ready = {fd for fd, _ in poller.poll(int(LIVE_EVERY_S * 1000) if stale else None)}
        now = time.time()
        # A line begun before this round is older than anything else read in it.
        begun = [fd for fd in order if fd in readers and readers[fd][1].pending_bytes]
        for fd in begun + [fd for fd in order if fd not in begun]:
            if fd not in ready or fd not in readers:
                continue
            stream, splitter = readers[fd]
            chunk = os.read(fd, READ_BYTES)
            if chunk:
                lines = splitter.feed(chunk)
                if lines:
                    emit(stream, lines, now)
                if live is not None and (lines or splitter.pending_bytes):
                    stale.add(fd)
                continue
            poller.unregister(fd)  # closed: the agent (and all it started) is done with it
            del readers[fd]
            rest = splitter.flush()
            if rest:
                emit(stream, rest, time.time())
            stale.add(fd)
        if live is not None and stale and (now - told >= LIVE_EVERY_S or not readers):
            told = now
            for fd in sorted(stale):
                text = readers[fd][1].pending() if fd in readers else b""
                if text != shown.get(fd, b""):
                    live(streams[fd], text, now)
                    shown[fd] = text
            stale.clear()
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


def run_members(record: RunRecord) -> set[int]:
    """Every live process of the run: its cgroup's, its marker's, its process group's."""
    cgroup = RunCgroup.find(record.id)
    pids = live(cgroup.pids()) if cgroup is not None else set()
    marker = valid_marker(record.id, record.env.get(MARKER_ENV))
    return pids | marked_pids(marker, pgid=record.agent_pid)


def signal_members(record: RunRecord, *sigs: signal.Signals) -> set[int]:
    """Send ``sigs`` to every process of the run and return those signalled (none: the run has
    no process left). Without a cgroup, the list is taken again until no new process turns up
    (one may fork meanwhile)."""
    cgroup = RunCgroup.find(record.id)
    done = cgroup.signal_all(*sigs) if cgroup is not None else set()
    for _ in range(20):
        fresh = run_members(record) - done
        if not fresh:
            break
        for pid in fresh:
            for sig in sigs:
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)
        done |= fresh
    return done


def remaining(record: RunRecord, signalled: set[int]) -> set[int]:
    """What of the run still lives: a process found again, or one signalled that has not yet
    finished exiting (it has left its cgroup and lost its environment, but not yet died)."""
    return run_members(record) | live(signalled)


def kill_members(record: RunRecord, wait_s: float = 5.0) -> bool:
    """SIGKILL every process of the run until none is left; True when none is."""
    deadline = time.monotonic() + wait_s
    cgroup = RunCgroup.find(record.id)
    signalled: set[int] = set()
    while True:
        if cgroup is not None:
            signalled |= cgroup.kill_all()
        signalled |= signal_members(record, signal.SIGKILL)
        if not remaining(record, signalled):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def stop_members(record: RunRecord, grace_s: float) -> bool:
    """SIGCONT and SIGTERM to every process of the run, SIGKILL to what is left after
    ``grace_s``. Returns True when SIGKILL was needed."""
    signalled = signal_members(record, signal.SIGCONT, signal.SIGTERM)
    if not signalled:
        return False
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not remaining(record, signalled):
            return False
        time.sleep(0.1)
    kill_members(record)
    return True


def spawn_agent(
    command: list[str],
    cwd: str,
    env: Mapping[str, str],
    cgroup: RunCgroup | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start the agent as the leader of a new process group, its output on two pipes: in
    ``cgroup`` before it runs anything, and as ``user`` (no supplementary groups, then its gid,
    then its uid: once the uid is dropped nothing else could be)."""
    identity = agent_identity(user) if user else None
    if identity is not None:
        env = {**env, **identity.env()}

    def prepare() -> None:  # in the child, between fork and exec: only system calls
        if cgroup is not None:
            cgroup.join_self()
        if identity is not None:
            os.setgroups([])
            os.setgid(identity.gid)
            os.setuid(identity.uid)

    return subprocess.Popen(
        command,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        close_fds=True,
        preexec_fn=prepare if (cgroup is not None or identity is not None) else None,
    )


AGENT_FOLDERS = ("workspace", "submission", "control")
"""The only folders of its run an agent running as another user owns (and can write)."""

# Capabilities (linux/capability.h) that running the agent as another user takes.
_CAP_CHOWN, _CAP_SETGID, _CAP_SETUID = 0, 6, 7


@dataclass(frozen=True)
class AgentIdentity:
    """The user an agent runs as (``--agent-user``), looked up once."""

    name: str
    uid: int
    gid: int
    home: str

    def env(self) -> dict[str, str]:
        """Its own HOME and names, so that nothing it starts writes into the operator's home."""
        return {"HOME": self.home, "USER": self.name, "LOGNAME": self.name}

    def can_enter(self, path: Path) -> bool:
        """Whether this user can reach ``path``: every folder from / down to it lets it pass
        (its owner, group or everyone has the search bit for it; no supplementary groups)."""
        for folder in (path, *path.parents):
            try:
                info = os.stat(folder)
            except OSError:
                return False
            if info.st_uid == self.uid:
                bit = stat.S_IXUSR
            elif info.st_gid == self.gid:
                bit = stat.S_IXGRP
            else:
                bit = stat.S_IXOTH
            if not info.st_mode & bit:
                return False
        return True


def agent_identity(user: str) -> AgentIdentity:
    """The user ``user`` as an agent can be run as; RuntimeFailure with a sentence when it
    cannot be: no such user, the operator's own uid, or mletui without the rights to switch."""
    import pwd

    try:
        entry = pwd.getpwnam(user)
    except KeyError as exc:
        raise RuntimeFailure(f"There is no user '{user}' on this machine (--agent-user).") from exc
    if entry.pw_uid == os.geteuid():
        raise RuntimeFailure(
            f"--agent-user {user} is the user mletui runs as: the agent would have the "
            "operator's rights. Name another user."
        )
    if not may_switch_user():
        raise RuntimeFailure(
            f"--agent-user {user} needs mletui to run as root (or with the rights to change user "
            f"and to hand folders over); it runs as uid {os.geteuid()}."
        )
    return AgentIdentity(user, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def may_switch_user() -> bool:
    """Root, or a process holding the capabilities to chown, setgid and setuid."""
    if os.geteuid() == 0:
        return True
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            effective = int(line.split()[1], 16)
            wanted = (1 << _CAP_CHOWN) | (1 << _CAP_SETGID) | (1 << _CAP_SETUID)
            return effective & wanted == wanted
    return False


def hand_over(folder: RunFolder, identity: AgentIdentity) -> None:
    """Give the agent's user its three folders, and nothing else of the run: the run folder,
    ``run.json``, the journal and the logs stay the operator's, not writable by it."""
    for name in AGENT_FOLDERS:
        path = folder.path / name
        os.chown(path, identity.uid, identity.gid, follow_symlinks=False)
        os.chmod(path, 0o755)
    os.chmod(folder.path, 0o755)
