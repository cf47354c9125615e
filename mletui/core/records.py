"""The journal's one schema: a typed record per entry ``kind``, shared by writers and readers.

A writer builds a record and the journal writes :func:`to_entry` of it (the same keys, in the same
order, as every journal before records had). A reader passes each entry to :func:`decode`, which
checks every field's type and never raises: the journal can be damaged, and much of what it holds
came from the agent, so an entry that does not fit becomes a :class:`BadEntry` saying why. Where a
UI event already is the record (a score, a snapshot, a resource sample), it is the one type.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mletui.core.events import (
    ActionRecord,
    AgentStep,
    BudgetLimits,
    FileChange,
    GpuDevice,
    ModelOutput,
    ResourceSample,
    RunState,
    Score,
    Snapshot,
    StallFlag,
    StepStatus,
    TokenUsage,
)

Entry = dict[str, Any]


@dataclass(frozen=True)
class StateChange:
    """``state``: the supervisor's account of the run: running, stopping, then how it ended."""

    ts: float
    state: RunState  # RUNNING, STOPPING, EXITED, KILLED or LOST
    agent: str | None = None  # running: what was started
    reason: str | None = None  # stopping: why; ended: why, if mletui stopped it
    exit_code: int | None = None
    oom_killed: bool = False

    @property
    def ended(self) -> bool:
        return self.state in (RunState.EXITED, RunState.KILLED, RunState.LOST)


@dataclass(frozen=True)
class JournalNotice:
    """``notice``: mletui's own note about the run (a bad protocol line, the Engine link)."""

    ts: float
    text: str
    engine: str | None = None  # docker: "unreachable" or "connected"
    error: str | None = None  # docker: why the Engine does not answer
    gap_s: float | None = None  # docker: how long it did not


@dataclass(frozen=True)
class Validation:
    """``validation``: the agent asked whether a submission is valid; the answer it got (never a
    score). ``refused``: the request itself was refused (a path outside submission/, a link)."""

    ts: float
    id: str | None
    path: str | None  # None: the request named no usable path
    valid: bool
    reasons: tuple[str, ...] = ()
    refused: bool = False


@dataclass(frozen=True)
class AgentNotice:
    """``agent_notice``: a notice in the agent's own words (events.jsonl), marked as its own."""

    ts: float
    text: str
    severity: str = "warning"  # "information", "warning" or "error"


@dataclass(frozen=True)
class AgentQuestion:
    """``ask``: the agent asks the operator for help (``protocol.ask``); a hint answers it."""

    ts: float
    id: str
    text: str


@dataclass(frozen=True)
class AlertRecord:
    """``alert``: something that needs the operator, raised once by whichever watcher saw it
    first; ``key`` says which event it is (so no watcher raises it again), ``upto`` the newest
    question it covers (a flood of questions is one alert)."""

    ts: float
    alert: str  # an AlertKind's value: "crashed", "lost", "stalled", "budget", "ask", ...
    key: str
    text: str
    upto: float | None = None


@dataclass(frozen=True)
class Hello:
    """``hello``: the agent's hello.json as it was read."""

    ts: float
    hello: dict[str, Any] = field(hash=False)


@dataclass(frozen=True)
class Ack:
    """``ack``: one line of the agent's acks.jsonl."""

    ts: float
    id: str
    ack_kind: str  # "hint" or "pause"
    status: str  # "received", "used", "ignored"; "paused", "resumed"
    message: str


@dataclass(frozen=True)
class GradeRecord:
    """``grade``: one submission as graded (by mletui, MLE-bench's grader or a grading server)."""

    ts: float
    submission: int
    path: str | None
    submission_ts: float | None
    size: int | None
    sha256: str | None
    snapshot_seq: int | None
    valid: bool
    score: float | None
    reason: str | None
    metric: str
    direction: str
    medal: str | None
    above_median: bool
    checked_by: str = "mletui"
    server: dict[str, Any] | None = field(default=None, hash=False)  # the grading server's answer
    grader_error: str | None = None
    report: dict[str, Any] | None = field(default=None, hash=False)


