"""Grade reports shaped as MLE-bench's (its ``CompetitionReport``).

:func:`grade_submission` never raises for a bad submission: it returns a report with
``valid_submission`` false and the sentence saying why in ``invalid_reason``. Its
:meth:`GradeReport.to_dict` has MLE-bench's fields first, in MLE-bench's order, so that scripts
written for MLE-bench's reports read it; a few fields of mletui's own follow them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mletui.grading.medals import (
    NO_RANKING,
    LeaderboardError,
    MedalThresholds,
    Ranking,
    load_thresholds,
)
from mletui.grading.tasks import Task

SCORE_DECIMALS = 5  # MLE-bench's Grader rounds every score to 5 decimal places

MLEBENCH_FIELDS = (
    "competition_id",
    "score",
    "gold_threshold",
    "silver_threshold",
    "bronze_threshold",
    "median_threshold",
    "any_medal",
    "gold_medal",
    "silver_medal",
    "bronze_medal",
    "above_median",
    "submission_exists",
    "valid_submission",
    "is_lower_better",
    "created_at",
    "submission_path",
)


@dataclass(frozen=True)
class GradeReport:
    """One submission graded against one task."""

    competition_id: str
    score: float | None
    thresholds: MedalThresholds | None  # None: the task has no (usable) leaderboard
    ranking: Ranking
    submission_exists: bool
    valid_submission: bool
    is_lower_better: bool
    created_at: datetime
    submission_path: str
    metric: str
    invalid_reason: str | None = None
    leaderboard_error: str | None = None

    @property
    def medal(self) -> str | None:
        """``"gold"``, ``"silver"``, ``"bronze"`` or None."""
        return self.ranking.medal

    @property
    def direction(self) -> str:
        return "lower" if self.is_lower_better else "higher"

    def to_dict(self, *, nan: bool = True) -> dict[str, Any]:
        """JSON-ready: MLE-bench's fields in its order, then mletui's own.

        Without a leaderboard the four thresholds are NaN, as MLE-bench writes them (its JSON
        allows NaN), so that its ``CompetitionReport.from_dict`` loads the report; ``nan=False``
        writes null instead (strict JSON, for mletui's own records).
        """
        t = self.thresholds
        r = self.ranking
        missing = math.nan if nan else None
        data: dict[str, Any] = {
            "competition_id": self.competition_id,
            "score": self.score,
            "gold_threshold": missing if t is None else _threshold(t.gold, nan),
            "silver_threshold": missing if t is None else _threshold(t.silver, nan),
            "bronze_threshold": missing if t is None else _threshold(t.bronze, nan),
            "median_threshold": missing if t is None else _threshold(t.median, nan),
            "any_medal": r.any_medal,
            "gold_medal": r.gold_medal,
            "silver_medal": r.silver_medal,
            "bronze_medal": r.bronze_medal,
            "above_median": r.above_median,
            "submission_exists": self.submission_exists,
            "valid_submission": self.valid_submission,
            "is_lower_better": self.is_lower_better,
            "created_at": self.created_at.isoformat(),
            "submission_path": self.submission_path,
            # mletui's own fields, after MLE-bench's:
            "metric": self.metric,
            "medal": self.medal,
            "invalid_reason": self.invalid_reason,
            "leaderboard_teams": None if t is None else t.teams,
            "leaderboard_error": self.leaderboard_error,
        }
        return data


def _threshold(value: float, nan: bool) -> float | None:
    return None if math.isnan(value) and not nan else float(value)


def task_thresholds(task: Task) -> tuple[MedalThresholds | None, str | None]:
    """The task's medal thresholds, or None and why not (None, None: it has no leaderboard)."""
    path = task.leaderboard_path
    if path is None:
        return None, None
    try:
        return load_thresholds(path, task.lower_is_better), None
    except LeaderboardError as exc:
        return None, str(exc)


def grade_submission(
    task: Task,
    path: str | Path,
    *,
    thresholds: tuple[MedalThresholds | None, str | None] | None = None,
    reported_path: str | Path | None = None,
) -> GradeReport:
    """Grade the submission at ``path``; a bad submission is an invalid report, not an error.

    ``thresholds``: the result of :func:`task_thresholds`, when the caller already has it.
    ``reported_path``: the path the report names, when ``path`` is a copy of that file.
    """
    from mletui.grading.submission import score_submission

    path = Path(path)
    board, board_error = thresholds if thresholds is not None else task_thresholds(task)
    # MLE-bench: a submission "exists" when it is a file whose name ends in .csv.
    exists = path.is_file() and path.suffix.lower() == ".csv"
    score: float | None = None
    reason: str | None = None
    try:
        score = round(score_submission(task, path), SCORE_DECIMALS)
    except MemoryError:
        raise  # the caller's limit, said as such (mletui.grading.sandbox)
    except ValueError as exc:  # SubmissionError, and anything else a bad file can cause
        reason = str(exc)
    except Exception as exc:  # a bad submission must never take the grader down
        reason = f"The submission could not be graded ({type(exc).__name__}: {exc})."
    return build_report(
        task, score, reason, (board, board_error), exists=exists, path=reported_path or path
    )


def build_report(
    task: Task,
    score: float | None,
    reason: str | None,
    thresholds: tuple[MedalThresholds | None, str | None],
    *,
    exists: bool,
    path: str | Path,
) -> GradeReport:
    """The report of a score (None: invalid, and ``reason`` says why) on ``task``."""
    board, board_error = thresholds
    ranking = NO_RANKING if board is None else board.rank(score)
    return GradeReport(
        competition_id=task.id,
        score=score,
        thresholds=board,
        ranking=ranking,
        submission_exists=exists,
        valid_submission=score is not None,
        is_lower_better=task.lower_is_better if board is None else board.lower_is_better,
        created_at=datetime.now(),
        submission_path=str(path),
        metric=task.metric,
        invalid_reason=reason,
        leaderboard_error=board_error,
    )


def aggregate_reports(reports: list[GradeReport]) -> dict[str, Any]:
    """MLE-bench's summary report (``mlebench/grade.py``, ``aggregate_reports``): what its
    ``experiments/aggregate_grading_reports.py`` reads, for one report as for many."""
    gold = sum(r.ranking.gold_medal for r in reports)
    silver = sum(r.ranking.silver_medal for r in reports)
    bronze = sum(r.ranking.bronze_medal for r in reports)
    return {
        "total_runs": len(reports),
        "total_runs_with_submissions": sum(r.submission_exists for r in reports),
        "total_valid_submissions": sum(r.valid_submission for r in reports),
        "total_medals": gold + silver + bronze,
        "total_gold_medals": gold,
        "total_silver_medals": silver,
        "total_bronze_medals": bronze,
        "total_above_median": sum(r.ranking.above_median for r in reports),
        "competition_reports": [r.to_dict() for r in reports],
    }
