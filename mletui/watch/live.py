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
    LogBatch,
    Notice,
    ResourceSample,
    Snapshot,
    StatusUpdate,
    TokenUsage,
)
from mletui.gpu.resources import gpus_from_entry
from mletui.run.scores import (
    GRADE_KIND,
    GRADING_KIND,
    grade_from_entry,
    grading_info_from_entry,
    score_from_entry,
)
from mletui.run.stalls import stall_from_entry
from mletui.run.validation import VALIDATION_KIND, validation_text
from mletui.store.journal import JournalFollower
from mletui.store.runs import RunFolder, RunRecord
from mletui.store.snapshots import WorkspaceTimeline, snapshot_from_json
from mletui.store.spool import LogHistory
from mletui.watch.control import RunControl
from mletui.watch.livestate import hint_statuses, read_status

STATUS_EVERY_S = 0.5
HEARTBEAT_EVERY_S = 3.0
TAIL_LINES = 100  # newest lines parsed per poll; the log pane reads the rest from the spool
# A flood: a poll's newest lines are shown at most once a log frame (most polls' are dropped
# unseen), so a poll parses a few only; the pane reads the rows it shows from the spool.
FLOOD_LINES = 16


class WatchSession:
    def __init__(self, folder: RunFolder, operator: str | None = None) -> None:
        self.folder = folder
        # The watcher takes the driver lock at its first action (or at once: take_driver()).
        self.control = RunControl(folder, operator, driver=True)
        self.timeline = WorkspaceTimeline(folder.workspace, folder.snapshots)
        self.logs = LogHistory(folder.log_path, tail_lines=TAIL_LINES, flood_lines=FLOOD_LINES)
        self.journal = JournalFollower(folder.journal_path)
        self._status: StatusUpdate | None = None
        self._status_at = 0.0
        self._hint_files: tuple[int, int] = (-1, -1)
        self._heartbeat_at = 0.0

    @property
    def record(self) -> RunRecord:
        return self.folder.read()

    def poll(self) -> list[Event]:
        events: list[Event] = []
        lines = self.logs.poll()
        if lines:
            events.append(LogBatch(tuple(lines)))
        entries, skipped = self.journal.read_new()
        if skipped:
            events.append(
                Notice(time.time(), f"skipped {skipped} malformed journal line(s) of this run")
            )
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


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _size(path: Any) -> int:
    try:
        return int(path.stat().st_size)
    except OSError:
        return -1


def event_from_entry(entry: dict[str, Any]) -> Event | None:
    """The UI event for one journal entry, or None for entries the UI does not show."""
    kind = entry.get("kind")
    ts = float(entry.get("ts", 0.0))
    try:
        if kind == "snapshot":
            return snapshot_from_json(entry)
        if kind == "score":
            return score_from_entry(entry)
        if kind == GRADE_KIND:
            return grade_from_entry(entry)
        if kind == GRADING_KIND:
            return grading_info_from_entry(entry)
        if kind == "resources":
            return ResourceSample(
                ts,
                float(entry["cpu"]),
                int(entry["rss"]),
                int(entry["procs"]),
                str(entry["gpu"]),
                _optional_int(entry.get("net_rx")),
                _optional_int(entry.get("net_tx")),
                _optional_int(entry.get("mem_limit")),
                gpus_from_entry(entry),
            )
        if kind == "stall":
            return stall_from_entry(entry)
        if kind == "action":
            return ActionRecord(
                ts, str(entry["action"]), str(entry["operator"]), str(entry.get("detail", ""))
            )
        if kind == "notice":
            return Notice(ts, str(entry.get("text", "")))
        if kind == VALIDATION_KIND:  # the agent asked for a submission check
            valid = entry.get("valid") is True
            return Notice(ts, validation_text(entry), "information" if valid else "warning")
        if kind == "agent_notice":  # the agent's own words, marked as such
            return Notice(ts, f"agent: {entry['text']}", str(entry.get("severity", "warning")))
        if kind == "step":
            return AgentStep(
                ts,
                int(entry["step"]),
                str(entry.get("stage", "")),
                str(entry.get("plan", "")),
                str(entry.get("outcome", "")),
                _optional_float(entry.get("metric")),
                int(entry.get("tokens_in", 0)),
                int(entry.get("tokens_out", 0)),
                _optional_float(entry.get("cost")),
            )
        if kind == "usage":
            return TokenUsage(
                ts,
                int(entry.get("tokens_in", 0)),
                int(entry.get("tokens_out", 0)),
                _optional_float(entry.get("cost")),
                str(entry.get("model", "")),
            )
        if kind == "budget":
            max_steps = entry.get("max_steps")
            return BudgetLimits(
                ts,
                _optional_float(entry.get("max_cost")),
                None if max_steps is None else int(max_steps),
                str(entry.get("model", "")),
            )
    except (KeyError, TypeError, ValueError):
        return Notice(ts, f"a journal entry of kind {kind!r} could not be read")
    return None


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
