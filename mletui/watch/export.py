"""Exports: runs, scores, operator actions, resource samples and agent steps as five tables.

Columns (also in the README):

- ``runs``: run_id, task, agent, runtime, host, start, end, state, exit_code, end_reason,
  wall_s, active_s, best_validation, metric, direction, grade, medal, valid_submission,
  interventions, assisted, gpu_hours
- ``scores``: run_id, ts, run_s, kind (validation | grade), step, name, value, direction,
  snapshot_seq, valid
- ``actions``: run_id, ts, run_wall_s, run_active_s, action, operator, detail, intervention, hash
- ``resources``: run_id, ts, run_s, cpu_percent, rss_bytes, processes, gpus_held,
  gpu_memory_bytes
- ``steps``: run_id, ts, run_s, step, stage, parent, status, error, plan, analysis, outcome,
  metric, tokens_in, tokens_out, cost, seconds, hint_used, snapshot_seq, score_value (a step's
  newest report; ``snapshot_seq`` the code at its end, ``score_value`` its validation score)

Times are UTC timestamps (``ts``, ``start``, ``end``) or seconds since the run started (``run_s``).

Text comes from agents: every text cell loses its control and format characters in every format,
and in CSV a cell that a spreadsheet would run as a formula starts with a ``'``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from mletui.core.events import ActionRecord, AgentStep, ResourceSample, Score, Snapshot
from mletui.core.records import GradeRecord, decode, entry_mac
from mletui.core.sanitize import clean_field
from mletui.store.audit import INTERVENTIONS
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder
from mletui.watch.livestate import summarize

FORMATS = ("parquet", "csv", "json")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a CSV cell as a formula (the OWASP list for CSV injection)."""
RUN_COLUMNS = [
    "run_id", "task", "agent", "runtime", "host", "start", "end", "state", "exit_code",
    "end_reason", "wall_s", "active_s", "best_validation", "metric", "direction", "grade",
    "medal", "valid_submission", "interventions", "assisted", "gpu_hours",
]  # fmt: skip
SCORE_COLUMNS = [
    "run_id", "ts", "run_s", "kind", "step", "name", "value", "direction", "snapshot_seq", "valid",
]  # fmt: skip
ACTION_COLUMNS = [
    "run_id", "ts", "run_wall_s", "run_active_s", "action", "operator", "detail",
    "intervention", "mac",
]  # fmt: skip
RESOURCE_COLUMNS = [
    "run_id", "ts", "run_s", "cpu_percent", "rss_bytes", "processes", "gpus_held",
    "gpu_memory_bytes",
]  # fmt: skip
STEP_COLUMNS = [
    "run_id", "ts", "run_s", "step", "stage", "parent", "status", "error", "plan", "analysis",
    "outcome", "metric", "tokens_in", "tokens_out", "cost", "seconds", "hint_used",
    "snapshot_seq", "score_value",
]  # fmt: skip


def _utc(ts: float | None) -> pd.Timestamp | None:
    return None if ts is None else pd.Timestamp(ts, unit="s", tz="UTC")


