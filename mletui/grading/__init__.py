"""Tasks, metrics and grading; no UI code, and scikit-learn and pandas load only when scoring."""

from mletui.grading.metrics import METRICS, Metric, get_metric, score_submission
from mletui.grading.tasks import Task, TaskError, bundled_tasks, load_task, resolve_task

__all__ = [
    "METRICS",
    "Metric",
    "Task",
    "TaskError",
    "bundled_tasks",
    "get_metric",
    "load_task",
    "resolve_task",
    "score_submission",
]
