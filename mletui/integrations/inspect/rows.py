"""Inspect's tasks and samples as mletui's rows: one per sample (task, model, sample id and
epoch, state, elapsed, tokens, score once scored), parsed from untrusted JSON."""

from __future__ import annotations

import hashlib
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from mletui.core.sanitize import clean_text
from mletui.integrations.inspect.client import ControlClient, ControlError
from mletui.integrations.inspect.discovery import EvalProcess

_PLAIN_ID = re.compile(r"[A-Za-z0-9_.]{1,40}")
# Inspect's sample states; "queued"/"pending": not started yet.
ENDED_STATES = ("completed", "error", "cancelled")
MAX_INT = 1 << 62  # a count or an epoch past this is no count: the answer is not believed


def sample_key(eval_id: str, sample_id: str, epoch: int) -> str:
    """mletui's id for one sample of one eval: short, typable, safe as a folder name
    (``<eval id prefix>-<sample id>-<epoch>``, the sample id hashed when it is not plain)."""
    sample = sample_id if _PLAIN_ID.fullmatch(sample_id) else _digest(sample_id)
    prefix = eval_id[:8] if _PLAIN_ID.fullmatch(eval_id[:8]) else _digest(eval_id)
    return f"{prefix}-{sample}-{epoch}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]


@dataclass(frozen=True)
class TaskInfo:
    """One task of a live eval, with the pause latches that hold it."""

    eval_id: str
    task_id: str
    task: str
    model: str
    status: str  # "running" or "completed"
    log_location: str | None
    paused: tuple[str, ...]  # the latches holding it (task, model, process); () when none
    paused_now: tuple[str, ...]  # those that are hard (in-flight samples held at a model call)
    held: int  # samples held at their next model call
    in_flight: int


@dataclass(frozen=True)
class SampleRow:
    eval_id: str
    task_id: str
    task: str
    model: str
    sample_id: str
    epoch: int
    state: str  # Inspect's word: running, completed, error, cancelled, queued, pending
    elapsed_s: float | None
    tokens: int | None
    scores: tuple[tuple[str, str], ...]  # (scorer, value) once scored
    pid: int | None = None  # the live eval's process; None: read from its log file
    log_path: str | None = None
    limit: str | None = None  # the limit that ended it ("operator" for a cancel)
    error: bool = False

    @property
    def id(self) -> str:
        return sample_key(self.eval_id, self.sample_id, self.epoch)

    @property
    def score_text(self) -> str:
        return ", ".join(f"{name} {value}" for name, value in self.scores)

    @property
    def ended(self) -> bool:
        return self.state in ENDED_STATES


def parse_task(value: Any) -> TaskInfo | None:
    """One ``GET /tasks`` row; None when it is not one."""
    if not isinstance(value, dict):
        return None
    eval_id, task_id = _str(value.get("eval_id")), _str(value.get("task_id"))
    if not eval_id or not task_id:
        return None
    samples = value.get("samples")
    in_flight = count(samples.get("in_flight")) if isinstance(samples, dict) else None
    return TaskInfo(
        eval_id=eval_id,
        task_id=task_id,
        task=_shown(value.get("task")),
        model=_shown(value.get("model")),
        status=_shown(value.get("status")),
        log_location=_str(value.get("log_location")),
        paused=_words(value.get("paused")),
        paused_now=_words(value.get("paused_now")),
        held=count(value.get("held")) or 0,
        in_flight=in_flight or 0,
    )


def parse_sample(value: Any, task: TaskInfo, pid: int | None) -> SampleRow | None:
    """One row of ``GET /evals/<id>/samples``; None when it is not one."""
    if not isinstance(value, dict):
        return None
    sample_id = value.get("sample_id")
    epoch = count(value.get("epoch"))
    if not isinstance(sample_id, str | int) or isinstance(sample_id, bool) or epoch is None:
        return None
    elapsed = number(value.get("total_time"))
    started = number(value.get("started_at"))
    if elapsed is None and started is not None:
        elapsed = time.time() - started
    scores = value.get("scores")
    return SampleRow(
        eval_id=task.eval_id,
        task_id=task.task_id,
        task=task.task,
        model=task.model,
        sample_id=str(sample_id),
        epoch=epoch,
        state=_shown(value.get("status")),
        elapsed_s=elapsed if elapsed is not None and elapsed >= 0 else None,
        tokens=count(value.get("total_tokens")),
        scores=score_pairs(scores),
        pid=pid,
        log_path=task.log_location,
        limit=_str(value.get("limit")),
        error=value.get("error") is not None,
    )


def score_pairs(scores: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(scores, dict):
        return ()
    return tuple(
        (clean_text(str(name), 60), clean_text(_score_text(value), 60))
        for name, value in list(scores.items())[:20]
    )


def _score_text(value: Any) -> str:
    if isinstance(value, dict) and "value" in value:  # a whole Score, as a log file has it
        value = value["value"]
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else str(value)


def score_number(value: str) -> float | None:
    """A score's value as a number: Inspect's correct/incorrect letters as 1 and 0."""
    letters = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0}
    if value in letters:
        return letters[value]
    try:
        return float(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class LiveEval:
    process: EvalProcess
    tasks: tuple[TaskInfo, ...]
    samples: tuple[SampleRow, ...]


def read_live(process: EvalProcess, client: ControlClient | None = None) -> LiveEval:
    """The tasks and sample rows of one live process (ControlError: why it cannot be read)."""
    problem = process.unsupported
    if problem:
        raise ControlError(problem)
    client = client or ControlClient(process.socket_path)
    tasks = tuple(t for t in map(parse_task, client.tasks()) if t is not None)
    rows: list[SampleRow] = []
    for task in tasks:
        listing = client.samples(task.eval_id)
        items = listing.get("samples")
        for item in items if isinstance(items, list) else []:
            row = parse_sample(item, task, process.pid)
            if row is not None:
                rows.append(row)
    return LiveEval(process, tasks, tuple(rows))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _shown(value: Any) -> str:
    return clean_text(value, 200) if isinstance(value, str) else ""


def count(value: Any) -> int | None:
    """A JSON integer of a believable size; None for anything else."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return value if -MAX_INT <= value <= MAX_INT else None


def number(value: Any) -> float | None:
    """A JSON number as a finite float; None for anything else (a bool, an infinity, NaN, an
    integer no float holds)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except OverflowError:
        return None
    return result if math.isfinite(result) else None


def _words(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(clean_text(v, 40) for v in value[:10] if isinstance(v, str))
