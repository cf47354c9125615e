"""Typed events: what collectors hand the session and the session hands the UI.

All frozen dataclasses, all plain data: no UI code, no I/O. ``ts`` is wall-clock epoch seconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from mletui.core.ansi import StyleSpan


class Stream(enum.Enum):
    STDOUT = "o"
    STDERR = "e"
    SYSTEM = "s"  # lines written by mletui itself (supervisor notes), not by the agent


@dataclass(frozen=True)
class LogLine:
    """One line of agent output, already sanitised for display."""

    ts: float
    stream: Stream
    text: str
    number: int  # 1-based line number in the run's log spool
    styles: tuple[StyleSpan, ...] = ()  # the agent's colours (SGR) over ranges of ``text``


@dataclass(frozen=True)
class LogBatch:
    lines: tuple[LogLine, ...]


@dataclass(frozen=True)
class LiveLine:
    """The line the agent is still writing (a progress bar rewritten with ``\\r``), shown as the
    log's last row until it ends; None: there is none now."""

    line: LogLine | None


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # "added", "modified", "deleted"
    old: str | None  # content hash before (None when added)
    new: str | None  # content hash after (None when deleted)
    size: int = 0
    recorded: bool = True  # False: a data file or large binary, tracked by size and hash only


@dataclass(frozen=True)
class Snapshot:
    """The workspace at one moment: ``files`` maps every path to its content hash."""

    seq: int
    ts: float
    changes: tuple[FileChange, ...]
    files: dict[str, str] = field(hash=False, compare=False, default_factory=dict)


@dataclass(frozen=True)
class Score:
    """A score reported by the agent on its own split (a validation score, never a grade)."""

    ts: float
    step: int
    name: str
    value: float
    direction: str  # "higher" or "lower" is better
    kind: str = "validation"
    snapshot_seq: int | None = None  # the workspace snapshot current when it was reported
    source: str = "protocol"  # "protocol" (metrics.jsonl) or "log" (a matched log line)
    line: int | None = None  # the log line it was matched in (source "log")


@dataclass(frozen=True)
class Grade:
    """mletui's grade of one submission on the task's held-out answers (never a validation score).

    A watcher shows its value only when revealed (the leakage guard); ``valid`` and ``reason``
    say nothing about the answers and are always shown.
    """

    ts: float
    submission: int  # 1 for the first submission graded, 2 for the next version, ...
    valid: bool
    score: float | None  # None when invalid
    reason: str | None  # why the submission is invalid, in one sentence
    metric: str
    direction: str  # "higher" or "lower" is better
    medal: str | None  # "gold", "silver", "bronze" or None (also without a leaderboard)
    above_median: bool
    snapshot_seq: int | None = None  # the workspace snapshot current when the submission appeared
    submission_ts: float | None = None  # when the submission file was written (its mtime)
    checked_by: str = "mletui"  # or MLE-bench's grader, or a grading server (valid, no score)


@dataclass(frozen=True)
class GradingInfo:
    """How a run's submissions are graded: the metric, its direction, the leaderboard's lines."""

    ts: float
    metric: str
    direction: str
    available: bool  # False: the task has no private answers (the note says why)
    note: str
    thresholds: tuple[tuple[str, float], ...] = ()  # ("gold", 0.98), ... ("median", 0.95)
    teams: int = 0  # leaderboard entries; 0: no leaderboard
    grader: str = "mletui"  # who grades ("MLE-bench's grader" for an MLE-bench run)


@dataclass(frozen=True)
class ResourceSample:
    ts: float
    cpu_percent: float  # of one core; 200.0 is two cores busy
    rss_bytes: int
    processes: int
    gpu: str  # one plain line about the GPU ("no NVIDIA GPU (NVML: driver not loaded)", or usage)
    net_rx_bytes: int | None = None  # network totals since start; None: not known (local runs)
    net_tx_bytes: int | None = None
    memory_limit_bytes: int | None = None  # the container's memory limit; None: none known
    gpus: tuple[GpuDevice, ...] = ()  # every GPU NVML sees, with this run's share of each


@dataclass(frozen=True)
class GpuDevice:
    """One NVIDIA GPU at one moment, as NVML reads it. ``None``: the device cannot tell ("n/a")."""

    index: int
    name: str
    uuid: str = ""
    utilization: float | None = None  # percent of the time a kernel ran
    memory_used: int | None = None  # bytes
    memory_total: int | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    temperature_c: float | None = None
    sm_clock_mhz: int | None = None
    memory_clock_mhz: int | None = None
    lost: str | None = None  # why the device stopped answering ("GPU is lost"); None: it answers
    run_utilization: float | None = None  # the run's own processes; None: not known
    run_memory: int | None = None  # bytes held by the run's own processes; None: not known


@dataclass(frozen=True)
class GpuProcess:
    """A process NVML sees on a GPU (a host pid), and the run it belongs to, if any."""

    device: int
    pid: int
    memory: int | None  # bytes; None: NVML cannot tell
    utilization: float | None  # SM percent; None: the device does not report it per process
    name: str = ""
    run_id: str | None = None


@dataclass(frozen=True)
class StallFlag:
    """A stall flag raised or cleared by the recorder ("GPU idle", "no log line")."""

    ts: float
    flag: str  # "gpu-idle" or "log-silent"
    active: bool  # True: raised; False: cleared
    text: str  # "GPU idle for 10 min while the run is active"
    since: float  # wall clock when the condition began
    duration_s: float | None = None  # a cleared flag: how long it was raised


