"""Which run a host process belongs to: NVML reports host pids, an operator thinks in runs.

A local run's processes are the agent's process group and the supervisor's process tree (a child
that started a session of its own is still a descendant); as a last resort, a process whose
environment names the run's control folder (a daemon that left the tree). A docker run's
processes are visible on the host too: their cgroup names the container, and the container's id is
in ``run.json``. A run on a remote Docker engine has no processes here, so no GPU numbers: say so.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psutil

from mletui.core.events import GpuProcess
from mletui.core.safefs import read_regular
from mletui.protocol import loads_untrusted
from mletui.store.runs import MAX_RUN_JSON_BYTES, RunFolder

# A container's id, as cgroup v1 (/docker/<id>) and v2 (docker-<id>.scope, cri-containerd-<id>)
# paths spell it.
_CONTAINER_ID = re.compile(r"(?<![0-9a-f])([0-9a-f]{64})(?![0-9a-f])")
# run.json fields that may hold a docker run's container id / engine (the docker runtime's names)
_CONTAINER_FIELDS = ("container_id", "container")
_ENGINE_FIELDS = ("docker_host", "engine", "docker_engine", "engine_url")
REMOTE_PREFIX = "no GPU numbers:"  # how a remote run's GPU line starts
_CACHE_S = 30.0  # a pid's run does not change while it lives; an unknown pid is asked again


@dataclass(frozen=True)
class RunProcesses:
    """What identifies one run's processes on this host."""

    run_id: str
    pgids: frozenset[int] = frozenset()  # local: the agent's process group
    roots: frozenset[int] = frozenset()  # local: the supervisor and the agent (tree roots)
    containers: tuple[str, ...] = ()  # docker: container ids (full, or a prefix of 12 or more)
    control_dir: str = ""  # local: MLETUI_CONTROL_DIR in the agent's environment
    remote: str | None = None  # why this run's processes cannot be seen from here


def container_of(pid: int, proc_root: Path = Path("/proc")) -> str | None:
    """The container id in a process's cgroup paths, or None (not in a container, or gone)."""
    try:
        text = (proc_root / str(pid) / "cgroup").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = _CONTAINER_ID.findall(text)
    return found[-1] if found else None


def _raw_record(folder: RunFolder) -> dict[str, Any]:
    """run.json as a dict, with fields other runtimes add (not all are in RunRecord)."""
    value = loads_untrusted(read_regular(folder.run_json, MAX_RUN_JSON_BYTES))
    return value if isinstance(value, dict) else {}


def remote_reason(record: Mapping[str, Any]) -> str | None:
    """Why this machine cannot see a run's processes (and so its GPU use), or None."""
    for key in _ENGINE_FIELDS:
        engine = record.get(key)
        if isinstance(engine, str) and _is_remote_engine(engine):
            return (
                f"{REMOTE_PREFIX} this run is on a remote Docker engine ({engine}); NVML reads "
                "only this machine's GPUs (run mletui on that machine to see them)"
            )
    host = record.get("host")
    if isinstance(host, str) and host and host != socket.gethostname():
        return (
            f"{REMOTE_PREFIX} this run lives on {host}; NVML reads only this machine's GPUs "
            "(run mletui there to see them)"
        )
    return None


def _is_remote_engine(url: str) -> bool:
    url = url.strip().lower()
    if not url or url.startswith(("unix://", "npipe://")) or url in ("local", "default"):
        return False
    if url.startswith(("tcp://", "http://", "https://")):
        host = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
        return host not in ("localhost", "127.0.0.1", "::1", socket.gethostname().lower())
    return url.startswith("ssh://")


def run_processes(folder: RunFolder) -> RunProcesses | None:
    """How to recognise the processes of the run in ``folder``; None when it has none (yet)."""
    try:
        record = _raw_record(folder)
    except (OSError, ValueError):
        return None
    remote = remote_reason(record)
    pgids: set[int] = set()
    roots: set[int] = set()
    agent = record.get("agent_pid")
    if record.get("runtime", "local") == "local" and isinstance(agent, int):
        pgids.add(agent)
        roots.add(agent)
    supervisor = record.get("supervisor_pid")
    if isinstance(supervisor, int) and record.get("host") == socket.gethostname():
        roots.add(supervisor)
    containers = tuple(
        str(record[key]).lower()
        for key in _CONTAINER_FIELDS
        if isinstance(record.get(key), str) and len(str(record[key])) >= 12
    )
    env = record.get("env")
    control = env.get("MLETUI_CONTROL_DIR", "") if isinstance(env, dict) else ""
    return RunProcesses(
        run_id=folder.id,
        pgids=frozenset(pgids),
        roots=frozenset(roots),
        containers=containers,
        control_dir=str(control) if record.get("runtime", "local") == "local" else "",
        remote=remote,
    )