@dataclass(frozen=True)
class GradingRecord:
    """``grading``: how submissions are graded: metric, direction, medal lines."""

    ts: float
    metric: str
    direction: str
    available: bool
    note: str
    grader: str | None = None  # None: mletui
    thresholds: dict[str, float | None] | None = field(default=None, hash=False)
    teams: int | None = None
    leaderboard_lower_is_better: bool | None = None
    leaderboard_error: str | None = None


@dataclass(frozen=True)
class ContainerEvent:
    """``container``: what the Docker Engine said of the run's container."""

    ts: float
    event: str  # the Engine's event ("die", "oom", ...), "inspect" or "missing"
    state: str
    engine_ts: float | None = None
    signal: str | None = None  # "kill" events
    exit_code: int | None = None  # "die" events


Record = (
    StateChange
    | JournalNotice
    | AgentNotice
    | Validation
    | AgentQuestion
    | AlertRecord
    | Hello
    | Ack
    | ActionRecord
    | Snapshot
    | Score
    | GradeRecord
    | GradingRecord
    | ResourceSample
    | StallFlag
    | AgentStep
    | ModelOutput
    | TokenUsage
    | BudgetLimits
    | ContainerEvent
)

KINDS: dict[type[Any], str] = {
    StateChange: "state",
    JournalNotice: "notice",
    AgentNotice: "agent_notice",
    Validation: "validation",
    AgentQuestion: "ask",
    AlertRecord: "alert",
    Hello: "hello",
    Ack: "ack",
    ActionRecord: "action",
    Snapshot: "snapshot",
    Score: "score",
    GradeRecord: "grade",
    GradingRecord: "grading",
    ResourceSample: "resources",
    StallFlag: "stall",
    AgentStep: "step",
    ModelOutput: "model_output",
    TokenUsage: "usage",
    BudgetLimits: "budget",
    ContainerEvent: "container",
}


@dataclass(frozen=True)
class BadEntry:
    """An entry that is not a record: its kind (as far as it can be read) and what is wrong."""

    ts: float
    kind: str
    problem: str
    known: bool = True  # False: a kind this version does not know (skipped without a word)


def kind_of(record: Record) -> str:
    return KINDS[type(record)]


# --- writing -------------------------------------------------------------------------------------


def _some(**fields: Any) -> Entry:
    """The fields that are not None: those a writer leaves out when it has nothing to say."""
    return {k: v for k, v in fields.items() if v is not None}


def device_to_json(device: GpuDevice) -> Entry:
    out: Entry = {"i": device.index}
    for key, attr in _DEVICE_KEYS:
        value = getattr(device, attr)
        if isinstance(value, float):
            value = round(value, 1)
        out[key] = value
    return out


