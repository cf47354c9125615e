"""Grading a run or a file for ``mletui grade``, and how ``ls``, ``show`` and the overview tell a
run's grade.

The leakage guard: a held-out grade of a live run is information an agent must not get through
its overseer. ``ls``, ``show`` and the overview show a live run's grade only once an operator has
revealed it (a ``reveal-grade`` action in the journal); after the run it is shown to everyone.
``mletui grade RUN_ID`` on a live run is such a reveal, and is journaled as one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mletui.run.scores import SUBMISSION_FILE, GradeSummary, grade_text

if TYPE_CHECKING:
    from mletui.grading.report import GradeReport
    from mletui.grading.tasks import Task
    from mletui.store.runs import RunFolder
    from mletui.watch.livestate import RunSummary

HIDDEN = "hidden"


class GradeCommandError(Exception):
    """Something the user can fix; one sentence."""


# --- ls, show, overview --------------------------------------------------------------------------


def grade_visible(summary: RunSummary) -> bool:
    """A grade may be shown: the run has ended, or an operator has revealed it."""
    grades = summary.grades
    return summary.status.state.ended or (grades is not None and grades.seen)


def grade_cell(summary: RunSummary) -> str:
    """The GRADE column: ``0.9733 bronze``, ``invalid``, ``hidden``, ``-``; ``*``: seen live."""
    grades = summary.grades
    if grades is None or grades.latest is None:
        return "-"
    if not grades.latest.valid:
        return "invalid"  # an invalid submission tells nothing about the answers
    text = grade_text(grades.latest, digits=4) if grade_visible(summary) else HIDDEN
    return text + (" *" if grades.seen else "")  # seen by an operator while the run lived


def grade_json(summary: RunSummary) -> dict[str, Any]:
    """The grade fields of ``ls --json`` and ``show --json``; values only when visible."""
    grades = summary.grades or GradeSummary(0, None, None, ())
    latest = grades.latest
    visible = grade_visible(summary)
    shown = latest is not None and latest.valid and visible
    return {
        "grades": grades.graded,
        "grade": latest.score if shown and latest is not None else None,
        "medal": latest.medal if shown and latest is not None else None,
        "grade_valid": None if latest is None else latest.valid,
        "grade_invalid_reason": None if latest is None else latest.reason,
        "grade_hidden": latest is not None and latest.valid and not visible,
        "grade_seen_by_operator": list(grades.seen_by),
    }


def grade_rows(summary: RunSummary) -> list[tuple[str, str]]:
    """The rows ``show`` prints about grades."""
    grades = summary.grades or GradeSummary(0, None, None, ())
    latest = grades.latest
    if latest is None:
        grade = "-" if grades.graded == 0 else "invalid"
    elif not latest.valid:
        grade = f"invalid: {latest.reason or 'unknown reason'}"
    elif grade_visible(summary):
        best = grades.best
        grade = f"{grade_text(latest)} {latest.metric} (submission {latest.submission})"
        if best is not None and best is not latest:
            grade += f"; best {grade_text(best)} (submission {best.submission})"
    else:
        grade = f"graded, hidden ({grades.graded} submissions); `mletui grade` reveals it"
    seen = ", ".join(grades.seen_by) if grades.seen else "no"
    return [("grade", grade), ("grade seen by operator", seen), checks_row(summary)]


def checks_row(summary: RunSummary) -> tuple[str, str]:
    """``submission checks: N (last: valid)``: the agent's requests to check its submission."""
    checks = summary.checks
    if checks is None or checks.count == 0:
        return ("submission checks", "0")
    last = "valid" if checks.last_valid else "invalid"
    return ("submission checks", f"{checks.count} (last: {last})")


# --- mletui grade --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Graded:
    label: str  # "run a3ed1a48" or the file's path
    report: GradeReport
    note: str | None = None  # e.g. "recorded as seen by operator"
    assisted: bool | None = None  # a run an operator intervened in; None for a file
    mlebench: dict[str, Any] | None = None  # MLE-bench's own report of it, written as it is


def grade_file(task_name: str, file: str) -> Graded:
    """Grade ``file`` against a bundled task or a task folder."""
    from mletui.grading.sandbox import grade_safely
    from mletui.grading.tasks import TaskError, resolve_task

    try:
        task = resolve_task(task_name)
    except TaskError as exc:
        raise GradeCommandError(str(exc)) from exc
    _check_answers(task)
    # The operator named the file: its folder is trusted, the file itself is not followed.
    path = Path(os.path.abspath(file))
    if path.parent == path:
        raise GradeCommandError(f"{file} is not a submission file.")
    report = grade_safely(task, path.parent, path.name, reported_path=file).report
    return Graded(str(file), report)


def grade_run(folder: RunFolder, operator: str | None) -> Graded:
    """Grade a run's current ``submission.csv``; on a live run, journal that it was seen."""
    from mletui.grading.sandbox import grade_safely
    from mletui.watch.control import RunControl
    from mletui.watch.livestate import read_status

    task = run_task(folder)
    _check_answers(task)
    # Opened from the run folder down: a submission/ that is a link is refused too.
    path = folder.submission / SUBMISSION_FILE
    report = grade_safely(
        task, folder.path, f"{folder.submission.name}/{SUBMISSION_FILE}", reported_path=path
    ).report
    note = None
    status = read_status(folder)
    if not status.state.ended and report.valid_submission:
        RunControl(folder, operator).reveal_grade("mletui grade")
        note = f"run {folder.id} is live: this grade is recorded as seen by operator"
    from mletui.watch.livestate import summarize

    return Graded(f"run {folder.id}", report, note, summarize(folder).assisted)


def run_task(folder: RunFolder) -> Task:
    """The task a run works on: its task folder, else the bundled task of that name."""
    from mletui.grading.tasks import TaskError, load_task, resolve_task

    record = folder.read()
    try:
        return load_task(record.task_path)
    except TaskError:
        pass
    try:
        return resolve_task(record.task)
    except TaskError:
        raise GradeCommandError(
            f"Run {folder.id}'s task folder {record.task_path} is gone; grade its submission "
            f"with: mletui grade --task TASK {folder.submission / SUBMISSION_FILE}"
        ) from None


def _check_answers(task: Task) -> None:
    if not task.answers_path.is_file():
        raise GradeCommandError(
            f"Task {task.id} has no private answers ({task.answers_path}), so nothing can be "
            "graded against it."
        )
