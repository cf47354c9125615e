"""The live state of a run, derived from the truth: run.json, the processes, the control folder.

Nothing here is stored twice: "frozen" is the operator's freeze (journaled) while the runtime sees
the run stopped, "paused" the operator's soft pause (journaled) with the agent's answer to it,
never a file the agent writes (:mod:`mletui.store.opstate`); "lost" is a supervisor no longer there.
"""

from __future__ import annotations

import math
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from mletui import protocol
from mletui.core.events import (
    ActionRecord,
    AgentStep,
    BudgetLimits,
    HintStatus,
    ResourceSample,
    RunState,
    Score,
    StallFlag,
    StatusUpdate,
    TokenUsage,
)
from mletui.core.records import AgentQuestion, BadEntry, decode
from mletui.gpu.resources import run_gpu_text
from mletui.run.scores import GradeSummary, summarize_grades
from mletui.run.stalls import track_stall
from mletui.run.validation import ValidationSummary, summarize_validations
from mletui.runtimes import get_runtime
from mletui.store import controlfiles
from mletui.store.audit import INTERVENTIONS
from mletui.store.driverlock import current_driver
from mletui.store.journal import read_journal
from mletui.store.opstate import operator_state
from mletui.store.runs import RunFolder, RunRecord

# A run on another host is judged by its heartbeat: the supervisor writes it every tick.
HEARTBEAT_STALE_S = 30.0


def read_status(folder: RunFolder, record: RunRecord | None = None) -> StatusUpdate:
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
    driver = current_driver(folder)
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
    for record in controlfiles.read_jsonl(control / protocol.HINTS):
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


def summarize(folder: RunFolder) -> RunSummary:
    record = folder.read()
    status = read_status(folder, record)
    journal = read_journal(folder.journal_path)
    records = [decode(entry) for entry in journal.entries]
    best: float | None = None
    name = direction = None
    steps = 0
    actions: dict[str, int] = {}
    resources: ResourceSample | BadEntry | None = None  # the latest resources entry
    stalls: dict[str, StallFlag] = {}
    cost: float | None = None
    limits: BudgetLimits | None = None
    asked = hinted = 0.0  # the newest question, the newest hint
    agent_steps = 0
    for item in records:
        match item:
            case Score(value=value):
                steps += 1
                direction, name = item.direction, item.name
                better = best is None or (value > best if direction == "higher" else value < best)
                if better:
                    best = value
            case ActionRecord(action=action):
                actions[action] = actions.get(action, 0) + 1
                if action == "hint":
                    hinted = item.ts
            case TokenUsage(cost=spent) if spent is not None:
                cost = (cost or 0.0) + spent
            case BudgetLimits():
                limits = item
            case AgentStep():
                agent_steps += 1
            case AgentQuestion():
                asked = item.ts
            case ResourceSample() | BadEntry(kind="resources"):
                resources = item
            case StallFlag():
                track_stall(stalls, item)
    gpu = "-"
    if resources is not None and not status.state.ended:
        if isinstance(resources, BadEntry):
            gpu = "?"
        else:
            gpu = run_gpu_text(resources.gpus, resources.gpu)
    hints = hint_statuses(folder.control)
    # A hint dated before the run or in the future was not sent by mletui: the agent forged it.
    now = time.time()
    unanswered = [
        h.sent_ts for h in hints if h.status == "sent" and record.created <= h.sent_ts <= now
    ]
    live = isinstance(resources, ResourceSample) and not status.state.ended
    return RunSummary(
        record,
        status,
        best,
        name,
        direction,
        steps,
        actions,
        len(hints),
        sum(1 for h in hints if h.status == "sent"),
        journal.skipped,
        summarize_grades(records),
        gpu,
        () if status.state.ended else tuple(stalls.values()),
        summarize_validations(journal.entries),
        resources if live and isinstance(resources, ResourceSample) else None,
        cost,
        _over_budget(limits, cost, agent_steps, status),
        asked > hinted and not status.state.ended,
        min(unanswered) if unanswered and not status.state.ended else None,
    )


def _over_budget(
    limits: BudgetLimits | None, cost: float | None, steps: int, status: StatusUpdate
) -> bool:
    if status.time_left_s is not None and status.time_left_s <= 0 and not status.state.ended:
        return True
    if limits is None:
        return False
    if limits.max_cost and cost is not None and cost >= limits.max_cost:
        return True
    return bool(limits.max_steps and steps >= limits.max_steps)
