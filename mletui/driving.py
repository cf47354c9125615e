"""One driver per run: a lock in the run folder with an owner and a heartbeat.

Any number of processes may watch a run; only the one holding ``driver.json`` acts on it. The
holder refreshes its heartbeat; a lock whose heartbeat is older than ``STALE_S`` is taken over,
and the takeover is journaled. Works across machines that share the run folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from mletui.journal import Journal
from mletui.store import RunFolder

LOCK_FILE = "driver.json"
# A driver silent this long has gone (a crash, a lost machine); tests shorten it.
STALE_S = float(os.environ.get("MLETUI_DRIVER_STALE_S", "15"))


@dataclass(frozen=True)
class Driver:
    operator: str
    host: str
    pid: int
    token: str
    since: float
    heartbeat: float

    def describe(self) -> str:
        return f"{self.operator} (pid {self.pid} on {self.host})"

    @property
    def stale(self) -> bool:
        return time.time() - self.heartbeat > STALE_S


def current_driver(folder: RunFolder) -> Driver | None:
    """The live driver of a run, or None (no lock, or a stale one)."""
    driver = _read(folder)
    return None if driver is None or driver.stale else driver


def _read(folder: RunFolder) -> Driver | None:
    try:
        data = json.loads((folder.path / LOCK_FILE).read_text(encoding="utf-8"))
        return Driver(**data)
    except (OSError, ValueError, TypeError):
        return None


class DriverLock:
    """This process's claim to drive one run."""

    def __init__(self, folder: RunFolder, operator: str) -> None:
        self.folder = folder
        self.operator = operator
        self.token = secrets.token_hex(8)
        self.journal = Journal(folder.journal_path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.folder.path / ".driver.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @property
    def held(self) -> bool:
        driver = _read(self.folder)
        return driver is not None and driver.token == self.token and not driver.stale

    def acquire(self) -> Driver | None:
        """Take the lock if it is free, stale or ours; otherwise return who holds it."""
        with self._locked():
            holder = _read(self.folder)
            if holder is not None and holder.token != self.token and not holder.stale:
                return holder
            now = time.time()
            since = holder.since if holder is not None and holder.token == self.token else now
            mine = Driver(self.operator, socket.gethostname(), os.getpid(), self.token, since, now)
            self._write(mine)
            if holder is not None and holder.token != self.token:
                idle = now - holder.heartbeat
                self.journal.append_chained(
                    "action",
                    {
                        "action": "take-driver",
                        "operator": self.operator,
                        "detail": f"took over from {holder.describe()}, silent for {idle:.0f} s",
                    },
                )
            elif holder is None:
                self.journal.append_chained(
                    "action", {"action": "drive", "operator": self.operator, "detail": ""}
                )
            return None

    def heartbeat(self) -> bool:
        """Refresh our heartbeat; False when the lock is no longer ours (taken over)."""
        with self._locked():
            holder = _read(self.folder)
            if holder is None or holder.token != self.token:
                return False
            self._write(Driver(**{**asdict(holder), "heartbeat": time.time()}))
            return True

    def release(self) -> None:
        with self._locked():
            holder = _read(self.folder)
            if holder is not None and holder.token == self.token:
                (self.folder.path / LOCK_FILE).unlink(missing_ok=True)
                self.journal.append_chained(
                    "action", {"action": "release-driver", "operator": self.operator, "detail": ""}
                )

    def _write(self, driver: Driver) -> None:
        tmp = self.folder.path / f".{LOCK_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(asdict(driver)), encoding="utf-8")
        os.replace(tmp, self.folder.path / LOCK_FILE)