class RunState(enum.StrEnum):
    """A run's state; a string too, so run.json and the journal hold the value they always did."""

    CREATED = "created"  # run.json only: launched, its supervisor not yet up (shown as starting)
    QUEUED = "queued"  # slurm: submitted, waiting for the scheduler
    STARTING = "starting"
    RUNNING = "running"
    PAUSE_REQUESTED = "pause requested"
    PAUSED = "paused"
    FROZEN = "frozen"
    EXITED = "exited"
    KILLED = "killed"
    LOST = "lost"
    STOPPING = "stopping"  # the journal only: the supervisor is stopping the agent

    @property
    def ended(self) -> bool:
        """Exited or killed. A lost run may still have processes: kill can act on it."""
        return self in (RunState.EXITED, RunState.KILLED)


@dataclass(frozen=True)
class StatusUpdate:
    """The live state of a run, derived from run.json, the process and the control folder."""

    state: RunState
    wall_s: float
    active_s: float
    time_left_s: float | None
    exit_code: int | None
    end_reason: str | None
    observe_only: bool  # no hello.json: soft pause and hints are unavailable
    agent_name: str | None
    driver: str | None = None  # who holds the driver lock ("alice@host (pid 12 on host)")
    driver_token: str | None = None  # tells a watcher whether the driver is itself
    engine_status: str | None = None  # docker: why the Engine does not answer (None: it does)
    waiting: str | None = None  # queued: why, as the scheduler says ("Resources, Slurm job 12")


def state_text(status: StatusUpdate) -> str:
    """A run's state for people (`ls`, `show`, the overview, the header pill):
    ``"running"``, ``"exited (code 1)"``, ``"killed (operator)"``, ``"lost (supervisor error)"``."""
    state = status.state
    if state is RunState.EXITED and status.exit_code is not None:
        oom = ", out of memory" if status.end_reason == "out of memory" else ""
        return f"exited (code {status.exit_code}{oom})"
    if state is RunState.QUEUED and status.waiting:
        return f"queued ({status.waiting})"
    if (state.ended or state is RunState.LOST) and status.end_reason not in (None, state.value):
        return f"{state.value} ({status.end_reason})"
    return state.value


@dataclass(frozen=True)
class HintStatus:
    """A hint as the operator sees it: sent, then received, then answered."""

    id: str
    text: str
    sent_ts: float
    status: str  # "sent", "received", "used", "ignored"
    answer: str | None


@dataclass(frozen=True)
class HintsUpdate:
    hints: tuple[HintStatus, ...]


@dataclass(frozen=True)
class ActionRecord:
    """An operator action as written to the journal."""

    ts: float
    action: str  # "pause", "resume", "freeze", "thaw", "hint", "kill"
    operator: str
    detail: str
    run_wall_s: float | None = None  # the run's clocks when it was taken (None: not a run action)
    run_active_s: float | None = None
    hint_id: str | None = None
    target: str | None = None  # "container": the action was on the whole container
    previous: dict[str, Any] | None = field(default=None, hash=False)  # a driver taken over


@dataclass(frozen=True)
class Notice:
    """A message for the operator about the watcher itself (a skipped torn line, a bad file)."""

    ts: float
    text: str
    severity: str = "warning"


class StepStatus(enum.Enum):
    """Where an agent's step stands; an agent that says nothing of it reports finished steps."""

    RUNNING = "running"
    OK = "ok"
    BUGGY = "buggy"  # it ran and failed: ``AgentStep.error`` says how
    SKIPPED = "skipped"  # never ran (no usable code, stopped before it ran)


@dataclass(frozen=True)
class AgentStep:
    """An agent's own summary of one step (events.jsonl): what it tried, how it went, its cost.
    A step may be reported more than once (running, then how it ended): the newest report wins."""

    ts: float
    step: int
    stage: str  # the agent's word: the LLM agent says "draft", "debug" or "improve"
    plan: str
    outcome: str
    metric: float | None
    tokens_in: int
    tokens_out: int
    cost: float | None  # estimated US dollars; None: unknown
    parent: int | None = None  # the step it builds on
    seconds: float | None = None  # how long it took
    status: StepStatus = StepStatus.OK
    error: str | None = None  # buggy: the error's type ("ValueError", "time-out")
    analysis: str = ""  # the agent's reading of the result
    hint_used: bool = False  # an operator's hint was in this step's prompt
    started: float | None = None  # when the step began (epoch seconds), for its elapsed time
    output: str = ""  # the output of its code, where the agent keeps it apart (AIDE's nodes)
    snapshot_seq: int | None = None  # the code as it stood when the agent reported the step


@dataclass(frozen=True)
class ModelOutput:
    """Text of a model's reply as it streams, for one step (appended to what came before)."""

    ts: float
    step: int
    text: str
    done: bool = False  # the reply is complete
    truncated: bool = False  # mletui dropped the rest of this step's output (its cap)


@dataclass(frozen=True)
class TokenUsage:
    """One model call, as the agent reports it."""

    ts: float
    tokens_in: int
    tokens_out: int
    cost: float | None  # estimated US dollars; None: unknown
    model: str


@dataclass(frozen=True)
class BudgetLimits:
    """The limits an agent announced for itself (--max-cost, --max-steps)."""

    ts: float
    max_cost: float | None
    max_steps: int | None
    model: str


Event = (
    LogBatch
    | LiveLine
    | Snapshot
    | Score
    | Grade
    | GradingInfo
    | ResourceSample
    | StatusUpdate
    | HintsUpdate
    | ActionRecord
    | Notice
    | AgentStep
    | ModelOutput
    | TokenUsage
    | BudgetLimits
    | StallFlag
)
