"""The live state of a run, derived from the truth: run.json, the processes, the control folder.

Nothing here is stored twice: "frozen" is the operator's freeze (journaled) while the runtime sees
the run stopped, "paused" the operator's soft pause (journaled) with the agent's answer to it,
never a file the agent writes (:mod:`mletui.store.opstate`); "lost" is a supervisor no longer there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mletui import protocol
from mletui.core.events import (
    ActionRecord,
    AgentStep,
    BudgetLimits,
    Grade,
    HintStatus,
    ResourceSample,
    RunState,
    Score,
    StallFlag,
    StatusUpdate,
    TokenUsage,
)
from mletui.core.records import AgentQuestion, BadEntry, Validation, decode
from mletui.gpu.resources import run_gpu_text
from mletui.run.scores import GradeSummary, merged_grades, summarize_grades
from mletui.run.stalls import track_stall
from mletui.run.validation import ValidationSummary
from mletui.runtimes import get_runtime
from mletui.store import controlfiles, summarycache
from mletui.store.audit import INTERVENTIONS
from mletui.store.driverlock import current_driver
from mletui.store.journal import JournalFollower
from mletui.store.opstate import operator_state
from mletui.store.runs import RunFolder, RunRecord

# A run on another host is judged by its heartbeat: the supervisor writes it every tick.
HEARTBEAT_STALE_S = 30.0


def read_status(
    folder: RunFolder, record: RunRecord | None = None, *, driver_lock: bool = True
) -> StatusUpdate:
    """The run's state now; ``driver_lock=False`` leaves out who drives it (``ls`` shows no
    driver, and its lock is one more file opened per run)."""
    record = record or folder.read()
    waiting = None
    if record.state is RunState.QUEUED:
        waiting = get_runtime(record.runtime).probe(folder).waiting
        if waiting is None:  # the job ended before it started: the runtime recorded how
            record = folder.read()
    state = _state(folder, record)
    now = time.time()
    wall = 0.0 if record.started is None else (record.ended or now) - record.started
    active = record.active_s
    if record.heartbeat and state in (RunState.RUNNING, RunState.PAUSE_REQUESTED):
        active += max(0.0, now - record.heartbeat)  # between two supervisor ticks
    left = None if record.time_limit_s is None else max(0.0, record.time_limit_s - active)
    hello = controlfiles.read_hello(folder.control)
    driver = current_driver(folder) if driver_lock else None
    return StatusUpdate(
        state=state,
        wall_s=max(0.0, wall),
        active_s=active,
        time_left_s=left,
        exit_code=record.exit_code,
        end_reason=record.end_reason,
        observe_only=hello is None,
        agent_name=str(hello.get("agent")) if hello else None,
        driver=driver.describe() if driver else None,
        driver_token=driver.token if driver else None,
        engine_status=None if state.ended else record.engine_status,
        waiting=waiting if state is RunState.QUEUED else None,
    )


def _state(folder: RunFolder, record: RunRecord) -> RunState:
    if record.state in (RunState.EXITED, RunState.KILLED):
        return record.state
    if record.state is RunState.QUEUED:
        return RunState.QUEUED
    if record.state in (RunState.CREATED, RunState.STARTING):
        return RunState.STARTING
    if record.host != socket.gethostname():
        beat = record.heartbeat or 0.0
        if time.time() - beat > HEARTBEAT_STALE_S:
            return RunState.LOST
        return RunState.RUNNING
    probe = get_runtime(record.runtime).probe(folder)
    if not probe.supervisor_alive:
        return RunState.LOST
    operator = operator_state(folder.journal_path)
    if operator.frozen and probe.frozen:
        return RunState.FROZEN
    if operator.paused:
        return RunState.PAUSED if operator.acknowledged else RunState.PAUSE_REQUESTED
    return RunState.RUNNING


def hint_statuses(control: Path) -> tuple[HintStatus, ...]:
    """Every hint sent, with what the agent said of it (received, used, ignored)."""
    sent = controlfiles.read_jsonl(control / protocol.HINTS)
    if not sent:  # most runs: the agent's acks need not be read
        return ()
    answers: dict[str, tuple[str, str | None]] = {}
    order = {"sent": 0, "received": 1, "used": 2, "ignored": 2}
    for ack in controlfiles.read_jsonl(control / protocol.ACKS):
        if ack.get("kind") != "hint":
            continue
        hint_id, status = str(ack.get("id", "")), str(ack.get("status", ""))
        if status not in order:
            continue
        message = str(ack.get("message", "")) if status != "received" else None
        if order[status] >= order[answers.get(hint_id, ("sent", None))[0]]:
            answers[hint_id] = (status, message)
    hints = []
    for record in sent:
        hint_id = str(record.get("id", ""))
        status, message = answers.get(hint_id, ("sent", None))
        text = str(record.get("text", ""))
        hints.append(HintStatus(hint_id, text, _seconds(record.get("ts")), status, message))
    return tuple(hints)


def _seconds(value: object) -> float:
    """A hint's time as the control folder says it: the agent can write there, so anything but a
    finite number (a string, -Infinity, NaN) reads as 0, never as an error that hides the run."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0.0
    return float(value)


