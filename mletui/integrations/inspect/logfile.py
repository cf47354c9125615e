"""Ended Inspect evals, read from their ``.eval`` log files with Inspect's own reader (the one
module of mletui that imports ``inspect_ai``: ``pip install 'mletui[inspect]'``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mletui.core.sanitize import clean_text
from mletui.integrations.inspect.rows import SampleRow, TaskInfo, score_pairs

MAX_TEXT = 20_000  # characters of one event's text kept for the log pane
MAX_LOG_FILES = 500
NO_INSPECT = "reading Inspect's log files needs Inspect: pip install 'mletui[inspect]'"


class LogFileError(Exception):
    """A log file that cannot be read; the message says why."""


@dataclass(frozen=True)
class EndedEvals:
    rows: tuple[SampleRow, ...]
    problems: tuple[str, ...]


def log_files(log_dir: Path) -> list[Path]:
    """The ``.eval`` files under ``log_dir`` (eval sets keep theirs in sub-folders), newest
    first."""
    found: list[Path] = []
    for root, dirs, files in os.walk(log_dir):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(root) / f for f in files if f.endswith(".eval"))
        if len(found) >= MAX_LOG_FILES:
            break
    return sorted(found, key=lambda p: p.name, reverse=True)[:MAX_LOG_FILES]


def ended_rows(log_dir: Path) -> EndedEvals:
    """One row per sample of every eval log under ``log_dir``; a sentence for each file that
    could not be read."""
    rows: list[SampleRow] = []
    problems: list[str] = []
    for path in log_files(log_dir):
        try:
            rows.extend(rows_of(path))
        except LogFileError as exc:
            problems.append(str(exc))
    return EndedEvals(tuple(rows), tuple(problems))


def rows_of(path: Path) -> list[SampleRow]:
    try:
        from inspect_ai.log import read_eval_log, read_eval_log_sample_summaries
    except ImportError:
        raise LogFileError(NO_INSPECT) from None
    try:
        header = read_eval_log(str(path), header_only=True)
        summaries = read_eval_log_sample_summaries(str(path))
    except Exception as exc:  # Inspect's reader raises many kinds on a broken file
        raise LogFileError(f"{path} cannot be read as an Inspect log: {_why(exc)}") from None
    spec = header.eval
    rows = []
    for s in summaries:
        if s.error:
            state = "error"
        elif s.limit == "operator" and not s.scores:
            state = "cancelled"
        else:
            state = "completed"
        tokens = sum(u.total_tokens for u in s.model_usage.values()) if s.model_usage else None
        scores = {name: score.value for name, score in (s.scores or {}).items()}
        rows.append(
            SampleRow(
                eval_id=spec.eval_id,
                task_id=spec.task_id,
                task=clean_text(spec.task, 200),
                model=clean_text(spec.model, 200),
                sample_id=str(s.id),
                epoch=s.epoch,
                state=state,
                elapsed_s=s.total_time,
                tokens=tokens,
                scores=score_pairs(scores),
                log_path=str(path),
                limit=s.limit,
                error=bool(s.error),
            )
        )
    return rows


def task_of(path: Path) -> TaskInfo:
    """The eval a log file records, as a task row (nothing paused: it has ended)."""
    try:
        from inspect_ai.log import read_eval_log
    except ImportError:
        raise LogFileError(NO_INSPECT) from None
    try:
        spec = read_eval_log(str(path), header_only=True).eval
    except Exception as exc:
        raise LogFileError(f"{path} cannot be read as an Inspect log: {_why(exc)}") from None
    return TaskInfo(
        spec.eval_id, spec.task_id, spec.task, spec.model, "completed", str(path), (), (), 0, 0
    )


def logged_events(path: Path, sample_id: str, epoch: int) -> list[dict[str, Any]]:
    """A logged sample's events in the control channel's compact form (so that one
    :mod:`~mletui.integrations.inspect.transcript` serves both), with their text whole up to
    :data:`MAX_TEXT` characters."""
    try:
        from inspect_ai.log import read_eval_log_sample
    except ImportError:
        raise LogFileError(NO_INSPECT) from None
    try:
        sample = read_eval_log_sample(str(path), _sample_id(sample_id), epoch)
    except Exception as exc:
        raise LogFileError(
            f"sample {clean_text(sample_id, 80)} (epoch {epoch}) of {path} cannot be read: "
            f"{_why(exc)}"
        ) from None
    return [_compact(event) for event in sample.events]


def _compact(event: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"event": event.event, "timestamp": _ts(event.timestamp)}
    if isinstance(getattr(event, "uuid", None), str):
        out["uuid"] = event.uuid  # as the control channel names it: a step read live is known
    if event.event == "model":
        out["model"] = event.model
        out["completion"] = _cut(event.output.completion if event.output else "")
        usage = event.output.usage if event.output else None
        out["tokens"] = usage.total_tokens if usage else None
        if usage:
            # input_tokens leaves out the cached ones: "in" is all the model read.
            cached = (usage.input_tokens_cache_read or 0) + (usage.input_tokens_cache_write or 0)
            out["tokens_in"] = usage.input_tokens + cached
            out["tokens_out"] = usage.output_tokens
        out["error"] = _cut(str(event.error)) if event.error else None
        out["has_error"] = event.error is not None
    elif event.event == "tool":
        out["function"] = event.function
        out["arguments"] = event.arguments
        result = event.result
        out["result"] = _cut(result if isinstance(result, str) else str(result))
        out["error"] = _cut(event.error.message) if event.error else None
        out["has_error"] = event.error is not None
    elif event.event == "error":
        out["error"] = _cut(event.error.message)
    elif event.event in ("sample_limit", "info", "logger"):
        data = getattr(event, "message", None) or getattr(event, "data", None)
        out["data"] = _cut(str(getattr(data, "message", data)))
    return out


def _sample_id(sample_id: str) -> int | str:
    return int(sample_id) if sample_id.isdigit() else sample_id


def _ts(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else 0.0


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f" … [cut: {len(text):,} chars]"


def _why(exc: BaseException) -> str:
    return clean_text(f"{exc.__class__.__name__}: {exc}", 300)
