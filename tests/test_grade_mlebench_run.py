"""`mletui grade` of an MLE-bench run: MLE-bench's grader on this machine (the test MLE-bench
package and data folder), the summary report MLE-bench's aggregation reads, the grade journaled in
mletui's record of the run; and the agent's submission never followed out of its folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mletui import cli
from mletui.grading.report import MLEBENCH_FIELDS
from mletui.integrations.mlebench.runs import read_run
from mletui.integrations.mlebench.session import cache_dir
from tests.test_mlebench import DONE, START, make_run
from tests.test_mlebench_reading import SUMMARY_FIELDS, aggregate_read

VALID = "id,label\n1,a\n2,b\n3,a\n4,a\n"  # 3 of the 4 answers: 0.75, bronze


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = cli.main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def _grades(journal: Path) -> list[dict[str, object]]:
    if not journal.exists():
        return []
    entries = [json.loads(line) for line in journal.read_text().splitlines()]
    return [e for e in entries if e["kind"] == "grade"]


def _run(root: Path, log: str, submission: str | None = VALID) -> Path:
    path = make_run(root, "toy-comp", log)
    if submission is not None:
        (path / "submission").mkdir()
        (path / "submission" / "submission.csv").write_text(submission)
    return path


def test_grade_of_an_ended_run_is_mlebench_s_summary_and_is_journaled(
    tmp_path: Path, mlebench_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "runs"
    path = _run(root, START + DONE)
    run = read_run(path)
    given = ("--mlebench-runs", str(root), "--mlebench-data", str(mlebench_data))
    prefix = run.id[:12]

    status, out, err = _main(capsys, "grade", prefix, "--json", *given)
    assert (status, err) == (0, "")
    summary = json.loads(out)
    assert tuple(summary) == SUMMARY_FIELDS
    assert (summary["total_runs"], summary["total_valid_submissions"]) == (1, 1)
    assert summary["total_bronze_medals"] == 1
    (report,) = summary["competition_reports"]
    assert tuple(report)[: len(MLEBENCH_FIELDS)] == MLEBENCH_FIELDS  # MLE-bench's grader's own
    assert report["score"] == 0.75 and report["bronze_medal"] and report["assisted"] is False
    assert report["submission_path"] == str(path / "submission" / "submission.csv")

    # --out writes the same shape, which MLE-bench's aggregation reads.
    out_file = tmp_path / "report.json"
    status, out, _ = _main(capsys, "grade", prefix, "--out", str(out_file), *given)
    assert status == 0 and re.search(
        r"^  medal +bronze \(gold ≥ 1, silver ≥ 1, bronze ≥ 0.75\)$", out, re.M
    )
    (loaded,) = aggregate_read(out_file)
    assert loaded["competition_id"] == "toy-comp" and loaded["score"] == 0.75

    # Journaled once (graded twice, same content) in mletui's record, never in the run's folder.
    grades = _grades(cache_dir(run) / "journal.jsonl")
    assert len(grades) == 1 and grades[0]["score"] == 0.75 and grades[0]["medal"] == "bronze"
    assert not any("journal" in p.name for p in path.rglob("*") if p.name != "run.log")
    status, out, _ = _main(capsys, "show", prefix, "--mlebench-runs", str(root))
    assert status == 0 and re.search(r"^grade +0\.75", out, re.M)
    assert re.search(r"^grade seen by operator +no$", out, re.M)


def test_grade_of_a_live_run_reads_the_mirror_and_records_the_reveal(
    tmp_path: Path, mlebench_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "runs"
    run = read_run(_run(root, START, submission=None))
    mirror = cache_dir(run) / "live" / "tree" / "submission"
    mirror.mkdir(parents=True)
    (mirror / "submission.csv").write_text(VALID)
    given = ("--mlebench-runs", str(root), "--mlebench-data", str(mlebench_data))

    status, out, err = _main(capsys, "--operator", "ana", "grade", run.id, *given)
    assert (status, err) == (0, "")
    assert f"run {run.id} is live: this grade is recorded as seen by operator" in out
    entries = [json.loads(ln) for ln in (cache_dir(run) / "journal.jsonl").read_text().splitlines()]
    reveal = [e for e in entries if e.get("action") == "reveal-grade"]
    assert len(reveal) == 1 and reveal[0]["operator"] == "ana"
    status, out, _ = _main(capsys, "show", run.id, "--mlebench-runs", str(root))
    assert re.search(r"^grade seen by operator +ana$", out, re.M)


def test_grade_says_why_it_cannot_in_one_sentence(
    tmp_path: Path, mlebench_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "runs"
    empty = read_run(_run(root, START, submission=None))  # live: its submission may still come
    status, _, err = _main(
        capsys,
        "grade",
        empty.id,
        "--mlebench-runs",
        str(root),
        "--mlebench-data",
        str(mlebench_data),
    )
    assert status == 1 and err == (
        f"mletui: {empty.id} has no submission.csv yet (MLE-bench copies it out at the end; "
        "while the run lives, `mletui watch` reads it from its container).\n"
    )
    done = read_run(_run(root, START + DONE))
    status, _, err = _main(
        capsys,
        "grade",
        done.id,
        "--mlebench-runs",
        str(root),
        "--mlebench-data",
        str(tmp_path / "none"),
    )
    assert status == 1 and err.startswith(f"mletui: Cannot grade {done.id}: no private answers at ")
    assert err.count("\n") == 1


def test_grade_of_several_runs_is_one_summary(
    tmp_path: Path, mlebench_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "runs"
    good = read_run(_run(root, START + DONE))
    bad = read_run(_run(root, START + DONE, submission="id,label\n1,a\n"))  # rows missing
    out_file = tmp_path / "report.json"
    status, out, _ = _main(
        capsys,
        "grade",
        good.id,
        bad.id,
        "--json",
        "--out",
        str(out_file),
        "--mlebench-runs",
        str(root),
        "--mlebench-data",
        str(mlebench_data),
    )
    assert status == 1  # one submission is invalid
    summary = json.loads(out)
    assert (summary["total_runs"], summary["total_valid_submissions"]) == (2, 1)
    assert [r["valid_submission"] for r in summary["competition_reports"]] == [True, False]
    assert len(aggregate_read(out_file)) == 2


def test_grade_of_an_ended_run_without_a_submission_is_mlebench_s_report_of_none(
    tmp_path: Path, mlebench_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "runs"
    good = read_run(_run(root, START + DONE))
    empty_path = _run(root, START + DONE, submission=None)
    (empty_path / "submission").mkdir()  # MLE-bench copied out the agent's empty folder
    empty = read_run(empty_path)
    assert empty.state == "done"
    given = ("--mlebench-runs", str(root), "--mlebench-data", str(mlebench_data))

    # For a person: one sentence that there was none, and the exit status of an invalid one.
    status, out, err = _main(capsys, "grade", empty.id, *given)
    assert (status, err) == (1, "")
    assert re.search(r"^  valid +no: no submission\.csv$", out, re.M)
    assert re.search(
        rf"^  note +run {empty.id} has no submission\.csv: reported as MLE-bench does$", out, re.M
    )

    # MLE-bench's report of it, as its grader writes one: counted by its aggregation.
    out_file = tmp_path / "report.json"
    status, out, err = _main(
        capsys, "grade", good.id, empty.id, "--json", "--out", str(out_file), *given
    )
    assert (status, err) == (1, "")
    summary = json.loads(out)
    assert (summary["total_runs"], summary["total_runs_with_submissions"]) == (2, 1)
    assert (summary["total_valid_submissions"], summary["total_medals"]) == (1, 1)
    _, report = summary["competition_reports"]
    assert tuple(report)[: len(MLEBENCH_FIELDS)] == MLEBENCH_FIELDS
    assert report["submission_exists"] is False and report["valid_submission"] is False
    assert report["score"] is None and not report["any_medal"] and not report["above_median"]
    assert report["bronze_threshold"] == 0.75  # the task's thresholds, as MLE-bench reports them
    assert report["submission_path"] == str(empty_path / "submission" / "submission.csv")
    assert [r["competition_id"] for r in aggregate_read(out_file)] == ["toy-comp", "toy-comp"]

    # Nothing was graded, so nothing is journaled; the run's folder is left as it was.
    assert _grades(cache_dir(empty) / "journal.jsonl") == []
    assert list((empty_path / "submission").iterdir()) == []