class PidAttributor:
    """Maps host pids to run ids; cached per pid, so a sample costs a few ``/proc`` reads."""

    def __init__(
        self,
        runs: Iterable[RunProcesses] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
        proc_root: Path = Path("/proc"),
    ) -> None:
        self._clock = clock
        self._proc_root = proc_root
        self._runs: tuple[RunProcesses, ...] = ()
        self._cache: dict[int, tuple[float, float | None, str | None, str]] = {}
        self.set_runs(runs)

    @property
    def runs(self) -> tuple[RunProcesses, ...]:
        return self._runs

    def set_runs(self, runs: Iterable[RunProcesses]) -> None:
        runs = tuple(runs)
        if runs != self._runs:
            self._runs = runs
            self._cache.clear()

    def run_of(self, pid: int) -> str | None:
        """The id of the run ``pid`` belongs to, or None."""
        return self._lookup(pid)[0]

    def name_of(self, pid: int) -> str:
        """The process's name ("python3"), or "" when it is gone or hidden."""
        return self._lookup(pid)[1]

    def _lookup(self, pid: int) -> tuple[str | None, str]:
        now = self._clock()
        cached = self._cache.get(pid)
        started = _start_time(pid)
        if cached is not None and cached[1] == started and now < cached[0]:
            return cached[2], cached[3]
        run_id = self._match(pid)
        name = _name(pid)
        # A known run's pid keeps its run for its life; an unknown one is asked again soon.
        expires = now + (_CACHE_S * 20 if run_id else _CACHE_S)
        self._cache[pid] = (expires, started, run_id, name)
        if len(self._cache) > 4096:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
        return run_id, name

    def _match(self, pid: int) -> str | None:
        runs = [r for r in self._runs if r.remote is None]
        if not runs:
            return None
        try:
            pgid = os.getpgid(pid)
        except (ProcessLookupError, PermissionError):
            pgid = None
        for run in runs:
            if pgid is not None and pgid in run.pgids:
                return run.run_id
        container = container_of(pid, self._proc_root) if any(r.containers for r in runs) else None
        if container is not None:
            for run in runs:
                if any(container.startswith(c) for c in run.containers):
                    return run.run_id
        ancestors = _ancestors(pid)
        for run in runs:
            if run.roots & ancestors:
                return run.run_id
        if any(r.control_dir for r in runs):
            control = _environ(pid, self._proc_root).get("MLETUI_CONTROL_DIR")
            for run in runs:
                if control and run.control_dir and control == run.control_dir:
                    return run.run_id
        return None

    def attribute(self, processes: Iterable[GpuProcess]) -> tuple[GpuProcess, ...]:
        """``processes`` with their run ids and names filled in."""
        out = []
        for p in processes:
            run_id, name = self._lookup(p.pid)
            out.append(replace(p, run_id=run_id, name=name))
        return tuple(out)


def _start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _name(pid: int) -> str:
    try:
        return psutil.Process(pid).name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return ""


def _ancestors(pid: int) -> frozenset[int]:
    try:
        return frozenset(p.pid for p in psutil.Process(pid).parents())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return frozenset()


def _environ(pid: int, proc_root: Path) -> dict[str, str]:
    try:
        raw = (proc_root / str(pid) / "environ").read_bytes()
    except OSError:  # another user's process: not ours to read
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def live_runs(folders: Iterable[RunFolder]) -> list[RunProcesses]:
    """The processes of every run that has not ended."""
    runs = []
    for folder in folders:
        try:
            state = _raw_record(folder).get("state")
        except (OSError, ValueError):
            continue
        if state in ("exited", "killed"):
            continue
        run = run_processes(folder)
        if run is not None:
            runs.append(run)
    return runs
