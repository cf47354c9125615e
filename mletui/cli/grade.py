"""``mletui grade``: runs' submissions (or a file) graded on held-out answers, printed for a
person or as MLE-bench's JSON report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mletui.cli.command import GlobalOptions, UserError, command
from mletui.cli.lookup import Found, complete_run_id_or_file, find, kind

if TYPE_CHECKING:
    from mletui.watch.grades import Graded


@command(
    "grade",
    "Grade a run's submission.csv, or FILE.csv with --task, against the task's private answers; "
    "medals as MLE-bench awards them. Grading a live run records that you have seen its grade "
    "(the leakage guard). Exit status 1 when a submission is invalid.",
    short_help="grade a run's submission.csv (or a file) on held-out answers, with medals",
)
@click.argument(
    "targets",
    nargs=-1,
    required=True,
    metavar="RUN_ID|FILE...",
    help="run ids, or one CSV",
    shell_complete=complete_run_id_or_file,
)
@click.option("--task", "task_name", help="grade FILE.csv against this task (a name or a folder)")
@click.option(
    "--mlebench-data",
    metavar="PATH",
    help="MLE-bench's data folder with the private answers (default: $MLEBENCH_DATA, else "
    "MLE-bench's own)",
)
@click.option("--json", "as_json", is_flag=True, help="print MLE-bench's report as JSON")
@click.option("--out", metavar="PATH", help="also write the JSON report to PATH")
@click.pass_obj
def grade(
    options: GlobalOptions,
    targets: tuple[str, ...],
    task_name: str | None,
    mlebench_data: str | None,
    as_json: bool,
    out: str | None,
) -> int:
    from mletui.watch import grades

    try:
        if task_name:
            if len(targets) != 1:
                raise UserError("With --task, give one file: mletui grade --task TASK FILE.csv")
            graded = [grades.grade_file(task_name, targets[0])]
        else:
            found = [find(run_id) for run_id in targets]
            graded = [
                grades.grade_run(f.folder, options.operator)
                if f.folder is not None
                else _grade_elsewhere(f, options.operator, mlebench_data)
                for f in found
            ]
        written = write_report(graded, out) if out else None
    except grades.GradeCommandError as exc:
        raise UserError(str(exc)) from exc
    if as_json:
        print(json.dumps(report_json(graded), indent=2))
    else:
        for item in graded:
            print("\n".join(format_graded(item)))
        if len(graded) > 1:
            print(totals_line(graded))
        if written is not None:
            print(f"Report written to {written}")
    return 0 if all(g.report.valid_submission for g in graded) else 1


def _grade_elsewhere(found: Found, operator: str | None, data: str | None) -> Graded:
    """An MLE-bench run graded by MLE-bench's grader on this machine; other sources refused."""
    from mletui.integrations.mlebench.grade_now import (
        RunGradeError,
        as_grade_report,
        grade_mlebench_run,
    )
    from mletui.integrations.mlebench.grading import HostGrader, data_folder
    from mletui.integrations.mlebench.listing import summarize_run
    from mletui.integrations.mlebench.runs import resolve_mlebench_run
    from mletui.integrations.mlebench.source import MlebenchSource
    from mletui.watch.grades import Graded

    source = found.source
    if not isinstance(source, MlebenchSource) or source.root is None:
        assert source is not None
        why = "mletui grades its own runs and MLE-bench's"
        raise UserError(f"{found.id} is {kind(source)}: {why}.")
    run = resolve_mlebench_run(source.root, found.id)
    try:
        graded = grade_mlebench_run(run, operator, HostGrader(data_folder(data)))
    except RunGradeError as exc:
        raise UserError(str(exc)) from exc
    assisted = summarize_run(run).assisted
    return Graded(
        f"run {run.id}", as_grade_report(graded.report), graded.note, assisted, graded.report
    )


def report_json(graded: list[Graded]) -> dict[str, Any]:
    """MLE-bench's summary report, one entry per run or file (one as many): the shape MLE-bench's
    aggregation script reads. Thresholds without a leaderboard are NaN, as MLE-bench writes."""
    from mletui.grading.report import aggregate_reports

    # "assisted" goes beside MLE-bench's fields, so analysis scripts can leave such runs out.
    summary = aggregate_reports([g.report for g in graded])
    reports = summary["competition_reports"]
    for i, g in enumerate(graded):
        if g.mlebench is not None:  # MLE-bench's grader's own words, field for field
            reports[i] = dict(g.mlebench)
    for g, competition in zip(graded, reports, strict=True):
        if g.assisted is not None:
            competition["assisted"] = g.assisted
    return summary


def write_report(graded: list[Graded], out: str) -> Path:
    path = Path(out).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(report_json(graded), indent=2, allow_nan=True)
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"Cannot write the report to {path} ({exc.strerror}).") from exc
    return path


def format_graded(graded: Graded) -> list[str]:
    """The report for a person: a few aligned lines."""
    r = graded.report
    better = "lower" if r.is_lower_better else "higher"
    lines = [f"{graded.label}: {r.competition_id} ({r.metric}, {better} is better)"]
    rows: list[tuple[str, str]] = [("submission", r.submission_path)]
    if not r.valid_submission:
        rows.append(("valid", f"no: {r.invalid_reason or 'no submission'}"))
    else:
        rows.append(("score", str(r.score)))  # rounded to 5 decimals, as MLE-bench
        t = r.thresholds
        if t is None:
            rows.append(("medal", f"- ({r.leaderboard_error or 'the task has no leaderboard'})"))
        else:
            at = "≤" if t.lower_is_better else "≥"
            lines_text = (
                f"gold {at} {t.gold:.6g}, silver {at} {t.silver:.6g}, bronze {at} {t.bronze:.6g}"
            )
            if t.teams:  # MLE-bench's own reports do not count them
                lines_text += f"; {t.teams} on the leaderboard"
            rows.append(("medal", f"{r.medal or 'none'} ({lines_text})"))
            above = "yes" if r.ranking.above_median else "no"
            rows.append(("above median", f"{above} (median {t.median:.6g})"))
        rows.append(("valid", "yes"))
    if graded.assisted is not None:
        rows.append(("assisted", "yes: an operator intervened" if graded.assisted else "no"))
    if graded.note:
        rows.append(("note", graded.note))
    width = max(len(k) for k, _ in rows)
    lines += [f"  {key:<{width}}  {value}" for key, value in rows]
    return lines


def totals_line(graded: list[Graded]) -> str:
    reports = [g.report for g in graded]
    medals = [r.medal for r in reports]
    return (
        f"{len(reports)} graded: {sum(r.submission_exists for r in reports)} with a submission, "
        f"{sum(r.valid_submission for r in reports)} valid, "
        f"{sum(m is not None for m in medals)} medals ({medals.count('gold')} gold, "
        f"{medals.count('silver')} silver, {medals.count('bronze')} bronze), "
        f"{sum(r.ranking.above_median for r in reports)} above median"
    )
