"""The recorder: writes what a run does into its journal, whether or not anyone watches.

It runs inside the supervisor. Workspace snapshots (watchfiles), the agent's protocol files
(hello, metrics, acks, events) and resource samples become journal entries; the session replays
them.

Everything the agent wrote is untrusted: each line is parsed on its own (bounded in length, any
bytes, any shape), a bad one becomes a notice (a few per file a minute, then a count of the
rest), and a thread that fails anyway is restarted and its failure journaled.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from mletui import protocol
from mletui.core.events import (
    AgentStep,
    BudgetLimits,
    ResourceSample,
    Score,
    Snapshot,
    StepStatus,
    TokenUsage,
)
from mletui.core.records import Ack, AgentNotice, AgentQuestion, Hello, JournalNotice, decode
from mletui.gpu.resources import RunGpu
from mletui.run.scores import LiveScores, SnapshotClock, reported_at
from mletui.run.stalls import RunStallWatch
from mletui.run.stepoutput import ModelOutputGate
from mletui.run.validation import SubmissionValidator
from mletui.runtimes import ResourceSampler
from mletui.store import controlfiles
from mletui.store.journal import Journal, JournalFollower, Line, read_journal
from mletui.store.runs import RunFolder
from mletui.store.snapshots import WorkspaceTimeline, watch_workspace

POLL_S = 0.3
RESOURCE_EVERY_S = 2.0
NOTICES_PER_MINUTE = 5  # about one protocol file; the rest are counted in one notice
RESTART_AFTER_S = 1.0  # a failed thread's first restart; doubled at each failure, up to a minute
STOP_DEADLINE_S = 20.0  # stop() waits this long in all for the threads and the last reads


class NoticeLimiter:
    """Notices about one file: at most NOTICES_PER_MINUTE a minute, then one that counts the rest
    (written when the minute is over, or at the end of the run)."""

    def __init__(self, journal: Journal, name: str) -> None:
        self.journal = journal
        self.name = name
        self.window_start = 0.0
        self.written = 0
        self.dropped = 0

    def note(self, text: str) -> None:
        self.flush()
        if self.written < NOTICES_PER_MINUTE:
            if self.written == 0:
                self.window_start = time.monotonic()
            self.written += 1
            self.journal.write(JournalNotice(0.0, text))
        else:
            self.dropped += 1

    def flush(self, *, final: bool = False) -> None:
        """Close the minute once it is over (or at once, ``final``): say how many were dropped."""
        if not self.written or (not final and time.monotonic() - self.window_start < 60):
            return
        if self.dropped:
            what = "notice" if self.dropped == 1 else "notices"
            text = f"{self.dropped} more {what} about {self.name} dropped"
            self.journal.write(JournalNotice(0.0, text))
        self.written = self.dropped = 0


class Recorder:
    def __init__(self, folder: RunFolder, journal: Journal, sampler: ResourceSampler) -> None:
        self.folder = folder
        self.journal = journal
        self.timeline = WorkspaceTimeline(folder.workspace, folder.snapshots)
        self.timeline.restore(last_snapshot(folder.journal_path))
        self.sampler = sampler  # the runtime's: a process group, or a container's Engine stats
        self._scan_lock = threading.Lock()
        self._poll_lock = threading.Lock()  # the control thread, and stop()'s last read
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._metrics = protocol_follower(folder.control / protocol.METRICS)
        self._acks = protocol_follower(folder.control / protocol.ACKS)
        self._events = protocol_follower(folder.control / protocol.EVENTS)
        self._limits = {
            name: NoticeLimiter(journal, name)
            for name in (protocol.HELLO, protocol.METRICS, protocol.ACKS, protocol.EVENTS)
        }
        self._hello_seen = False
        self._model_output = ModelOutputGate()
        # Which snapshot a score came from; grades each settled submission.csv and matches
        # metric lines in the log (in a thread of its own).
        self.snapshot_clock = SnapshotClock()
        self.scores = LiveScores(folder, journal, self.snapshot_at)
        # The run's share of each GPU (NVML in a thread), and the stall flags.
        self.gpu = RunGpu(folder)
        self.stalls = RunStallWatch()
        # The agent's submission-check requests, answered from the task's own checks.
        self.validator = SubmissionValidator(folder, journal)

    def start(self) -> None:
        self.scan_workspace()
        self.gpu.start()
        for target, name in ((self._watch, "workspace"), (self._poll, "control")):
            thread = threading.Thread(
                target=self._keep_running,
                args=(f"recorder-{name}", target),
                name=f"recorder-{name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        self.scores.start()
        self.validator.start()

    def _keep_running(self, name: str, target: Callable[[], None]) -> None:
        """Run ``target`` until stop(); when it fails, journal why and run it again."""
        delay = RESTART_AFTER_S
        while not self._stop.is_set():
            try:
                target()
                return
            except Exception as exc:  # a bug or a hostile input must not leave the run unrecorded
                text = f"recorder thread {name} failed ({type(exc).__name__}: {exc}); restarted"
                try:
                    self.journal.write(JournalNotice(0.0, text[:1000]))
                except Exception as append_exc:  # a full disk: the log says it at least
                    print(f"{text} (could not record: {append_exc})", flush=True)
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, 60.0)

    def stop(self) -> None:
        """Stop the threads and read what is left, within STOP_DEADLINE_S in all."""
        deadline = time.monotonic() + STOP_DEADLINE_S
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        stuck = [thread.name for thread in self._threads if thread.is_alive()]
        if stuck:
            text = f"recorder stop: still running after {STOP_DEADLINE_S:g} s: {', '.join(stuck)}"
            self.journal.write(JournalNotice(0.0, text))
        for lock, last_read, what in (
            (self._scan_lock, self.scan_workspace, "workspace scan"),
            (self._poll_lock, self.poll_control, "read of the control folder"),
        ):
            if not lock.acquire(timeout=max(0.1, deadline - time.monotonic())):
                self.journal.write(JournalNotice(0.0, f"recorder stop: the last {what} skipped"))
                continue
            lock.release()
            last_read()
        for limiter in self._limits.values():
            limiter.flush(final=True)
        self.validator.stop()
        self.scores.stop()  # grades the final submission.csv before the run's end is written
        self.gpu.stop()
        for change in self.stalls.detector.finish(time.time()):
            self.journal.write(change)

    def scan_workspace(self) -> None:
        with self._scan_lock:
            snapshot = self.timeline.scan()
            if snapshot is not None:
                self.journal.write(snapshot)
                self.snapshot_clock.add(snapshot, self.timeline.written())

    def snapshot_at(self, ts: float) -> int | None:
        """The snapshot current at ``ts``; scans first, so that code not yet noticed counts."""
        self.scan_workspace()
        return self.snapshot_clock.at(ts)

    def _watch(self) -> None:
        try:
            watch_workspace(self.folder.workspace, self.scan_workspace, self._stop)
        except Exception as exc:  # a watcher failure must not stop the run: fall back to polling
            self.journal.write(JournalNotice(0.0, f"workspace watcher failed ({exc}); polling"))
            while not self._stop.wait(1.0):
                self.scan_workspace()

    def _poll(self) -> None:
        ticks_per_sample = max(1, round(RESOURCE_EVERY_S / POLL_S))
        tick = 0
        while not self._stop.wait(POLL_S):
            self.poll_control()
            for limiter in self._limits.values():
                limiter.flush()
            if tick % ticks_per_sample == 0:
                sample = self.gpu.attach(self.sampler.sample())
                self.journal.write(sample)
                self._check_stalls(sample)
            tick += 1

    def _check_stalls(self, sample: ResourceSample) -> None:
        """GPU notices (NVML failing mid-run, once) and stall flags raised or cleared."""
        for text in self.gpu.notices():
            self.journal.write(JournalNotice(0.0, text))
        try:
            active_s = self.folder.read().active_s
        except (OSError, ValueError):
            return  # run.json being replaced right now: next sample
        try:
            log_size: int | None = self.folder.log_path.stat().st_size
        except OSError:
            log_size = None
        for change in self.stalls.check(sample, active_s, log_size):
            self.journal.write(change)

    def poll_control(self) -> None:
        with self._poll_lock:
            control = self.folder.control
            if not self._hello_seen and (control / protocol.HELLO).exists():
                self._hello_seen = True
                self._record_hello(control / protocol.HELLO)
            for name, follower, record in (
                (protocol.METRICS, self._metrics, self._record_metric),
                (protocol.ACKS, self._acks, self._record_ack),
                (protocol.EVENTS, self._events, self._record_event),
            ):
                for line in follower.read_lines():
                    self._record_line(name, line, record)
            for output in self._model_output.drain():
                self.journal.write(output)
            notice = self._model_output.notice()
            if notice is not None:
                self.journal.write(JournalNotice(0.0, notice))

    def _record_line(
        self, name: str, line: Line, record: Callable[[dict[str, Any]], str | None]
    ) -> None:
        """One line of a protocol file into the journal; any problem with it becomes a notice."""
        problem = line.problem
        if problem is None:
            try:
                problem = record(line.value)
            except Exception as exc:  # the agent is untrusted: a bad line is noted, never fatal
                problem = f"{type(exc).__name__}: {exc}"[:200]
        if problem is not None:
            self._limits[name].note(f"ignored a line of {name}: {problem}")

    def _record_hello(self, path: Path) -> None:
        try:
            hello = controlfiles.load_hello(path.parent)
        except (OSError, ValueError) as exc:
            self._limits[protocol.HELLO].note(f"hello.json not read: {exc}")
            return
        self.journal.write(Hello(0.0, hello))

    def _record_metric(self, record: dict[str, Any]) -> str | None:
        score = parse_metric(record)
        if score is None:
            return "not a metric (a finite value, a whole step, direction higher or lower)"
        seq = self.snapshot_at(reported_at(record))
        self.journal.write(replace(score, snapshot_seq=seq))
        return None

    def _record_ack(self, record: dict[str, Any]) -> str | None:
        self.journal.write(
            Ack(
                0.0,
                str(record.get("id", ""))[:200],
                str(record.get("kind", ""))[:200],
                str(record.get("status", ""))[:200],
                str(record.get("message", ""))[:2000],
            )
        )
        return None

    def _record_event(self, record: dict[str, Any]) -> str | None:
        if record.get("kind") == "model_output":
            return self._model_output.add(record)  # journaled once a poll, a step at a time
        parsed = parse_agent_event(record)
        if parsed is None:
            return "not a valid event"
        if isinstance(parsed, AgentStep):  # which code the step had, as for a score
            parsed = replace(parsed, snapshot_seq=self.snapshot_at(reported_at(record)))
        self.journal.write(parsed)
        return None


def protocol_follower(path: Path) -> JournalFollower:
    """A follower of one agent-written protocol file: any JSON object, lines of at most 1 MiB."""
    return JournalFollower(path, require_kind=False, max_line=protocol.MAX_LINE_BYTES)


def parse_metric(record: dict[str, Any]) -> Score | None:
    """A validated score from one agent-written metrics line, or None."""
    try:
        value = float(record["value"])
        step = int(record.get("step", 0))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    direction = record.get("direction", "higher")
    if not math.isfinite(value) or direction not in ("higher", "lower"):
        return None
    return Score(0.0, step, str(record.get("name", "score"))[:100], value, direction)


# events.jsonl kinds and the journal kinds they become; an agent's notice stays marked as its own.
AGENT_EVENT_KINDS = {
    "step": "step",
    "usage": "usage",
    "budget": "budget",
    "notice": "agent_notice",
    "ask": "ask",
}


def parse_agent_event(
    record: dict[str, Any],
) -> AgentStep | TokenUsage | BudgetLimits | AgentNotice | AgentQuestion | None:
    """The journal record of one agent-written events line, validated, or None."""
    kind = record.get("kind")
    try:
        if kind == "step":
            return AgentStep(
                0.0,
                step=_count(record["step"]),
                stage=str(record.get("stage") or "")[:20],
                parent=None if record.get("parent") is None else _count(record["parent"]),
                plan=str(record.get("plan") or "")[:2000],
                outcome=str(record.get("outcome") or "")[:500],
                metric=_finite(record.get("metric")),
                tokens_in=_count(record.get("tokens_in", 0)),
                tokens_out=_count(record.get("tokens_out", 0)),
                cost=_amount(record.get("cost")),
                seconds=_amount(record.get("seconds")),
                status=StepStatus(record.get("status") or "ok"),
                error=_short(record.get("error"), 100),
                analysis=str(record.get("analysis") or "")[:4000],
                hint_used=record.get("hint_used") is True,
                started=_amount(record.get("started")),
            )
        if kind == "usage":
            return TokenUsage(
                0.0,
                tokens_in=_count(record.get("tokens_in", 0)),
                tokens_out=_count(record.get("tokens_out", 0)),
                cost=_amount(record.get("cost")),
                model=str(record.get("model") or "")[:100],
            )
        if kind == "budget":
            max_steps = record.get("max_steps")
            return BudgetLimits(
                0.0,
                max_cost=_amount(record.get("max_cost")),
                max_steps=None if max_steps is None else _count(max_steps),
                model=str(record.get("model") or "")[:100],
            )
        if kind == "notice":
            text = str(record.get("text") or "")[:1000]
            severity = record.get("severity")
            if severity not in ("information", "warning", "error"):
                severity = "warning"
            return AgentNotice(0.0, text, severity) if text else None
        if kind == "ask":
            text = str(record.get("text") or "")[:2000]
            return AgentQuestion(0.0, str(record.get("id") or "")[:100], text) if text else None
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    return None


def _short(value: Any, limit: int) -> str | None:
    return None if value is None else str(value)[:limit]


def _count(value: Any) -> int:
    """A non-negative whole number (tokens, a step); anything else is malformed."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"not a count: {value!r}")
    if value < 0:
        raise ValueError(f"negative: {value!r}")
    return int(value)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return float(value)


def _amount(value: Any) -> float | None:
    """A non-negative finite number (dollars, seconds) or None."""
    number = _finite(value)
    if number is not None and number < 0:
        raise ValueError(f"negative: {value!r}")
    return number


def last_snapshot(journal_path: Path) -> Snapshot | None:
    snapshots = [
        r for r in map(decode, read_journal(journal_path).entries) if isinstance(r, Snapshot)
    ]
    return snapshots[-1] if snapshots else None
