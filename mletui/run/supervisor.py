"""The supervisor of a run: ``python -m mletui.run.supervisor RUN_DIR``. One per run, every runtime.

Started detached by the runtime, it outlives the TUI and the command that started it. It drives
the runtime's :class:`~mletui.runtimes.AgentSide` (a process group here, a container on a Docker
Engine), timestamps every output line into the log spool, runs the recorder, counts active time
(time the operator froze or soft-paused it excluded: mletui's own record of that, never the
agent's files), enforces the time limit, carries out stop requests
(SIGTERM to the supervisor, with ``kill-request.json`` saying why and the grace period), and
records how the run ended.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

from mletui import protocol
from mletui.core.events import RunState, Stream
from mletui.core.records import JournalNotice, StateChange
from mletui.core.safefs import NotARegularFile
from mletui.run.recorder import Recorder
from mletui.run.validation import offer_checks
from mletui.runtimes import AgentExit, AgentSide, RuntimeFailure, get_runtime
from mletui.runtimes.host import read_stop_request
from mletui.store.journal import Journal
from mletui.store.opstate import OperatorState, operator_state
from mletui.store.runs import RunFolder
from mletui.store.spool import LogSpool, live_path, write_live

TICK_S = 0.2
DEFAULT_GRACE_S = 10.0
RETRY_STOP_S = 30.0
FULL_DISK = frozenset({errno.ENOSPC, errno.EDQUOT})
FINISH_WAIT_S = 600.0  # how long a run's end waits for room on a full disk


class DiskRoom:
    """The supervisor's writes, on a disk that may fill up (the agent can fill it).

    A full disk is said once, on stderr (the supervisor's log: it may be on that disk too), and
    outlived: the run goes on being supervised (its clock, its limit and stop requests are in
    memory), what could not be written is dropped, and the next tick writes again. Once there is
    room, one notice in the journal says for how long there was none. A run's end waits for
    room (:meth:`until_written`), so that it is recorded, never lost.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.full_since: float | None = None

    def write(self, what: str, action: Callable[..., object], *args: Any) -> bool:
        """Do ``action(*args)``; False (and nothing raised) when the disk had no room for it."""
        try:
            action(*args)
        except OSError as exc:
            if exc.errno not in FULL_DISK:
                raise
            if self.full_since is None:
                self.full_since = time.time()
                with contextlib.suppress(OSError):  # stderr may be on the full disk too
                    print(
                        f"mletui supervisor: the disk is full ({what} not written); going on",
                        file=sys.stderr,
                        flush=True,
                    )
            return False
        if self.full_since is not None:
            since, self.full_since = self.full_since, None
            text = (
                f"the disk was full from {time.strftime('%H:%M:%S', time.localtime(since))} "
                f"to {time.strftime('%H:%M:%S')}: the run's output, resources and state of "
                "that time were not all recorded"
            )
            self.write("a notice", self.journal.write, JournalNotice(0.0, text))
        return True

    def until_written(self, what: str, action: Callable[..., object], *args: Any) -> None:
        deadline = time.monotonic() + FINISH_WAIT_S
        while not self.write(what, action, *args):
            if time.monotonic() > deadline:
                raise OSError(errno.ENOSPC, f"{what}: the disk stayed full")
            time.sleep(1.0)


def soft_paused(journal_path: Path) -> bool:
    """True while the operator's soft pause stands and the agent has acknowledged *it*; the
    agent's own pause file or acks cannot make this true (see :mod:`mletui.store.opstate`)."""
    return operator_state(journal_path).soft_paused


def clock_stopped(agent: AgentSide, journal_path: Path) -> bool:
    """True while active time does not count: the operator froze the run and the runtime sees
    it stopped, or the operator's soft pause stands acknowledged. A run that stops itself
    (SIGSTOP to its own group) or fakes a pause stays on the clock."""
    state = operator_state(journal_path)
    return state.soft_paused or (state.frozen and agent.frozen())


class ForgedPauseNotices:
    """Says once in the journal that the agent made a pause of its own: a ``control/pause`` file
    the operator did not ask for (seen on two ticks running, so a resume that is journaled but
    whose file is not yet removed is not taken for one), or a "paused" ack that answers no
    request. Neither changes the run's state or its clock."""

    def __init__(self, control: Path, journal: Journal) -> None:
        self.control = control
        self.journal = journal
        self._file_seen = False
        self._file_noticed = False
        self._ack_noticed = False

    def check(self, state: OperatorState) -> None:
        stray_file = not state.paused and os.path.lexists(self.control / protocol.PAUSE)
        if stray_file and self._file_seen and not self._file_noticed:
            self._file_noticed = True
            self.journal.write(
                JournalNotice(
                    0.0,
                    "the agent wrote a pause file of its own (the operator asked for no "
                    "pause): ignored, the run and its clock go on",
                )
            )
        self._file_seen = stray_file
        if state.stray_acks and not self._ack_noticed:
            self._ack_noticed = True
            self.journal.write(
                JournalNotice(
                    0.0,
                    'the agent wrote a "paused" ack that answers no pause request: '
                    "ignored, the run and its clock go on",
                )
            )


class Supervisor:
    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        self.journal = Journal(folder.journal_path)
        self.spool = LogSpool(folder.log_path)
        self.spool_lock = threading.Lock()
        self.disk = DiskRoom(self.journal)
        self.kill_requested = threading.Event()
        # Output waits for the "agent started" note, so the log reads in the order things happened.
        self._noted_start = threading.Event()

    def note(self, text: str) -> None:
        """A line of mletui's own in the log, marked as such."""
        line = f"[mletui] {text}".encode()
        with self.spool_lock:
            self.disk.write("the log", lambda: self.spool.write(Stream.SYSTEM, line))

    def emit(self, stream: Stream, lines: Sequence[bytes], ts: float) -> None:
        """The agent side's output (and its notes, on SYSTEM): lines that share one timestamp."""
        if stream is not Stream.SYSTEM:
            self._noted_start.wait()
        with self.spool_lock:
            self.disk.write("the log", lambda: self.spool.write_many(stream, lines, ts))

    def live(self, stream: Stream, raw: bytes, ts: float) -> None:
        """The line the agent is still writing (a progress bar), for the watchers' live row."""
        if stream is not Stream.SYSTEM:
            self._noted_start.wait()
        path = live_path(self.folder.path)
        with self.spool_lock, contextlib.suppress(OSError, NotARegularFile):
            # A link or fifo planted there costs the live row only, never the run.
            self.disk.write("the log", lambda: write_live(path, stream, raw, ts))

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self.kill_requested.set())
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        me = psutil.Process()
        with self.folder.updating() as record:
            record.supervisor_pid = me.pid
            record.supervisor_started = me.create_time()
            record.state = RunState.STARTING
        record = self.folder.read()
        agent = get_runtime(record.runtime).agent_side(self.folder)
        offer_checks(self.folder)  # before the agent asks; the recorder answers
        try:
            what = agent.launch(self.emit, self.live)
        except RuntimeFailure as exc:
            self.note(str(exc))
            self._finish(RunState.EXITED, AgentExit(127), f"could not start: {exc}")
            return 1
        started = time.time()
        with self.folder.updating() as record:
            record.started = started
            record.state = RunState.RUNNING
            record.heartbeat = started
            agent.update_record(record)
        self.journal.write(StateChange(0.0, RunState.RUNNING, agent=what))
        self.note(f"agent started: {what}")
        self._noted_start.set()

        recorder = Recorder(self.folder, self.journal, agent.sampler())
        recorder.start()
        try:
            active, reason = self._supervise(agent, record.time_limit_s)
            outcome = agent.finish()
        finally:
            self.disk.write("the recorder's last entries", recorder.stop)

        def record_active() -> None:
            with self.folder.updating() as rec:
                rec.active_s = round(active, 2)
                agent.update_record(rec)

        self.disk.until_written("run.json", record_active)
        state = RunState.LOST if outcome.lost else RunState.KILLED if reason else RunState.EXITED
        self._finish(state, outcome, reason or outcome.lost)
        return 0

    def _supervise(self, agent: AgentSide, limit: float | None) -> tuple[float, str | None]:
        """Tick until the agent ends; returns the active seconds and why mletui stopped it."""
        active = 0.0
        last = time.monotonic()
        reason: str | None = None
        stop_sent = 0.0
        forged = ForgedPauseNotices(self.folder.control, self.journal)
        while not agent.ended():
            time.sleep(TICK_S)
            now = time.monotonic()
            if not clock_stopped(agent, self.folder.journal_path):
                active += now - last
            self.disk.write(
                "a notice", lambda: forged.check(operator_state(self.folder.journal_path))
            )
            last = now
            with self.spool_lock:
                self.disk.write("the log", self.spool.flush)
            self.disk.write("run.json", self._tick_record, agent, active)
            if reason is not None:
                # Still there after the stop (an Engine that did not answer): try again, at once.
                if now - stop_sent > RETRY_STOP_S:
                    stop_sent = now
                    agent.terminate(0)
                continue
            if self.kill_requested.is_set():
                reason, grace = read_stop_request(self.folder, DEFAULT_GRACE_S)
            elif limit is not None and active >= limit:
                reason, grace = "time limit", DEFAULT_GRACE_S
                self.note(f"time limit of {limit:.0f} s of active time reached: stopping the agent")
            else:
                continue
            stopping = StateChange(0.0, RunState.STOPPING, reason=reason)
            self.disk.write("the journal", self.journal.write, stopping)
            stop_sent = time.monotonic() + grace
            if agent.terminate(grace):
                self.note(f"the agent ignored the stop request for {grace:g} s: sent SIGKILL")
        if reason is None and self.kill_requested.is_set():
            # The agent ended as the stop came (a scheduler signals both at once): it says why.
            reason = read_stop_request(self.folder, DEFAULT_GRACE_S)[0]
        return active, reason

    def _tick_record(self, agent: AgentSide, active: float) -> None:
        with self.folder.updating() as rec:
            rec.active_s = round(active, 2)
            rec.heartbeat = time.time()
            agent.update_record(rec)

    def _finish(self, state: RunState, outcome: AgentExit, reason: str | None) -> None:
        self._noted_start.set()
        code = outcome.code
        if code is None:
            detail = "exit code unknown"
        elif code < 0:
            detail = f"killed by signal {-code}"
        else:
            detail = f"exit code {code}"
        if outcome.oom_killed:
            detail += ", out of memory (OOM-killed)"
        self.note(f"agent {state.value}: {detail}" + (f" ({reason})" if reason else ""))
        with self.spool_lock:
            self.disk.write("the log", self.spool.flush)
            self.spool.close()
        ended = time.time()
        if reason is None and outcome.oom_killed:
            reason = "out of memory"

        def record_end() -> None:
            with self.folder.updating() as rec:
                rec.state = state
                rec.exit_code = code
                rec.oom_killed = outcome.oom_killed
                rec.end_reason = reason or "exited"
                rec.ended = ended
                rec.heartbeat = ended

        end = StateChange(0.0, state, exit_code=code, reason=reason, oom_killed=outcome.oom_killed)
        self.disk.until_written("run.json", record_end)
        self.disk.until_written("the journal", self.journal.write, end)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mletui.run.supervisor RUN_DIR", file=sys.stderr)
        return 2
    folder = RunFolder(Path(args[0]))
    try:
        return Supervisor(folder).run()
    except Exception as exc:
        # Never leave a run marked as running when its supervisor is gone.
        with folder.updating() as rec:
            if rec.state not in (RunState.EXITED, RunState.KILLED, RunState.LOST):
                rec.state = RunState.EXITED
                rec.end_reason = f"supervisor error: {exc}"
                rec.ended = time.time()
        raise


if __name__ == "__main__":
    sys.exit(main())
