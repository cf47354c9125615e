"""``mletui grade`` of an MLE-bench run: its ``submission.csv`` scored now by MLE-bench's own grader
on this machine, the report journaled in mletui's record of the run (never in MLE-bench's folder,
never in what the agent can write) as the watch session journals the grades it sees.

The submission is the agent's file: read without following a link anywhere below the run's
folder, never more than the grader's memory, and graded as a copy."""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

from mletui.core.records import GradeRecord, decode
from mletui.core.safefs import NotARegularFile, open_regular
from mletui.grading.medals import MedalThresholds, Ranking
from mletui.grading.report import GradeReport
from mletui.grading.sandbox import GradeLimits
from mletui.integrations.mlebench.grading import (
    GRADER,
    METRIC,
    GradingFailure,
    HostGrader,
    data_folder,
    medal_of,
    thresholds_record,
)
from mletui.integrations.mlebench.runs import MlebenchRun
from mletui.integrations.mlebench.session import MlebenchControl, MlebenchFolder
from mletui.store.journal import Journal, read_journal

SUBMISSION = PurePath("submission", "submission.csv")
LIVE_STATES = ("queued", "running")


class RunGradeError(Exception):
    """Why the run cannot be graded here; one sentence."""


@dataclass(frozen=True)
class RunGrade:
    """MLE-bench's ``CompetitionReport.to_dict()`` of the run's submission (naming the run's
    file)."""

    report: dict[str, Any]
    note: str | None  # e.g. "recorded as seen by operator"


def submission_bytes(run: MlebenchRun, folder: MlebenchFolder) -> tuple[Path, bytes, float] | None:
    """The run's submission: MLE-bench's copy once it has made it, else the one mletui's watch
    mirrored from its live container; its path, bytes and modification time; None when there is
    neither."""
    places = [(run.path, SUBMISSION), (folder.path / "live" / "tree", SUBMISSION)]
    limit = GradeLimits.from_env().memory_mb << 20
    for root, relative in places:
        try:
            fd = open_regular(root, relative)
        except FileNotFoundError:
            continue
        except (NotARegularFile, OSError) as exc:
            raise RunGradeError(f"{root / relative} is not graded: {exc}.") from exc
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_size > limit:
                raise RunGradeError(f"{root / relative} is larger than {limit} bytes.")
            return root / relative, f.read(limit + 1)[:limit], st.st_mtime
    return None


def grade_mlebench_run(
    run: MlebenchRun, operator: str | None, grader: HostGrader | None = None
) -> RunGrade:
    """Grade the run's submission with MLE-bench's grader; journal the grade (once per content)
    and, on a live run, that an operator has seen it (the leakage guard)."""
    folder = MlebenchFolder(run)
    grader = grader or HostGrader(data_folder())
    available, note = grader.availability(run.competition)
    if not available:
        raise RunGradeError(f"Cannot grade {run.id}: {note}.")
    found = submission_bytes(run, folder)
    if found is None:
        return _grade_missing(run, grader)
    path, data, mtime = found
    report = _graded_copy(run, grader, data)
    report = {**report, "submission_path": str(path)}  # the run's file, not the copy graded
    folder.journal_path.parent.mkdir(parents=True, exist_ok=True)
    _journal(folder, data, mtime, report, note)
    live = run.state in LIVE_STATES and bool(report.get("valid_submission"))
    if live:
        MlebenchControl(folder, operator).reveal_grade("mletui grade")
    said = f"run {run.id} is live: this grade is recorded as seen by operator" if live else None
    return RunGrade(report, said)


def _graded_copy(run: MlebenchRun, grader: HostGrader, data: bytes | None) -> dict[str, Any]:
    """MLE-bench's report of a copy of ``data``; of a file that is not there when None."""
    with tempfile.TemporaryDirectory(prefix="mletui-mlebench-") as tmp:
        copy = Path(tmp) / "submission.csv"
        if data is not None:
            copy.write_bytes(data)
        try:
            return grader.grade(run.competition, copy)
        except GradingFailure as exc:
            raise RunGradeError(f"Cannot grade {run.id}: {exc}.") from exc