@dataclass(frozen=True)
class RunSummary:
    """What `ls`, `show` and the runs overview say about a run."""

    record: RunRecord
    status: StatusUpdate
    best: float | None
    best_name: str | None
    direction: str | None
    steps: int
    actions: dict[str, int]
    hints_sent: int
    hints_unacknowledged: int
    journal_skipped: int
    grades: GradeSummary | None = None  # mletui's grades of the submissions, and who saw them
    gpu: str = "-"  # the run's own GPU use for a table cell ("63% 12.1G"; "-": none; "n/a")
    stalls: tuple[StallFlag, ...] = ()  # stall flags raised now (none once the run ended)
    checks: ValidationSummary | None = None  # the agent's submission-check requests
    resources: ResourceSample | None = None  # the latest resources of a live run
    cost: float | None = None  # the model calls' reported cost, US dollars; None: none reported
    over_budget: bool = False  # the agent's announced cost or step budget is spent
    asking: bool = False  # the agent asked for help after the last hint (it needs a person)
    oldest_unanswered_hint: float | None = None  # when the oldest hint still "sent" was sent

    @property
    def assisted(self) -> bool:
        """An operator intervened (hint, soft pause, freeze, grade revealed): not a clean result."""
        return any(action in INTERVENTIONS for action in self.actions)


def summarize(
    folder: RunFolder, record: RunRecord | None = None, *, driver_lock: bool = True
) -> RunSummary:
    """What ``ls``, ``show`` and the overview say of a run (``record``: its ``run.json`` when the
    caller has just read it). The journal is not read again each time: an ended run's sum is
    kept in the summary cache, a live one's followed from where this process last read it.
    ``driver_lock=False``: the status without its driver, as :func:`read_status` says."""
    record = record or folder.read()
    status = read_status(folder, record, driver_lock=driver_lock)
    tally = _journal_tally(folder, status.state.ended)
    gpu = "-"
    if tally.resources is not None and not status.state.ended:
        if isinstance(tally.resources, BadEntry):
            gpu = "?"
        else:
            gpu = run_gpu_text(tally.resources.gpus, tally.resources.gpu)
    hints = hint_statuses(folder.control)
    # A hint dated before the run or in the future was not sent by mletui: the agent forged it.
    now = time.time()
    unanswered = [
        h.sent_ts for h in hints if h.status == "sent" and record.created <= h.sent_ts <= now
    ]
    resources = tally.resources
    live = isinstance(resources, ResourceSample) and not status.state.ended
    return RunSummary(
        record,
        status,
        tally.best,
        tally.name,
        tally.direction,
        tally.steps,
        dict(tally.actions),
        len(hints),
        sum(1 for h in hints if h.status == "sent"),
        tally.skipped,
        tally.grades,
        gpu,
        () if status.state.ended else tuple(tally.stalls.values()),
        ValidationSummary(tally.checks, tally.last_check),
        resources if live and isinstance(resources, ResourceSample) else None,
        tally.cost,
        _over_budget(tally.limits, tally.cost, tally.agent_steps, status),
        tally.asked > tally.hinted and not status.state.ended,
        min(unanswered) if unanswered and not status.state.ended else None,
    )


