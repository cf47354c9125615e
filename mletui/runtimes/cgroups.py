"""Containment of a local agent: every process it starts, however it detaches, stays reachable.

A process group is not enough: ``setsid`` or a double fork leaves it. So each local run gets,
chosen at run time:

- a cgroup of its own where the machine lets us write one: cgroup v2 (``cgroup.kill``,
  ``cgroup.freeze``) when ``/sys/fs/cgroup`` is a v2 hierarchy, else the v1 ``freezer`` and
  ``pids`` controllers. The agent joins it before it runs anything; no process can leave it
  without root's rights over the hierarchy;
- otherwise a marker in the agent's environment (``MLETUI_RUN_MARKER=<run id>:<token>``), every
  process of this machine scanned for it, and the supervisor made a child subreaper, so that
  orphans are reparented to it rather than to init. A process that clears its own environment
  and is orphaned outside the supervisor's tree escapes this fallback; it does not escape a cgroup.

``MLETUI_CONTAINMENT`` = ``auto`` (default), ``cgroup`` (fail when none can be made) or ``scan``
(the fallback, even where a cgroup could be made) chooses.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import secrets
import signal
import time
from pathlib import Path

import psutil

from mletui.core import settings

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "mletui"
MARKER_ENV = "MLETUI_RUN_MARKER"
CONTAINMENT_ENV = settings.CONTAINMENT
RUN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
FREEZE_WAIT_S = 5.0
STALE_S = 60.0
PR_SET_CHILD_SUBREAPER = 36


def containment_choice() -> str:
    return settings.containment()


def new_marker(run_id: str) -> str:
    return f"{run_id}:{secrets.token_hex(8)}"


def valid_marker(run_id: str, marker: str | None) -> str | None:
    """The marker as kept in run.json, if it is one of this run's (never another run's)."""
    if marker and marker.startswith(f"{run_id}:") and len(marker) > len(run_id) + 8:
        return marker
    return None


def _cgroup2_root(root: Path) -> bool:
    try:
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                parts = line.split()
                if len(parts) >= 3 and parts[1] == str(root) and parts[2] == "cgroup2":
                    return True
    except OSError:
        return False
    return False


def _hierarchy(root: Path) -> tuple[int, list[Path]] | None:
    """The cgroup version here and the folders that hold the runs' cgroups (v1: freezer, then
    pids), or None where there is no cgroup hierarchy to use."""
    if _cgroup2_root(root):
        return 2, [root / PARENT]
    if (root / "freezer").is_dir():
        return 1, [root / "freezer" / PARENT, root / "pids" / PARENT]
    return None


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


class RunCgroup:
    """One run's cgroup: its folder in each hierarchy (v2: one; v1: freezer, then pids)."""

    def __init__(self, version: int, dirs: list[Path]) -> None:
        self.version = version
        self.dirs = dirs

    @property
    def label(self) -> str:
        return f"cgroup v{self.version}"

    @classmethod
    def paths(cls, run_id: str, root: Path = CGROUP_ROOT) -> tuple[int, list[Path]] | None:
        found = _hierarchy(root)
        if found is None or not RUN_ID.match(run_id):
            return None
        return found[0], [parent / run_id for parent in found[1]]

    @classmethod
    def create(cls, run_id: str, root: Path = CGROUP_ROOT) -> RunCgroup | None:
        """Make the run's cgroup; None where the machine does not let us."""
        sweep_stale(root)
        found = cls.paths(run_id, root)
        if found is None:
            return None
        version, dirs = found
        made: list[Path] = []
        try:
            for i, path in enumerate(dirs):
                if version == 1 and i > 0 and not path.parent.parent.is_dir():
                    continue  # no pids controller: the freezer is enough
                if version == 2 and not path.parent.is_dir():
                    path.parent.mkdir()
                    # Children of ours may use the controllers; no processes live here.
                    with contextlib.suppress(OSError):
                        _write(path.parent / "cgroup.subtree_control", "+pids")
                path.parent.mkdir(exist_ok=True)
                path.mkdir(exist_ok=True)
                made.append(path)
            probe = made[0] / ("cgroup.freeze" if version == 2 else "freezer.state")
            if not os.access(probe, os.W_OK):
                raise OSError("not writable")
        except OSError:
            for path in reversed(made):
                with contextlib.suppress(OSError):
                    path.rmdir()
            return None
        return cls(version, made)

    @classmethod
    def find(cls, run_id: str, root: Path = CGROUP_ROOT) -> RunCgroup | None:
        """The run's cgroup if it still exists (from any process: the supervisor may be gone)."""
        found = cls.paths(run_id, root)
        if found is None:
            return None
        version, dirs = found
        present = [d for d in dirs if d.is_dir()]
        if not present or present[0] != dirs[0]:
            return None
        return cls(version, present)

    def join_self(self) -> None:
        """Move the calling process in (the agent's child, before it runs the agent)."""
        for path in self.dirs:
            _write(path / "cgroup.procs", "0")

    def pids(self) -> set[int]:
        pids: set[int] = set()
        for path in self.dirs[:1]:
            with contextlib.suppress(OSError, ValueError):
                text = (path / "cgroup.procs").read_text(encoding="ascii")
                pids.update(int(p) for p in text.split())
        return pids

    def _set_frozen(self, frozen: bool) -> None:
        """Freeze or thaw, and wait (a few seconds at most) until the kernel says it is done."""
        path = self.dirs[0]
        if self.version == 2:
            _write(path / "cgroup.freeze", "1" if frozen else "0")
            state, want = path / "cgroup.events", "frozen 1" if frozen else "frozen 0"
        else:
            state, want = path / "freezer.state", "FROZEN" if frozen else "THAWED"
            _write(state, want)
        deadline = time.monotonic() + FREEZE_WAIT_S
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if want in state.read_text("ascii").splitlines():
                    return
            time.sleep(0.01)

    def signal_all(self, *sigs: signal.Signals) -> set[int]:
        """Send ``sigs`` to every member at one instant: the cgroup is frozen meanwhile, so no
        member can fork a new one between the list and the signal. Returns the members."""
        self._set_frozen(True)
        try:
            members = self.pids()
            for pid in members:
                for sig in sigs:
                    with contextlib.suppress(OSError):
                        os.kill(pid, sig)
        finally:
            self._set_frozen(False)
        return members

    def kill_all(self) -> set[int]:
        """SIGKILL every member once (v2: ``cgroup.kill``, atomic); returns the members seen."""
        if self.version == 2 and (self.dirs[0] / "cgroup.kill").exists():
            members = self.pids()
            with contextlib.suppress(OSError):
                _write(self.dirs[0] / "cgroup.kill", "1")
            return members
        return self.signal_all(signal.SIGKILL)

    def remove(self, wait_s: float = 1.0) -> None:
        """Remove the run's folders; a member still exiting keeps them busy for a moment."""
        deadline = time.monotonic() + wait_s
        for path in reversed(self.dirs):
            while True:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)


