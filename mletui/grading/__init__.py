"""Tasks, metrics, submission checks, medals and grade reports; no UI code, and scikit-learn and
pandas load only when scoring."""

from mletui.grading.medals import (
    LeaderboardError,
    MedalThresholds,
    Ranking,
    load_thresholds,
    thresholds_from_scores,
)
from mletui.grading.metrics import METRICS, Metric, get_metric
from mletui.grading.report import GradeReport, aggregate_reports, grade_submission
from mletui.grading.submission import SubmissionError, check_submission, score_submission
from mletui.grading.tasks import Task, TaskError, bundled_tasks, load_task, resolve_task

__all__ = [
    "METRICS",
    "GradeReport",
    "LeaderboardError",
    "MedalThresholds",
    "Metric",
    "Ranking",
    "SubmissionError",
    "Task",
    "TaskError",
    "aggregate_reports",
    "bundled_tasks",
    "check_submission",
    "get_metric",
    "grade_submission",
    "load_task",
    "load_thresholds",
    "resolve_task",
    "score_submission",
    "thresholds_from_scores",
]
