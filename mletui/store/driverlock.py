"""One driver per run: a lock in the run folder with an owner and a heartbeat.

Any number of processes may watch a run; only the one holding ``driver.json`` acts on it. The
holder refreshes its heartbeat; a lock whose heartbeat is older than ``STALE_S`` is taken over,
and so, at once, is a lock whose process is gone from this host (its pid is dead, or now belongs
to a process started after the lock was taken); each takeover is journaled with whom it took
over from. Works across machines that share the run folder: another host's lock is judged by
its heartbeat alone.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import psutil

from mletui.core import settings
from mletui.core.events import ActionRecord
from mletui.core.safefs import read_regular
from mletui.protocol import MAX_LINE_BYTES, loads_untrusted
from mletui.store.journal import Journal
from mletui.store.runs import RunFolder

LOCK_FILE = "driver.json"
# A driver silent this long has gone (a crash, a lost machine); tests shorten it.
STALE_S = settings.driver_stale_s()
# A process that started this long after the lock was taken is not the one that took it.
PID_REUSE_SLACK_S = 1.0
# Clocks of machines sharing a run folder differ a little; a lock stamped later than this is bogus.
FUTURE_SLACK_S = 60.0


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

    @property
    def gone(self) -> bool:
        """True when the lock's process is known to be gone: it was on this host, and its pid
        is dead or was reused by a process started after the lock was taken."""
        if self.host != socket.gethostname():
            return False
        try:
            started = psutil.Process(self.pid).create_time()
        except psutil.NoSuchProcess:
            return True
        except (psutil.Error, OSError, TypeError, ValueError, OverflowError):
            return False  # cannot tell (another user's process): judged by its heartbeat
        return started > self.since + PID_REUSE_SLACK_S

    @property
    def lapsed(self) -> bool:
        """The lock holds no more: silent too long, or its process gone."""
        return self.stale or self.gone


def current_driver(folder: RunFolder) -> Driver | None:
    """The live driver of a run, or None (no lock, a stale one, or one whose process is gone)."""
    driver = _read(folder)
    return None if driver is None or driver.lapsed else driver


def _read(folder: RunFolder) -> Driver | None:
    try:
        data = loads_untrusted(read_regular(folder.path / LOCK_FILE, MAX_LINE_BYTES))
        driver = Driver(**data)
    except (OSError, ValueError, TypeError):
        return None
    texts = (driver.operator, driver.host, driver.token)
    times = (driver.since, driver.heartbeat)
    if not all(isinstance(t, str) for t in texts) or type(driver.pid) is not int:
        return None  # not a lock mletui wrote: nobody holds the run
    if not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in times):
        return None
    if not all(math.isfinite(t) and t <= time.time() + FUTURE_SLACK_S for t in times):
        return None  # a heartbeat from the future would hold the lock for ever
    return driver


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
            if holder is not None and holder.token != self.token and not holder.lapsed:
                return holder
            now = time.time()
            since = holder.since if holder is not None and holder.token == self.token else now
            mine = Driver(self.operator, socket.gethostname(), os.getpid(), self.token, since, now)
            self._write(mine)
            if holder is not None and holder.token != self.token:
                if holder.gone:
                    why = "that process is gone"
                else:
                    why = f"silent for {now - holder.heartbeat:.0f} s"
                previous = {"operator": holder.operator, "host": holder.host, "pid": holder.pid}
                self.journal.write_chained(
                    ActionRecord(
                        0.0,
                        "take-driver",
                        self.operator,
                        f"took over from {holder.describe()}: {why}",
                        previous=previous,
                    )
                )
            elif holder is None:
                self.journal.write_chained(ActionRecord(0.0, "drive", self.operator, ""))
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
                self.journal.write_chained(ActionRecord(0.0, "release-driver", self.operator, ""))

    def _write(self, driver: Driver) -> None:
        tmp = self.folder.path / f".{LOCK_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(asdict(driver)), encoding="utf-8")
        os.replace(tmp, self.folder.path / LOCK_FILE)