def sweep_stale(root: Path = CGROUP_ROOT, older_than_s: float = STALE_S) -> None:
    """Remove empty run cgroups left by runs whose supervisor died before it could (the next
    run does it). A young one may be a run that is being set up: it is left alone."""
    found = _hierarchy(root)
    if found is None:
        return
    now = time.time()
    for parent in found[1]:
        with contextlib.suppress(OSError):
            for child in parent.iterdir():
                if not child.is_dir() or not RUN_ID.match(child.name):
                    continue
                with contextlib.suppress(OSError):
                    if (
                        now - child.stat().st_mtime > older_than_s
                        and not (child / "cgroup.procs").read_text("ascii").strip()
                    ):
                        child.rmdir()


def live(pids: set[int]) -> set[int]:
    """Those of ``pids`` that still run (zombies are done)."""
    out = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.add(pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out


def marked_pids(marker: str | None, pgid: int | None = None) -> set[int]:
    """Every live process of this machine whose environment carries ``marker``, or that is in
    process group ``pgid``: one pass over ``/proc``."""
    needle = f"{MARKER_ENV}={marker}".encode() if marker else None
    pids = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        with contextlib.suppress(OSError):
            if pgid is not None and os.getpgid(pid) == pgid:
                pids.add(pid)
                continue
        if needle is None:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            pids.add(pid)
    return live(pids)


def become_subreaper() -> bool:
    """Orphans of the agent reparent to this process, not to init (Linux only)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def reap_orphans(keep: int | None) -> None:
    """Collect the exit status of orphans that reparented to this subreaper (not ``keep``,
    whose status belongs to its Popen)."""
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process().children():
            if child.pid == keep:
                continue
            with contextlib.suppress(psutil.Error, ChildProcessError, OSError):
                if child.status() == psutil.STATUS_ZOMBIE:
                    os.waitpid(child.pid, os.WNOHANG)