def _grade_missing(run: MlebenchRun, grader: HostGrader) -> RunGrade:
    """An ended run without a submission: MLE-bench's grader reports it (no submission, no
    score, no medal, the task's thresholds), so aggregation counts the run; nothing journaled,
    as nothing was graded. A live run may still write one: refused."""
    if run.state in LIVE_STATES:
        raise RunGradeError(
            f"{run.id} has no submission.csv yet (MLE-bench copies it out at the end; while the "
            "run lives, `mletui watch` reads it from its container)."
        )
    report = _graded_copy(run, grader, None)
    report = {**report, "submission_path": str(run.path / SUBMISSION)}
    return RunGrade(report, f"run {run.id} has no submission.csv: reported as MLE-bench does")


def _journal(
    folder: MlebenchFolder,
    data: bytes,
    mtime: float,
    report: dict[str, Any],
    note: str,
) -> None:
    """A ``grade`` entry as the watch session writes one, unless this content has one already."""
    digest = hashlib.sha256(data).hexdigest()
    count = 0
    for record in map(decode, read_journal(folder.journal_path).entries):
        if isinstance(record, GradeRecord):
            if record.sha256 == digest and record.checked_by == GRADER:
                return
            count = max(count, record.submission)
    score = report.get("score")
    valid = bool(report.get("valid_submission")) and score is not None
    direction = "lower" if report.get("is_lower_better") else "higher"
    journal = Journal(folder.journal_path)
    journal.write(
        GradeRecord(
            0.0,
            submission=count + 1,
            path=str(SUBMISSION),
            submission_ts=mtime,
            size=len(data),
            sha256=digest,
            snapshot_seq=None,
            valid=valid,
            score=score,
            reason=None if valid else f"{GRADER}: no score",
            metric=METRIC,
            direction=direction,
            medal=medal_of(report),
            above_median=bool(report.get("above_median")),
            checked_by=GRADER,
            report=report,
        )
    )
    journal.write(thresholds_record(report, note))


def as_grade_report(report: dict[str, Any]) -> GradeReport:
    """MLE-bench's report as mletui's, for printing it (MLE-bench's does not count the leaderboard's
    teams: 0 here)."""
    lines = [report.get(f"{name}_threshold") for name in ("gold", "silver", "bronze", "median")]
    lower = bool(report.get("is_lower_better"))
    thresholds = None
    if all(isinstance(v, int | float) and not math.isnan(v) for v in lines):
        gold, silver, bronze, median = (float(v) for v in lines if v is not None)
        thresholds = MedalThresholds(gold, silver, bronze, median, 0, lower)
    try:
        created = datetime.fromisoformat(str(report.get("created_at")))
    except ValueError:
        created = datetime.now()
    score = report.get("score")
    return GradeReport(
        competition_id=str(report.get("competition_id")),
        score=score if isinstance(score, int | float) else None,
        thresholds=thresholds,
        ranking=Ranking(
            bool(report.get("gold_medal")),
            bool(report.get("silver_medal")),
            bool(report.get("bronze_medal")),
            bool(report.get("above_median")),
        ),
        submission_exists=bool(report.get("submission_exists")),
        valid_submission=bool(report.get("valid_submission")),
        is_lower_better=lower,
        created_at=created,
        submission_path=str(report.get("submission_path")),
        metric=METRIC,
        invalid_reason=_invalid_reason(report),
        leaderboard_error=None if thresholds else "MLE-bench's report has no medal thresholds",
    )


def _invalid_reason(report: dict[str, Any]) -> str | None:
    if report.get("valid_submission"):
        return None
    if not report.get("submission_exists"):
        return "no submission.csv"
    return f"{GRADER}: no score"