def _fields(record: Record) -> Entry:
    match record:
        case StateChange():
            if record.ended:
                return {
                    "state": record.state.value,
                    "exit_code": record.exit_code,
                    "reason": record.reason,
                    "oom_killed": record.oom_killed,
                }
            return {"state": record.state.value, **_some(agent=record.agent, reason=record.reason)}
        case JournalNotice():
            return {
                "text": record.text,
                **_some(engine=record.engine, error=record.error, gap_s=record.gap_s),
            }
        case AgentNotice():
            return {"text": record.text, "severity": record.severity}
        case Validation():
            return {
                "id": record.id,
                "path": record.path,
                "valid": record.valid,
                "reasons": list(record.reasons),
                **({"refused": True} if record.refused else {}),
            }
        case AgentQuestion():
            return {"id": record.id, "text": record.text}
        case AlertRecord():
            return {
                "alert": record.alert,
                "key": record.key,
                "text": record.text,
                **_some(upto=record.upto),
            }
        case Hello():
            return {"hello": record.hello}
        case Ack():
            return {
                "id": record.id,
                "ack_kind": record.ack_kind,
                "status": record.status,
                "message": record.message,
            }
        case ActionRecord():
            clocks = {}
            if record.run_wall_s is not None or record.run_active_s is not None:
                clocks = {"run_wall_s": record.run_wall_s, "run_active_s": record.run_active_s}
            return {
                "action": record.action,
                "operator": record.operator,
                **clocks,
                "detail": record.detail,
                **_some(hint_id=record.hint_id, target=record.target, previous=record.previous),
            }
        case Snapshot():
            changes = [
                {
                    "path": c.path,
                    "status": c.status,
                    "old": c.old,
                    "new": c.new,
                    "size": c.size,
                    "recorded": c.recorded,
                }
                for c in record.changes
            ]
            return {"seq": record.seq, "changes": changes, "files": record.files}
        case Score():
            source = None if record.source == "protocol" else record.source
            return {
                "step": record.step,
                "name": record.name,
                "value": record.value,
                "direction": record.direction,
                "score_kind": record.kind,
                **_some(source=source, line=record.line),
                "snapshot_seq": record.snapshot_seq,
            }
        case GradeRecord():
            checked_by = None if record.checked_by == "mletui" else record.checked_by
            return {
                "submission": record.submission,
                "path": record.path,
                "submission_ts": record.submission_ts,
                "size": record.size,
                "sha256": record.sha256,
                "snapshot_seq": record.snapshot_seq,
                "valid": record.valid,
                "score": record.score,
                "reason": record.reason,
                "metric": record.metric,
                "direction": record.direction,
                "medal": record.medal,
                "above_median": record.above_median,
                **_some(
                    checked_by=checked_by,
                    server=record.server,
                    grader_error=record.grader_error,
                    report=record.report,
                ),
            }
        case GradingRecord():
            return {
                "metric": record.metric,
                "direction": record.direction,
                "available": record.available,
                "note": record.note,
                **_some(
                    grader=record.grader,
                    thresholds=record.thresholds,
                    teams=record.teams,
                    leaderboard_lower_is_better=record.leaderboard_lower_is_better,
                    leaderboard_error=record.leaderboard_error,
                ),
            }
        case ResourceSample():
            return {
                "cpu": round(record.cpu_percent, 1),
                "rss": record.rss_bytes,
                "procs": record.processes,
                "gpu": record.gpu,
                **_some(
                    net_rx=record.net_rx_bytes,
                    net_tx=record.net_tx_bytes,
                    mem_limit=record.memory_limit_bytes,
                ),
                **({"gpus": [device_to_json(d) for d in record.gpus]} if record.gpus else {}),
            }
        case StallFlag():
            return {
                "flag": record.flag,
                "state": "start" if record.active else "end",
                "text": record.text,
                "since": record.since,
                **_some(duration_s=record.duration_s),
            }
        case AgentStep():
            return {
                "step": record.step,
                "stage": record.stage,
                "parent": record.parent,
                "plan": record.plan,
                "outcome": record.outcome,
                "metric": record.metric,
                "tokens_in": record.tokens_in,
                "tokens_out": record.tokens_out,
                "cost": record.cost,
                "seconds": record.seconds,
                # What older journals lack; left out where it says nothing, as they wrote steps.
                **({} if record.status is StepStatus.OK else {"status": record.status.value}),
                **_some(error=record.error, started=record.started),
                **({"analysis": record.analysis} if record.analysis else {}),
                **({"hint_used": True} if record.hint_used else {}),
                **({"output": record.output} if record.output else {}),
                **_some(snapshot_seq=record.snapshot_seq),
            }
        case ModelOutput():
            return {
                "step": record.step,
                "text": record.text,
                **({"done": True} if record.done else {}),
                **({"truncated": True} if record.truncated else {}),
            }
        case TokenUsage():
            return {
                "tokens_in": record.tokens_in,
                "tokens_out": record.tokens_out,
                "cost": record.cost,
                "model": record.model,
            }
        case BudgetLimits():
            return {
                "max_cost": record.max_cost,
                "max_steps": record.max_steps,
                "model": record.model,
            }
        case ContainerEvent():
            out: Entry = {"event": record.event, "state": record.state}
            if record.engine_ts is not None:
                out["engine_ts"] = record.engine_ts
            if record.event == "kill":
                out["signal"] = record.signal
            elif record.event == "die":
                out["exit_code"] = record.exit_code
            return out


def to_entry(record: Record) -> Entry:
    """The journal entry of ``record``, without the journal's own ``prev`` and ``mac``."""
    return {"ts": record.ts, "kind": kind_of(record), **_fields(record)}


# --- reading -------------------------------------------------------------------------------------


class _Bad(Exception):
    """A field of the wrong type, or missing."""


_MISSING: Any = object()


