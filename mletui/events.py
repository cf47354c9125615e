"""Typed events: what collectors hand the session and the session hands the UI.

All frozen dataclasses, all plain data: no UI code, no I/O. ``ts`` is wall-clock epoch seconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class LogBatch:
    lines: tuple[LogLine, ...]


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


@dataclass(frozen=True)
class ResourceSample:
    ts: float
    cpu_percent: float  # of one core; 200.0 is two cores busy
    rss_bytes: int
    processes: int
    gpu: str  # one plain line about the GPU ("no NVIDIA GPU (NVML: driver not loaded)", or usage)


class RunState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    PAUSE_REQUESTED = "pause requested"
    PAUSED = "paused"
    FROZEN = "frozen"
    EXITED = "exited"
    KILLED = "killed"
    LOST = "lost"

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


@dataclass(frozen=True)
class Notice:
    """A message for the operator about the watcher itself (a skipped torn line, a bad file)."""

    ts: float
    text: str
    severity: str = "warning"


Event = (
    LogBatch
    | Snapshot
    | Score
    | ResourceSample
    | StatusUpdate
    | HintsUpdate
    | ActionRecord
    | Notice
)
