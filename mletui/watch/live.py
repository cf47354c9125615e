"""One watched run: merges what the collectors read into one stream of typed events for the UI,
and sends the operator's actions.

The session reads; the supervisor's recorder writes. ``poll()`` does file I/O and is called from a
worker thread, never from the UI thread.
"""

from __future__ import annotations

import time
from typing import Any

from mletui import protocol
from mletui.core.events import (
    ActionRecord,
    AgentStep,
    BudgetLimits,
    Event,
    HintsUpdate,
    LiveLine,
    LogBatch,
    ModelOutput,
    Notice,
    ResourceSample,
    Score,
    Snapshot,
    StallFlag,
    StatusUpdate,
    TokenUsage,
)
from mletui.core.records import (
    AgentNotice,
    BadEntry,
    GradeRecord,
    GradingRecord,
    JournalNotice,
    Record,
    Validation,
    decode,
)
from mletui.core.words import counted
from mletui.run.scores import grade_event, grading_info
from mletui.run.validation import validation_text
from mletui.store.journal import JournalFollower
from mletui.store.runs import RunFolder, RunRecord
from mletui.store.snapshots import WorkspaceTimeline
from mletui.store.spool import LogHistory, live_path, read_live
from mletui.watch.control import RunControl
from mletui.watch.livestate import hint_statuses, read_status
from mletui.watch.session import ActionNotes, Capability

STATUS_EVERY_S = 0.5
HEARTBEAT_EVERY_S = 3.0
TAIL_LINES = 100  # newest lines parsed per poll; the log pane reads the rest from the spool
# A flood: a poll's newest lines are shown at most once a log frame (most polls' are dropped
# unseen), so a poll parses a few only; the pane reads the rows it shows from the spool.
FLOOD_LINES = 16


class WatchSession:
    """One of mletui's own runs, live: every action, through the run's runtime and its protocol
    folder (what the agent cannot do, the run's state says: observe-only, ended)."""

    capabilities = (
        Capability.SOFT_PAUSE
        | Capability.HINTS
        | Capability.FREEZE
        | Capability.KILL
        | Capability.REVEAL_GRADES
        | Capability.DRIVE
    )
    notes = ActionNotes()

    def __init__(self, folder: RunFolder, operator: str | None = None) -> None:
        self.folder = folder
        # The watcher takes the driver lock at its first action (or at once: take_driver()).
        self.control = RunControl(folder, operator, driver=True)
        self.timeline = WorkspaceTimeline(folder.workspace, folder.snapshots)
        self.logs = LogHistory(folder.log_path, tail_lines=TAIL_LINES, flood_lines=FLOOD_LINES)
        self._live_path = live_path(folder.path)
        self._live_seen: tuple[int, int] | None = None  # the live file's (mtime_ns, size) last read
        self.journal = JournalFollower(folder.journal_path)
        self._status: StatusUpdate | None = None
        self._status_at = 0.0
        self._hint_files: tuple[int, int] = (-1, -1)
        self._heartbeat_at = 0.0

    @property
    def record(self) -> RunRecord:
        return self.folder.read()

    def _poll_live(self) -> LiveLine | None:
        """The line still being written, when it changed since the last look (after the lines
        read just before: a finished bar is in the log before its live row goes)."""
        try:
            st = self._live_path.stat()
            seen = (st.st_mtime_ns, st.st_size)
        except OSError:
            seen = None
        if seen == self._live_seen:
            return None
        self._live_seen = seen
        return LiveLine(read_live(self._live_path) if seen else None)

    def poll(self) -> list[Event]:
        events: list[Event] = []
        lines = self.logs.poll()
        if lines:
            events.append(LogBatch(tuple(lines)))
        live = self._poll_live()
        if live is not None:
            events.append(live)
        entries, skipped = self.journal.read_new()
        if skipped:
            malformed = counted(skipped, "malformed journal line")
            events.append(Notice(time.time(), f"skipped {malformed} of this run"))
        for entry in entries:
            event = event_from_entry(entry)
            if event is not None:
                events.append(event)
        now = time.monotonic()
        if now - self._status_at >= STATUS_EVERY_S:
            self._status_at = now
            self._keep_driving()
            status = read_status(self.folder)
            if status != self._status:
                self._status = status
                events.append(status)
        sizes = (
            _size(self.folder.control / protocol.HINTS),
            _size(self.folder.control / protocol.ACKS),
        )
        if sizes != self._hint_files:
            self._hint_files = sizes
            events.append(HintsUpdate(hint_statuses(self.folder.control)))
        return events

    def unavailable(self, capability: Capability, status: StatusUpdate | None) -> str | None:
        return None  # all of them: the run's state says when one cannot act now

    @property
    def driver_token(self) -> str | None:
        return self.control.driver.token if self.control.driver else None

    def take_driver(self) -> str | None:
        """Ask for the driver lock; None when granted, else who drives."""
        assert self.control.driver is not None
        holder = self.control.driver.acquire()
        self.invalidate_status()
        return None if holder is None else holder.describe()

    def _keep_driving(self) -> None:
        lock = self.control.driver
        now = time.monotonic()
        if lock is not None and now - self._heartbeat_at >= HEARTBEAT_EVERY_S:
            self._heartbeat_at = now
            lock.heartbeat()  # a no-op unless this watcher drives

    def close(self) -> None:
        """Give up the driver lock, if held; the run itself is never touched."""
        if self.control.driver is not None:
            self.control.driver.release()

    def invalidate_status(self) -> None:
        """Read the state again at the next poll (after an action changed it)."""
        self._status_at = 0.0

    def diff(self, snapshot: Snapshot) -> list[tuple[str, str, str]]:
        return self.timeline.diff(snapshot)

    def diff_between(self, old: Snapshot, new: Snapshot) -> list[tuple[str, str, str]]:
        return self.timeline.diff_between(old, new)


def _size(path: Any) -> int:
    try:
        return int(path.stat().st_size)
    except OSError:
        return -1


def event_from_entry(entry: dict[str, Any]) -> Event | None:
    """The UI event for one journal entry, or None for entries the UI does not show."""
    return event_from_record(decode(entry))


def event_from_record(record: Record | BadEntry) -> Event | None:
    """The UI event for one decoded journal entry (a damaged one is a notice that says so)."""
    match record:
        case Snapshot() | Score() | ResourceSample() | StallFlag() | ActionRecord():
            return record
        case AgentStep() | ModelOutput() | TokenUsage() | BudgetLimits():
            return record
        case GradeRecord():
            return grade_event(record)
        case GradingRecord():
            return grading_info(record)
        case JournalNotice(ts=ts, text=text):
            return Notice(ts, text)
        case Validation(ts=ts, valid=valid):  # the agent asked for a submission check
            return Notice(ts, validation_text(record), "information" if valid else "warning")
        case AgentNotice(ts=ts, text=text, severity=severity):  # the agent's own words, marked
            return Notice(ts, f"agent: {text}", severity)
        case BadEntry(known=True, ts=ts, kind=kind):
            return Notice(ts, f"a journal entry of kind {kind!r} could not be read")
    return None