class _Reader:
    """Typed reads of one entry's fields; each raises :class:`_Bad` naming the field."""

    def __init__(self, data: dict[str, Any], where: str = "") -> None:
        self.data = data
        self.where = where

    def _get(self, key: str, default: Any) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise _Bad(f"no {self.where}{key!r}")
            return default
        return value

    def _wrong(self, key: str, value: Any, expected: str) -> _Bad:
        return _Bad(f"{self.where}{key!r} is {type(value).__name__}, not {expected}")

    def text(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, str):
            raise self._wrong(key, value, "text")
        return value

    def number(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong(key, value, "a number")
        return float(value)

    def whole(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, float) and math.isfinite(value) and value == int(value):
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(key, value, "a whole number")
        return value

    def flag(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, bool):
            raise self._wrong(key, value, "true or false")
        return value

    def obj(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, dict):
            raise self._wrong(key, value, "an object")
        return value

    def items(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, list):
            raise self._wrong(key, value, "a list")
        return value

    def optional(self, read: Callable[[str, Any], Any], key: str) -> Any:
        """A field that may be missing or null (None then)."""
        return None if self.data.get(key) is None else read(key, _MISSING)


def _state(read: _Reader) -> StateChange:
    text = read.text("state")
    try:
        state = RunState(text)
    except ValueError:
        raise _Bad(f"'state' is not a run state: {text[:40]!r}") from None
    return StateChange(
        read.number("ts", 0.0),
        state,
        agent=read.optional(read.text, "agent"),
        reason=read.optional(read.text, "reason"),
        exit_code=read.optional(read.whole, "exit_code"),
        oom_killed=read.flag("oom_killed", False),
    )


def _notice(read: _Reader) -> JournalNotice:
    return JournalNotice(
        read.number("ts", 0.0),
        read.text("text", ""),
        engine=read.optional(read.text, "engine"),
        error=read.optional(read.text, "error"),
        gap_s=read.optional(read.number, "gap_s"),
    )


def _agent_notice(read: _Reader) -> AgentNotice:
    return AgentNotice(read.number("ts", 0.0), read.text("text"), read.text("severity", "warning"))


def _validation(read: _Reader) -> Validation:
    reasons = read.items("reasons", [])
    return Validation(
        read.number("ts", 0.0),
        read.optional(read.text, "id"),
        read.optional(read.text, "path"),
        read.flag("valid", False),
        tuple(str(r) for r in reasons),
        read.flag("refused", False),
    )


def _question(read: _Reader) -> AgentQuestion:
    return AgentQuestion(read.number("ts", 0.0), read.text("id", ""), read.text("text"))


def _alert(read: _Reader) -> AlertRecord:
    return AlertRecord(
        read.number("ts", 0.0),
        read.text("alert"),
        read.text("key"),
        read.text("text", ""),
        read.optional(read.number, "upto"),
    )


def _hello(read: _Reader) -> Hello:
    return Hello(read.number("ts", 0.0), read.obj("hello"))


def _ack(read: _Reader) -> Ack:
    return Ack(
        read.number("ts", 0.0),
        read.text("id", ""),
        read.text("ack_kind", ""),
        read.text("status", ""),
        read.text("message", ""),
    )


def _action(read: _Reader) -> ActionRecord:
    return ActionRecord(
        read.number("ts", 0.0),
        read.text("action"),
        read.text("operator", "?"),
        read.text("detail", ""),
        run_wall_s=read.optional(read.number, "run_wall_s"),
        run_active_s=read.optional(read.number, "run_active_s"),
        hint_id=read.optional(read.text, "hint_id"),
        target=read.optional(read.text, "target"),
        previous=read.optional(read.obj, "previous"),
    )


def _snapshot(read: _Reader) -> Snapshot:
    changes = []
    for number, item in enumerate(read.items("changes", [])):
        if not isinstance(item, dict):
            raise _Bad(f"change {number} is {type(item).__name__}, not an object")
        c = _Reader(item, f"change {number}: ")
        changes.append(
            FileChange(
                c.text("path"),
                c.text("status"),
                c.optional(c.text, "old"),
                c.optional(c.text, "new"),
                c.whole("size", 0),
                c.flag("recorded", True),
            )
        )
    files = read.obj("files", {})
    if not all(isinstance(v, str) for v in files.values()):
        raise _Bad("'files' maps a path to something other than a hash")
    return Snapshot(read.whole("seq"), read.number("ts"), tuple(changes), dict(files))


def _score(read: _Reader) -> Score:
    return Score(
        read.number("ts", 0.0),
        read.whole("step"),
        read.text("name"),
        read.number("value"),
        read.text("direction", "higher"),
        read.text("score_kind", "validation"),
        snapshot_seq=read.optional(read.whole, "snapshot_seq"),
        source=read.text("source", "protocol"),
        line=read.optional(read.whole, "line"),
    )


def _grade(read: _Reader) -> GradeRecord:
    return GradeRecord(
        ts=read.number("ts", 0.0),
        submission=read.whole("submission"),
        path=read.optional(read.text, "path"),
        submission_ts=read.optional(read.number, "submission_ts"),
        size=read.optional(read.whole, "size"),
        sha256=read.optional(read.text, "sha256"),
        snapshot_seq=read.optional(read.whole, "snapshot_seq"),
        valid=read.flag("valid"),
        score=read.optional(read.number, "score"),
        reason=read.optional(read.text, "reason"),
        metric=read.text("metric", ""),
        direction=read.text("direction", "higher"),
        medal=read.optional(read.text, "medal"),
        above_median=read.flag("above_median", False),
        checked_by=read.text("checked_by", "mletui"),
        server=read.optional(read.obj, "server"),
        grader_error=read.optional(read.text, "grader_error"),
        report=read.optional(read.obj, "report"),
    )


def _grading(read: _Reader) -> GradingRecord:
    thresholds = read.optional(read.obj, "thresholds")
    if thresholds is not None:
        for name, value in thresholds.items():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise _Bad(f"threshold {name[:40]!r} is {type(value).__name__}, not a number")
    return GradingRecord(
        read.number("ts", 0.0),
        read.text("metric", ""),
        read.text("direction", "higher"),
        read.flag("available", False),
        read.text("note", ""),
        grader=read.optional(read.text, "grader"),
        thresholds=thresholds,
        teams=read.optional(read.whole, "teams"),
        leaderboard_lower_is_better=read.optional(read.flag, "leaderboard_lower_is_better"),
        leaderboard_error=read.optional(read.text, "leaderboard_error"),
    )


_DEVICE_KEYS = (
    ("name", "name"),
    ("uuid", "uuid"),
    ("util", "utilization"),
    ("mem", "memory_used"),
    ("mem_total", "memory_total"),
    ("power", "power_w"),
    ("power_limit", "power_limit_w"),
    ("temp", "temperature_c"),
    ("sm_clock", "sm_clock_mhz"),
    ("mem_clock", "memory_clock_mhz"),
    ("lost", "lost"),
    ("run_util", "run_utilization"),
    ("run_mem", "run_memory"),
)


def _device(data: Any, number: int) -> GpuDevice:
    if not isinstance(data, dict):
        raise _Bad(f"GPU {number} is {type(data).__name__}, not an object")
    d = _Reader(data, f"GPU {number}: ")
    return GpuDevice(
        index=d.whole("i"),
        name=d.text("name", ""),
        uuid=d.text("uuid", ""),
        utilization=d.optional(d.number, "util"),
        memory_used=d.optional(d.whole, "mem"),
        memory_total=d.optional(d.whole, "mem_total"),
        power_w=d.optional(d.number, "power"),
        power_limit_w=d.optional(d.number, "power_limit"),
        temperature_c=d.optional(d.number, "temp"),
        sm_clock_mhz=d.optional(d.whole, "sm_clock"),
        memory_clock_mhz=d.optional(d.whole, "mem_clock"),
        lost=d.optional(d.text, "lost"),
        run_utilization=d.optional(d.number, "run_util"),
        run_memory=d.optional(d.whole, "run_mem"),
    )


def _resources(read: _Reader) -> ResourceSample:
    devices = read.optional(read.items, "gpus") or []
    return ResourceSample(
        read.number("ts", 0.0),
        read.number("cpu"),
        read.whole("rss"),
        read.whole("procs"),
        read.text("gpu", ""),
        read.optional(read.whole, "net_rx"),
        read.optional(read.whole, "net_tx"),
        read.optional(read.whole, "mem_limit"),
        tuple(_device(d, n) for n, d in enumerate(devices)),
    )


def _stall(read: _Reader) -> StallFlag:
    ts = read.number("ts", 0.0)
    return StallFlag(
        ts=ts,
        flag=read.text("flag"),
        active=read.data.get("state") == "start",
        text=read.text("text", ""),
        since=read.number("since", ts),
        duration_s=read.optional(read.number, "duration_s"),
    )


def _step(read: _Reader) -> AgentStep:
    return AgentStep(
        read.number("ts", 0.0),
        read.whole("step"),
        read.text("stage", ""),
        read.text("plan", ""),
        read.text("outcome", ""),
        read.optional(read.number, "metric"),
        read.whole("tokens_in", 0),
        read.whole("tokens_out", 0),
        read.optional(read.number, "cost"),
        parent=read.optional(read.whole, "parent"),
        seconds=read.optional(read.number, "seconds"),
        status=_step_status(read.text("status", StepStatus.OK.value)),
        error=read.optional(read.text, "error"),
        analysis=read.text("analysis", ""),
        hint_used=read.flag("hint_used", False),
        started=read.optional(read.number, "started"),
        output=read.text("output", ""),
        snapshot_seq=read.optional(read.whole, "snapshot_seq"),
    )


def _step_status(text: str) -> StepStatus:
    try:
        return StepStatus(text)
    except ValueError:
        raise _Bad(f"'status' is not a step status: {text[:40]!r}") from None


def _model_output(read: _Reader) -> ModelOutput:
    return ModelOutput(
        read.number("ts", 0.0),
        read.whole("step"),
        read.text("text", ""),
        done=read.flag("done", False),
        truncated=read.flag("truncated", False),
    )


def _usage(read: _Reader) -> TokenUsage:
    return TokenUsage(
        read.number("ts", 0.0),
        read.whole("tokens_in", 0),
        read.whole("tokens_out", 0),
        read.optional(read.number, "cost"),
        read.text("model", ""),
    )


def _budget(read: _Reader) -> BudgetLimits:
    return BudgetLimits(
        read.number("ts", 0.0),
        read.optional(read.number, "max_cost"),
        read.optional(read.whole, "max_steps"),
        read.text("model", ""),
    )


def _container(read: _Reader) -> ContainerEvent:
    return ContainerEvent(
        read.number("ts", 0.0),
        read.text("event"),
        read.text("state", ""),
        engine_ts=read.optional(read.number, "engine_ts"),
        signal=read.optional(read.text, "signal"),
        exit_code=read.optional(read.whole, "exit_code"),
    )


_DECODERS: dict[str, Callable[[_Reader], Record]] = {
    "state": _state,
    "notice": _notice,
    "agent_notice": _agent_notice,
    "ask": _question,
    "alert": _alert,
    "hello": _hello,
    "ack": _ack,
    "action": _action,
    "snapshot": _snapshot,
    "score": _score,
    "grade": _grade,
    "grading": _grading,
    "resources": _resources,
    "stall": _stall,
    "step": _step,
    "model_output": _model_output,
    "usage": _usage,
    "budget": _budget,
    "container": _container,
    "validation": _validation,
}


def entry_mac(entry: Any) -> str | None:
    """The mac the journal sealed an entry with (not part of its record), if it has one."""
    mac = entry.get("mac") if isinstance(entry, dict) else None
    return mac if isinstance(mac, str) else None


def decode(entry: Any) -> Record | BadEntry:
    """The record of one journal entry, or a :class:`BadEntry` that says what is wrong with it.
    Never raises, whatever ``entry`` holds."""
    if not isinstance(entry, dict):
        return BadEntry(0.0, "?", f"{type(entry).__name__}, not an object")
    raw_ts = entry.get("ts", 0.0)
    ts = float(raw_ts) if isinstance(raw_ts, int | float) and not isinstance(raw_ts, bool) else 0.0
    kind = entry.get("kind")
    if not isinstance(kind, str):
        return BadEntry(ts, "?", f"its kind is {type(kind).__name__}, not text")
    decoder = _DECODERS.get(kind)
    if decoder is None:
        return BadEntry(ts, kind[:40], "a kind this version does not know", known=False)
    try:
        return decoder(_Reader(entry))
    except _Bad as exc:
        return BadEntry(ts, kind, str(exc))
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:  # a bug, not a crash
        return BadEntry(ts, kind, f"{type(exc).__name__}: {exc}"[:200])