def tables(folders: Iterable[RunFolder]) -> dict[str, pd.DataFrame]:
    runs: list[dict[str, Any]] = []
    scores: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    resources: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    for folder in folders:
        summary = summarize(folder)
        record = summary.record
        start = record.started or record.created
        grade: GradeRecord | None = None
        gpu_seconds = 0.0
        last_sample: float | None = None
        run_steps: dict[int, tuple[AgentStep, int | None]] = {}  # the newest report of each
        step_scores: dict[int, Score] = {}
        snapshot_seq: int | None = None
        for entry in read_journal(folder.journal_path).entries:
            item = decode(entry)
            match item:
                case Snapshot():
                    snapshot_seq = item.seq
                case AgentStep():
                    run_steps[item.step] = (item, snapshot_seq)
                case Score():
                    step_scores.setdefault(item.step, item)
                    scores.append(
                        _score_row(record.id, start, item, "validation", item.step, item.name,
                                   item.value, True)
                    )  # fmt: skip
                case GradeRecord():
                    scores.append(
                        _score_row(record.id, start, item, "grade", item.submission,
                                   item.metric, item.score, item.valid)
                    )  # fmt: skip
                    if item.valid:
                        grade = item
                case ActionRecord():
                    actions.append(
                        {
                            "run_id": record.id,
                            "ts": _utc(item.ts),
                            "run_wall_s": item.run_wall_s,
                            "run_active_s": item.run_active_s,
                            "action": item.action,
                            "operator": item.operator,
                            "detail": item.detail,
                            "intervention": item.action in INTERVENTIONS,
                            "mac": entry_mac(entry),
                        }
                    )
                case ResourceSample():
                    held = [d for d in item.gpus if (d.run_memory or 0) > 0]
                    if last_sample is not None:
                        gpu_seconds += len(held) * (item.ts - last_sample)
                    last_sample = item.ts
                    resources.append(
                        {
                            "run_id": record.id,
                            "ts": _utc(item.ts),
                            "run_s": item.ts - start,
                            "cpu_percent": item.cpu_percent,
                            "rss_bytes": item.rss_bytes,
                            "processes": item.processes,
                            "gpus_held": len(held),
                            "gpu_memory_bytes": sum(d.run_memory or 0 for d in held),
                        }
                    )
        steps.extend(
            _step_row(record.id, start, item, step_scores.get(item.step), seq)
            for item, seq in run_steps.values()
        )
        runs.append(
            {
                "run_id": record.id,
                "task": record.task,
                "agent": record.agent,
                "runtime": record.runtime,
                "host": record.host,
                "start": _utc(record.started),
                "end": _utc(record.ended),
                "state": summary.status.state.value,
                "exit_code": record.exit_code,
                "end_reason": record.end_reason,
                "wall_s": summary.status.wall_s,
                "active_s": summary.status.active_s,
                "best_validation": summary.best,
                "metric": summary.best_name,
                "direction": summary.direction,
                "grade": None if grade is None else grade.score,
                "medal": None if grade is None else grade.medal,
                "valid_submission": grade is not None,
                "interventions": sum(n for a, n in summary.actions.items() if a in INTERVENTIONS),
                "assisted": summary.assisted,
                "gpu_hours": gpu_seconds / 3600,
            }
        )
    return {
        "runs": pd.DataFrame(runs, columns=RUN_COLUMNS),
        "scores": pd.DataFrame(scores, columns=SCORE_COLUMNS),
        "actions": pd.DataFrame(actions, columns=ACTION_COLUMNS),
        "resources": pd.DataFrame(resources, columns=RESOURCE_COLUMNS),
        "steps": pd.DataFrame(steps, columns=STEP_COLUMNS),
    }


def _step_row(
    run_id: str, start: float, item: AgentStep, score: Score | None, seq: int | None
) -> dict[str, Any]:
    """One step, linked to its code (the score's snapshot, else the one current as it ended)."""
    return {
        "run_id": run_id,
        "ts": _utc(item.ts),
        "run_s": item.ts - start,
        "step": item.step,
        "stage": item.stage,
        "parent": item.parent,
        "status": item.status.value,
        "error": item.error,
        "plan": item.plan,
        "analysis": item.analysis,
        "outcome": item.outcome,
        "metric": item.metric,
        "tokens_in": item.tokens_in,
        "tokens_out": item.tokens_out,
        "cost": item.cost,
        "seconds": item.seconds,
        "hint_used": item.hint_used,
        "snapshot_seq": next(
            (s for s in (item.snapshot_seq, score and score.snapshot_seq, seq) if s is not None),
            None,
        ),
        "score_value": None if score is None else score.value,
    }


def _score_row(
    run_id: str,
    start: float,
    item: Score | GradeRecord,
    kind: str,
    step: int,
    name: str,
    value: float | None,
    valid: bool,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "ts": _utc(item.ts),
        "run_s": item.ts - start,
        "kind": kind,
        "step": step,
        "name": name,
        "value": value,
        "direction": item.direction,
        "snapshot_seq": item.snapshot_seq,
        "valid": valid,
    }


def write_tables(frames: dict[str, pd.DataFrame], out: Path, fmt: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in frames.items():
        path = out / f"{name}.{fmt}"
        frame = _inert(frame, fmt)
        if fmt == "parquet":
            frame.to_parquet(path, index=False)
        elif fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_json(path, orient="records", date_format="iso", indent=1)
        written.append(path)
    return written


def _inert(frame: pd.DataFrame, fmt: str) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are safe in a file of format ``fmt``."""
    frame = frame.copy()
    for column in frame.columns:
        dtype = frame[column].dtype
        if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            frame[column] = frame[column].map(lambda value: _inert_cell(value, fmt))
    return frame


def _inert_cell(value: Any, fmt: str) -> Any:
    """A text cell without control characters; in CSV, one a spreadsheet would run as a formula
    gets a leading ``'``, so it shows as text. Anything but text is left as it is."""
    if not isinstance(value, str):
        return value
    text = clean_field(value)
    if fmt == "csv" and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text
