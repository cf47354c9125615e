"""One watched run: merges what the collectors read into one stream of typed events for the UI,
and sends the operator's actions.

The session reads; the supervisor's recorder writes. ``poll()`` does file I/O and is called from a
worker thread, never from the UI thread.
"""

from __future__ import annotations

import time
from typing import Any

from mletui import protocol
from mletui.collectors.logs import LogFollower
from mletui.collectors.workspace import WorkspaceTimeline, snapshot_from_json
from mletui.control import RunControl
from mletui.events import (
    ActionRecord,
    Event,
    HintsUpdate,
    LogBatch,
    Notice,
    ResourceSample,
    Score,
    Snapshot,
    StatusUpdate,
)
from mletui.journal import JournalFollower
from mletui.livestate import hint_statuses, read_status
from mletui.store import RunFolder, RunRecord

STATUS_EVERY_S = 0.5
TAIL_LINES = 20_000


class WatchSession:
    def __init__(self, folder: RunFolder, operator: str | None = None) -> None:
        self.folder = folder
        self.control = RunControl(folder, operator)
        self.timeline = WorkspaceTimeline(folder.workspace, folder.snapshots)
        self.logs = LogFollower(folder.log_path, tail=TAIL_LINES)
        self.journal = JournalFollower(folder.journal_path)
        self._status: StatusUpdate | None = None
        self._status_at = 0.0
        self._hint_files: tuple[int, int] = (-1, -1)

    @property
    def record(self) -> RunRecord:
        return self.folder.read()

    def poll(self) -> list[Event]:
        events: list[Event] = []
        lines = self.logs.read_new()
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

    def invalidate_status(self) -> None:
        """Read the state again at the next poll (after an action changed it)."""
        self._status_at = 0.0

    def diff(self, snapshot: Snapshot) -> list[tuple[str, str, str]]:
        return self.timeline.diff(snapshot)


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
            return Score(
                ts,
                int(entry["step"]),
                str(entry["name"]),
                float(entry["value"]),
                str(entry.get("direction", "higher")),
                str(entry.get("score_kind", "validation")),
            )
        if kind == "resources":
            return ResourceSample(
                ts, float(entry["cpu"]), int(entry["rss"]), int(entry["procs"]), str(entry["gpu"])
            )
        if kind == "action":
            return ActionRecord(
                ts, str(entry["action"]), str(entry["operator"]), str(entry.get("detail", ""))
            )
        if kind == "notice":
            return Notice(ts, str(entry.get("text", "")))
    except (KeyError, TypeError, ValueError):
        return Notice(ts, f"a journal entry of kind {kind!r} could not be read")
    return None