def _over_budget(
    limits: BudgetLimits | None, cost: float | None, steps: int, status: StatusUpdate
) -> bool:
    if status.state.ended:  # its budget ended it, or something else did: nothing to act on
        return False
    if status.time_left_s is not None and status.time_left_s <= 0:
        return True
    if limits is None:
        return False
    if limits.max_cost and cost is not None and cost >= limits.max_cost:
        return True
    return bool(limits.max_steps and steps >= limits.max_steps)


@dataclass
class JournalTally:
    """What a journal adds up to, so far: built entry by entry, so a growing journal is read
    once, a part at a time."""

    best: float | None = None
    name: str | None = None
    direction: str | None = None
    steps: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    skipped: int = 0  # lines that are not entries (a torn last line is counted by the reader)
    grades: GradeSummary = field(default_factory=lambda: summarize_grades(()))
    checks: int = 0
    last_check: bool | None = None
    resources: ResourceSample | BadEntry | None = None  # the latest resources entry
    stalls: dict[str, StallFlag] = field(default_factory=dict)
    cost: float | None = None  # the model calls' reported cost, summed; None: none reported
    limits: BudgetLimits | None = None  # the latest budget the agent announced
    agent_steps: int = 0
    asked: float = 0.0  # when the agent last asked for help
    hinted: float = 0.0  # when the operator last sent a hint

    def add(self, entries: list[dict[str, Any]]) -> None:
        # Only the latest resources entry is shown: decoding a day of them one by one was most
        # of a long run's summary.
        last = max((n for n, e in enumerate(entries) if e.get("kind") == "resources"), default=-1)
        records = [
            decode(entry)
            for n, entry in enumerate(entries)
            if n == last or entry.get("kind") != "resources"
        ]
        for item in records:
            match item:
                case Score(value=value):
                    self.steps += 1
                    self.direction, self.name = item.direction, item.name
                    best = self.best
                    if best is None or (
                        value > best if item.direction == "higher" else value < best
                    ):
                        self.best = value
                case ActionRecord(action=action):
                    self.actions[action] = self.actions.get(action, 0) + 1
                    if action == "hint":
                        self.hinted = item.ts
                case TokenUsage(cost=spent) if spent is not None:
                    self.cost = (self.cost or 0.0) + spent
                case BudgetLimits():
                    self.limits = item
                case AgentStep():
                    self.agent_steps += 1
                case AgentQuestion():
                    self.asked = item.ts
                case ResourceSample() | BadEntry(kind="resources"):
                    self.resources = item
                case StallFlag():
                    track_stall(self.stalls, item)
                case Validation(valid=valid):
                    self.checks += 1
                    self.last_check = valid
        self.grades = merged_grades(self.grades, summarize_grades(records))

    def to_json(self) -> dict[str, Any]:
        """An ended run's tally as the summary cache keeps it (no resources nor stalls: an ended
        run shows neither)."""
        grades = self.grades
        return {
            "best": self.best,
            "name": self.name,
            "direction": self.direction,
            "steps": self.steps,
            "actions": self.actions,
            "skipped": self.skipped,
            "graded": grades.graded,
            "latest": None if grades.latest is None else dataclasses.asdict(grades.latest),
            "best_grade": None if grades.best is None else dataclasses.asdict(grades.best),
            "seen_by": list(grades.seen_by),
            "checks": self.checks,
            "last_check": self.last_check,
            "cost": self.cost,
            "limits": None if self.limits is None else dataclasses.asdict(self.limits),
            "agent_steps": self.agent_steps,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JournalTally:
        """The tally :meth:`to_json` kept; TypeError, KeyError or ValueError when it is not one."""

        def grade(value: Any) -> Grade | None:
            return None if value is None else Grade(**value)

        best = data["best"]
        actions = data["actions"]
        if not (best is None or isinstance(best, float | int)) or not isinstance(actions, dict):
            raise ValueError("not a summary")
        return cls(
            best=best,
            name=data["name"],
            direction=data["direction"],
            steps=int(data["steps"]),
            actions={str(k): int(v) for k, v in actions.items()},
            skipped=int(data["skipped"]),
            grades=GradeSummary(
                int(data["graded"]),
                grade(data["latest"]),
                grade(data["best_grade"]),
                tuple(str(who) for who in data["seen_by"]),
            ),
            checks=int(data["checks"]),
            last_check=data["last_check"],
            cost=None if data["cost"] is None else float(data["cost"]),
            limits=None if data["limits"] is None else BudgetLimits(**data["limits"]),
            agent_steps=int(data["agent_steps"]),
        )


@dataclass
class _Followed:
    """A journal this process has read up to ``reader.offset``, and what that part adds up to."""

    reader: JournalFollower
    file: tuple[int, int]  # the journal's device and inode: another file is read from its start
    tally: JournalTally


_FOLLOWED: dict[Path, _Followed] = {}  # live runs' journals, by path, for this process's life
_ENDED: dict[Path, tuple[summarycache.Stamp, JournalTally]] = {}  # ended runs' sums, as read
_LOCK = threading.Lock()  # the overview sums runs up in a worker thread, a command in its own


def _journal_tally(folder: RunFolder, ended: bool) -> JournalTally:
    """The run's journal summed up: an ended run's from the summary cache when its entry is
    sound (else read once and kept there), a live one's from what was appended since the last
    call."""
    with _LOCK:
        return _tally_of(folder, ended)


def _tally_of(folder: RunFolder, ended: bool) -> JournalTally:
    made_from = summarycache.stamp(folder) if ended else None
    if made_from is not None:
        known = _ENDED.get(folder.path)
        if known is not None and known[0] == made_from:  # the overview asks every second
            return known[1]
        kept = summarycache.load(folder, made_from)
        if kept is not None:
            with contextlib.suppress(TypeError, KeyError, ValueError, AttributeError):
                tally = JournalTally.from_json(kept)
                _ENDED[folder.path] = (made_from, tally)
                return tally
    tally = _follow(folder)
    if ended:
        _FOLLOWED.pop(folder.journal_path, None)  # kept on disk from now on, not in memory
        if made_from is not None and summarycache.stamp(folder) == made_from:
            summarycache.store(folder, made_from, tally.to_json())
            _ENDED[folder.path] = (made_from, tally)
    return tally


def _follow(folder: RunFolder) -> JournalTally:
    """The live run's journal summed up to its end now, reading only what is new to this
    process. A torn last line counts as skipped until it is whole."""
    path = folder.journal_path
    try:
        info = os.lstat(path)
        file = (info.st_dev, info.st_ino)
    except OSError:
        info, file = None, (0, 0)
    followed = _FOLLOWED.get(path)
    if (
        followed is None
        or followed.file != file
        or (info and info.st_size < followed.reader.offset)
    ):
        followed = _Followed(JournalFollower(path), file, JournalTally())
        _FOLLOWED[path] = followed
    reader, tally = followed.reader, followed.tally
    while True:
        new, bad = reader.read_new()
        tally.skipped += bad
        tally.add(new)
        if not reader.more:
            break
    if reader.pending or reader.dropping:
        return dataclasses.replace(tally, skipped=tally.skipped + 1)
    return tally
