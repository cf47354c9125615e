"""The run's supervisor process on this host, for every runtime: start it detached, tell whether
it is still alive, and hand it a stop request."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import psutil

from mletui.core.events import RunState
from mletui.core.safefs import NotARegularFile, read_regular, write_file
from mletui.protocol import MAX_LINE_BYTES, loads_untrusted
from mletui.runtimes import RuntimeFailure
from mletui.store.runs import RunFolder, RunRecord

KILL_REQUEST = "kill-request.json"


def spawn_supervisor(
    folder: RunFolder, wait_s: float = 15.0, ready: Callable[[RunRecord], bool] | None = None
) -> RunRecord:
    """Start ``python -m mletui.run.supervisor RUN_DIR`` in a session of its own (it outlives the
    TUI and this command) and wait until ``ready(record)`` (default: it has left "created")."""
    ready = ready or (lambda record: record.state != RunState.CREATED)
    with (folder.path / "supervisor.log").open("ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "mletui.run.supervisor", str(folder.path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        record = folder.read()
        if ready(record):
            return record
        time.sleep(0.05)
    raise RuntimeFailure(
        f"The supervisor of run {folder.id} did not start within {wait_s:.0f} s; "
        f"see {folder.path / 'supervisor.log'}."
    )


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


def request_stop(folder: RunFolder, grace_s: float, reason: str) -> bool:
    """Ask the run's supervisor to stop the agent (it escalates after ``grace_s``).

    Returns False when there is no live supervisor to ask: the caller stops what is left.
    """
    record = folder.read()
    request = {"grace_s": grace_s, "reason": reason, "ts": time.time()}
    try:
        write_file(folder.path / KILL_REQUEST, json.dumps(request).encode())
    except (OSError, NotARegularFile) as exc:
        # A full disk (or a link in its place): the supervisor could not be told why; the
        # caller stops the run itself (and the supervisor, told by SIGTERM alone, does too).
        why = exc.strerror if isinstance(exc, OSError) else str(exc)
        print(
            f"mletui: could not write the stop request of run {folder.id} ({why}); "
            "stopping its processes from here.",
            file=sys.stderr,
        )
        if supervisor_alive(record) and record.supervisor_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.supervisor_pid, signal.SIGTERM)
        return False
    if not supervisor_alive(record):
        return False
    assert record.supervisor_pid is not None
    try:
        os.kill(record.supervisor_pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def read_stop_request(folder: RunFolder, default_grace_s: float) -> tuple[str, float]:
    """The (reason, grace) of the pending stop request; ("operator", default) if unreadable."""
    try:
        request = loads_untrusted(read_regular(folder.path / KILL_REQUEST, MAX_LINE_BYTES))
        return str(request.get("reason", "operator")), float(request.get("grace_s", 10.0))
    except (OSError, ValueError, AttributeError):
        return "operator", default_grace_s


def mark_ended_without_supervisor(folder: RunFolder, reason: str) -> None:
    """The supervisor is gone (a crash, a reboot, a full disk) and the caller has made sure that
    none of the run's processes is left. A run its supervisor marked ended while the agent lived
    on (it died of an error) keeps its state and says that it was lost, and why."""
    try:
        with folder.updating() as rec:
            if rec.state not in (RunState.EXITED, RunState.KILLED, RunState.LOST):
                rec.state = RunState.KILLED
                rec.end_reason = f"{reason} (lost: the supervisor died)"
                rec.ended = time.time()
            elif rec.end_reason and rec.end_reason.startswith("supervisor error"):
                why = rec.end_reason.removeprefix("supervisor error: ")
                rec.end_reason = f"lost: the supervisor died ({why}); then stopped by {reason}"
    except OSError as exc:
        print(
            f"mletui: run {folder.id} is stopped, but its record could not be written "
            f"({exc.strerror}).",
            file=sys.stderr,
        )
