"""Replay: a recorded run played back through the same events the live watch screen gets.

The journal and the log spool are the record. :class:`ReplaySession` has the live session's
``poll()``, so the watch screen needs no second code path: it emits, at a scaled clock, every
event whose time has come. Seeking back resets the panes and replays up to the new position.
Idle stretches are skipped with a marker; bookmarks are saved with the run.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass

from mletui.core.clock import duration
from mletui.core.events import (
    ActionRecord,
    Event,
    HintStatus,
    HintsUpdate,
    LogBatch,
    LogLine,
    Notice,
    RunState,
    Snapshot,
    StatusUpdate,
    Stream,
)
from mletui.core.records import Ack, AlertRecord, BadEntry, Record, StateChange, decode
from mletui.store.controlfiles import read_hello
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder, RunRecord
from mletui.store.snapshots import WorkspaceTimeline
from mletui.store.spool import LogFollower
from mletui.watch.control import RunControl
from mletui.watch.live import event_from_record
from mletui.watch.session import ActionNotes, Capability, ReplayClock, ReplayReset

REPLAY_ONLY = "this is a replay: keys that act on the run are disabled"

BOOKMARKS = "bookmarks.json"
IDLE_THRESHOLD_S = 30.0
SPEEDS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 500.0)


@dataclass
class _Timed:
    ts: float
    entry: Record | BadEntry


class ReplaySession:
    """Plays a run's record back at ``speed`` times real time.

    A session like the live one to the watch screen, with playback instead of the keys that act
    on the run; its ``control`` never drives, it only journals a grade reveal.
    """

    capabilities = Capability.PLAYBACK | Capability.REVEAL_GRADES
    notes = ActionNotes()
    logs = None  # the lines come in the order of time, not from a live history
    driver_token = None

    def __init__(
        self,
        folder: RunFolder,
        speed: float = 10.0,
        skip_idle: bool = True,
        idle_threshold_s: float = IDLE_THRESHOLD_S,
    ) -> None:
        self.folder = folder
        self.control = RunControl(folder)
        self.record_at_start = folder.read()
        self.speed = speed
        self.skip_idle = skip_idle
        self.idle_threshold_s = idle_threshold_s
        self.timeline = WorkspaceTimeline(folder.workspace, folder.snapshots)
        journal = read_journal(folder.journal_path)
        self.skipped_lines = journal.skipped
        records = map(decode, journal.entries)
        self.entries = sorted((_Timed(r.ts, r) for r in records), key=lambda t: t.ts)
        self.start_ts = self.record_at_start.started or self.record_at_start.created
        last_log = _last_log_ts(folder)
        ends = [self.record_at_start.ended or 0.0, last_log or 0.0]
        ends += [t.ts for t in self.entries if self._run_side(t.entry)][-1:]
        self.end_ts = max(max(ends), self.start_ts)
        self.observe_only = read_hello(folder.control) is None
        self.bookmarks = load_bookmarks(folder)
        self.playing = True
        # The UI thread seeks while the poll worker plays: one at a time.
        self._lock = threading.RLock()
        self.position = 0.0
        self._logs: LogFollower
        self._lines: list[LogLine] = []
        self._next = 0
        self._hints: dict[str, HintStatus] = {}
        self._shown_status: StatusUpdate | None = None
        self._needs_reset = True
        self._reset()

    def _run_side(self, entry: Record | BadEntry) -> bool:
        """Whether ``entry`` is part of the run's own time: once it has ended, a watcher's later
        entries (release-driver, an alert, a revealed grade) are played at its end, not after."""
        ended = self.record_at_start.ended
        watcher_side = isinstance(entry, (ActionRecord, AlertRecord))
        return ended is None or not watcher_side or entry.ts <= ended

    # --- control ---------------------------------------------------------------------------

    @property
    def duration(self) -> float:
        return self.end_ts - self.start_ts

    def toggle(self) -> None:
        with self._lock:
            self.playing = not self.playing
            self._last_tick = time.monotonic()

    def set_speed(self, faster: bool) -> None:
        with self._lock:
            index = min(range(len(SPEEDS)), key=lambda i: abs(SPEEDS[i] - self.speed))
            index = min(index + 1, len(SPEEDS) - 1) if faster else max(index - 1, 0)
            self.speed = SPEEDS[index]

    def seek(self, position_s: float) -> None:
        with self._lock:
            position_s = min(max(0.0, position_s), self.duration)
            if position_s < self.position:
                self._reset()
            self.position = position_s
            self._last_tick = time.monotonic()

    def add_bookmark(self, label: str = "") -> tuple[float, str]:
        with self._lock:
            mark = (self.position, label or duration(self.position))
            self.bookmarks = tuple(sorted({*self.bookmarks, mark}))
            save_bookmarks(self.folder, self.bookmarks)
            return mark

    def next_bookmark(self) -> float | None:
        later = [p for p, _ in self.bookmarks if p > self.position + 0.5]
        return later[0] if later else None

    # --- the live session's interface -------------------------------------------------------

    @property
    def record(self) -> RunRecord:
        return self.folder.read()

    def unavailable(self, capability: Capability, status: StatusUpdate | None) -> str | None:
        return None if capability in self.capabilities else REPLAY_ONLY

    def take_driver(self) -> str | None:
        return REPLAY_ONLY

    def poll(self) -> list[Event | ReplayReset | ReplayClock]:
        with self._lock:
            now = time.monotonic()
            if self.playing:
                self.position = min(
                    self.duration, self.position + (now - self._last_tick) * self.speed
                )
            self._last_tick = now
            events: list[Event | ReplayReset | ReplayClock] = []
            if self._needs_reset:
                self._needs_reset = False
                events.append(ReplayReset())
            if self.skip_idle and self.playing:
                self._skip_idle_gap(events)
            until = self.start_ts + self.position
            # At the end, what was written after it (a watcher's release-driver) is played too.
            reach = float("inf") if self.position >= self.duration else until
            lines: list[LogLine] = []
            while True:
                if not self._lines:
                    self._lines = self._logs.read_new(max_lines=5000)
                    if not self._lines:
                        break
                if self._lines[0].ts > reach:
                    break
                lines.append(self._lines.pop(0))
            if lines:
                events.append(LogBatch(tuple(lines)))
            hints_changed = False
            while self._next < len(self.entries) and self.entries[self._next].ts <= reach:
                entry = self.entries[self._next].entry
                self._next += 1
                hints_changed |= self._track(entry)
                event = event_from_record(entry)
                if event is not None:
                    events.append(event)
            if hints_changed:
                events.append(HintsUpdate(tuple(self._hints.values())))
            status = self._replayed_status(until)
            if status != self._shown_status:
                self._shown_status = status
                events.append(status)
            finished = self.position >= self.duration
            if finished and self.playing:
                self.playing = False
            events.append(
                ReplayClock(
                    self.position, self.duration, self.speed, self.playing, self.bookmarks, finished
                )
            )
            return events

    def diff(self, snapshot: Snapshot) -> list[tuple[str, str, str]]:
        return self.timeline.diff(snapshot)

    def diff_between(self, old: Snapshot, new: Snapshot) -> list[tuple[str, str, str]]:
        return self.timeline.diff_between(old, new)

    def invalidate_status(self) -> None:
        self._shown_status = None

    def close(self) -> None:
        """Nothing to give back: a replay never drives."""

    # --- internals --------------------------------------------------------------------------

    def _reset(self) -> None:
        self._logs = LogFollower(self.folder.log_path)
        self._lines = []
        self._next = 0
        self._hints = {}
        self._state = RunState.STARTING
        self._exit: tuple[int | None, str | None] = (None, None)
        self._paused_since: float | None = None
        self._frozen_since: float | None = None
        self._inactive_s = 0.0
        self._shown_status = None
        self._needs_reset = True
        self.position = 0.0
        self._last_tick = time.monotonic()

    def _skip_idle_gap(self, events: list[Event | ReplayReset | ReplayClock]) -> None:
        """Jump over a stretch with nothing in it, and say so in the log."""
        until = self.start_ts + self.position
        upcoming = []
        if self._next < len(self.entries):
            upcoming.append(self.entries[self._next].ts)
        if not self._lines:
            self._lines = self._logs.read_new(max_lines=5000)
        if self._lines:
            upcoming.append(self._lines[0].ts)
        if not upcoming:
            return
        gap = min(upcoming) - until
        if gap > self.idle_threshold_s:
            self.position += gap - 1.0
            text = f"[replay] skipped {duration(gap)} with nothing recorded"
            marker = LogLine(until, Stream.SYSTEM, text, 0)
            events.append(LogBatch((marker,)))
            events.append(Notice(time.time(), text, "information"))

    def _track(self, record: Record | BadEntry) -> bool:
        """Follow state and hints through the record; True when the hints changed."""
        ts = record.ts
        match record:
            case StateChange(state=RunState.RUNNING):
                self._state = RunState.RUNNING
            case StateChange(state=RunState.EXITED | RunState.KILLED as state):
                self._state = state
                self._exit = (record.exit_code, record.reason)
                self._close_inactive(ts)
            case ActionRecord(action="freeze"):
                self._frozen_since = ts
            case ActionRecord(action="thaw" | "resume"):
                self._close_inactive(ts)
            case ActionRecord(action="hint"):
                hint_id = record.hint_id or ""
                self._hints[hint_id] = HintStatus(hint_id, record.detail, ts, "sent", None)
                return True
            case Ack():
                return self._track_ack(record)
        return False

    def _track_ack(self, ack: Ack) -> bool:
        ts = ack.ts
        if ack.ack_kind == "pause" and ack.status == "paused":
            self._paused_since = ts
        hint = self._hints.get(ack.id)
        if hint is not None and ack.ack_kind == "hint":
            status = ack.status
            answer = ack.message if status != "received" else hint.answer
            late_receipt = status == "received" and hint.status in ("used", "ignored")
            known = status in ("received", "used", "ignored")
            if known and status != hint.status and not late_receipt:
                self._hints[hint.id] = HintStatus(hint.id, hint.text, hint.sent_ts, status, answer)
                return True
        return False

    def _close_inactive(self, ts: float) -> None:
        for since in (self._paused_since, self._frozen_since):
            if since is not None:
                self._inactive_s += max(0.0, ts - since)
        self._paused_since = self._frozen_since = None

    def _replayed_status(self, until: float) -> StatusUpdate:
        state = self._state
        if not state.ended:
            if self._frozen_since is not None:
                state = RunState.FROZEN
            elif self._paused_since is not None:
                state = RunState.PAUSED
        inactive = self._inactive_s + sum(
            until - s for s in (self._paused_since, self._frozen_since) if s is not None
        )
        wall = max(0.0, until - self.start_ts)
        active = max(0.0, wall - inactive)
        limit = self.record_at_start.time_limit_s
        left = None if limit is None else max(0.0, limit - active)
        exit_code, reason = self._exit
        return StatusUpdate(
            state=state,
            wall_s=round(wall),
            active_s=round(active),
            time_left_s=None if left is None else round(left),
            exit_code=exit_code,
            end_reason=reason or ("exited" if state is RunState.EXITED else None),
            observe_only=self.observe_only,
            agent_name=None,
        )


def _last_log_ts(folder: RunFolder) -> float | None:
    try:
        size = folder.log_path.stat().st_size
        with folder.log_path.open("rb") as f:
            f.seek(max(0, size - 65536))
            tail = f.read().split(b"\n")
    except OSError:
        return None
    for line in reversed(tail):
        try:
            return float(line.split(b" ", 1)[0])
        except ValueError:
            continue
    return None


def load_bookmarks(folder: RunFolder) -> tuple[tuple[float, str], ...]:
    try:
        data = json.loads((folder.path / BOOKMARKS).read_text(encoding="utf-8"))
        return tuple(sorted((float(b["position_s"]), str(b["label"])) for b in data))
    except (OSError, ValueError, KeyError, TypeError):
        return ()


def save_bookmarks(folder: RunFolder, bookmarks: tuple[tuple[float, str], ...]) -> None:
    tmp = folder.path / f".{BOOKMARKS}.{os.getpid()}.tmp"
    data = [{"position_s": p, "label": label} for p, label in bookmarks]
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, folder.path / BOOKMARKS)
