"""Reading MLE-bench's runs as its harness writes them, and writing reports its scripts read.

No Docker: the run folders are built here in MLE-bench's real layout (run groups named in both of
``time.gmtime()``'s spellings, ``GMT`` and ``UTC``; ``run.log`` records as its logger writes them,
the agent's ``[Container]`` chunks holding several lines; ``metadata.json`` after the group; the
outputs copied out before the end is logged), AIDE's ``journal.json`` as AIDE's own serializer
writes it (compact, ``NaN`` for a metric that is not a number), and a real ``run_agent.py``
process holding a run's log open.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mletui.cli.grade import report_json, write_report
from mletui.core.events import LogBatch, RunState, StatusUpdate
from mletui.grading.medals import load_thresholds, read_leaderboard_scores
from mletui.grading.report import MLEBENCH_FIELDS
from mletui.grading.tasks import resolve_task
from mletui.integrations.mlebench.aide import AideScores, describe_unscored
from mletui.integrations.mlebench.grading import HostGrader
from mletui.integrations.mlebench.runlog import RunLogFollower
from mletui.integrations.mlebench.runs import (
    HarnessProbe,
    list_mlebench_runs,
    read_run,
    resolve_mlebench_run,
)
from mletui.integrations.mlebench.session import MlebenchSession, status_of
from mletui.watch.grades import grade_file
from tests.mlebench_fixtures import GMT_GROUP, T0, chunk, make_run, record, stamp

UTC_GROUP = "2024-09-18T18-21-42-UTC_run-group_aide"  # as in MLE-bench's committed runs/
FAKE_MLEBENCH = Path(__file__).parent / "data" / "mlebench" / "fake_mlebench"


START = (
    record(T0, "\x1b[35mRun started: runs/x\x1b[0m", "run.py:120")
    + record(T0 + 0.5, "Running agent...", "run.py:58")
    + chunk(T0 + 1, "loading data\nepoch 1 loss 0.9")
)
COMPLETED = record(T0 + 60, "Run completed in 60.25 seconds.", "run.py:150")
CLEANUP = record(T0 + 61, "Cleaning up container: competition-spaceship-x", "run.py:70")
FAILED = (
    record(T0 + 31, "Cleaning up container: competition-jigsaw-x", "run.py:70")
    + record(T0 + 32, "Run failed for seed 0, agent aide and competition jigsaw", "run_agent.py:96")
    + "Traceback (most recent call last):\n"
    + "RuntimeError: The grading server failed to start within 60 seconds.\n"
)


def age(group: Path, seconds: float) -> None:
    """Make everything of a run group last written ``seconds`` ago."""
    when = time.time() - seconds
    for path in [*sorted(group.rglob("*"), reverse=True), group]:
        os.utime(path, (when, when))


# --- run groups --------------------------------------------------------------------------------


def test_groups_in_both_time_zone_spellings_are_found(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    gmt = make_run(root, "spaceship-titanic", START, GMT_GROUP)
    utc = make_run(root, "jigsaw-toxic", START, UTC_GROUP)
    make_run(root, "ignored", START, "2024-09-18T18-21-42-CEST_run-group_aide")
    runs = {r.path: r for r in list_mlebench_runs(root)}
    assert set(runs) == {gmt, utc}
    assert runs[utc].created == runs[gmt].created == T0
    assert runs[utc].agent == "aide" and runs[utc].group == UTC_GROUP
    assert resolve_mlebench_run(root, "jigsaw").path == utc


# --- state from the harness's own records --------------------------------------------------------


def test_state_comes_from_the_harness_s_records_only(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    queued = make_run(root, "aerial-cactus", None)
    done = make_run(root, "spaceship-titanic", START + COMPLETED + CLEANUP, copied=True)
    failed = make_run(root, "jigsaw-toxic", START + FAILED)
    # The agent prints the harness's words as the first line of a chunk: its own text.
    said = make_run(
        root,
        "denoising-dirty",
        START
        + chunk(T0 + 5, "Run failed for seed 3")
        + chunk(T0 + 6, "Run completed in 9.00 seconds."),
    )
    # ... and as later lines of a chunk, in the harness's own header, then goes on working.
    lookalike = (
        f"step 1\n{record(T0 + 7, 'Run failed for seed 3', 'run_agent.py:96')}"
        f"{record(T0 + 7, 'Run completed in 7.00 seconds.', 'run.py:150')}step 2"
    )
    forged = make_run(
        root, "whale-categorization", START + chunk(T0 + 7, lookalike) + chunk(T0 + 8, "step 3")
    )
    # A completion record with nothing copied out yet is not the harness's end.
    early = make_run(
        root, "plant-pathology", START + chunk(T0 + 9, f"x\n{COMPLETED.strip()}"), copied=False
    )
    runs = {r.path: r for r in list_mlebench_runs(root)}
    assert runs[queued].state == "queued"
    assert runs[done].state == "done" and runs[done].seconds == 60.25
    assert runs[done].ended == pytest.approx(T0 + 61)
    assert runs[failed].state == "failed" and runs[failed].ended == pytest.approx(T0 + 32)
    for path in (said, forged, early):
        assert runs[path].state == "running", path.name
        assert runs[path].ended is None and runs[path].seconds is None

    # metadata.json, written after the whole group, is the harness's word on each run.
    meta = {
        "run_group": GMT_GROUP,
        "created_at": "2024-09-18T18:40:00",
        "runs": {said.name: {"success": False}, early.name: {"success": True}},
    }
    (root / GMT_GROUP / "metadata.json").write_text(json.dumps(meta))
    assert read_run(said).state == "failed"
    assert read_run(early).state == "done"
    assert read_run(forged).state == "running"


def texts(path: Path) -> list[tuple[str, str]]:
    return [(line.stream.value, line.text) for line in RunLogFollower(path).read_new()]


def test_lookalike_headers_inside_a_chunk_are_the_agent_s_lines(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    agent_lines = (
        "epoch 2\n"
        f"[{stamp(T0 + 3)}] [train.py:12] an agent logging in the harness's format\n"
        f"[{stamp(T0 - 100)}] [run.py:150] Run completed in 1.00 seconds.\n"  # reprinted
        "epoch 3"
    )
    log.write_text(
        START + chunk(T0 + 4, agent_lines) + COMPLETED + "trailing harness text\n",
        encoding="utf-8",
    )
    assert texts(log)[4:] == [
        ("o", "epoch 2"),
        ("o", f"[{stamp(T0 + 3)}] [train.py:12] an agent logging in the harness's format"),
        ("o", f"[{stamp(T0 - 100)}] [run.py:150] Run completed in 1.00 seconds."),
        ("o", "epoch 3"),
        ("s", "[mle-bench] Run completed in 60.25 seconds."),
        ("s", "[mle-bench] trailing harness text"),
    ]
    # The run's state reads the same records: the reprinted completion is not an end.
    run = make_run(tmp_path / "runs", "spaceship-titanic", START + chunk(T0 + 4, agent_lines))
    (run / "code").mkdir()
    assert read_run(run).state == "running"


# --- a harness that is gone ------------------------------------------------------------------


HARNESS = """
import sys, time
logs = [open(path, "a") for path in sys.argv[1:]]  # as its FileHandler holds run.log open
print("ready", flush=True)
time.sleep(120)
"""


def test_runs_of_a_harness_that_is_gone_are_lost_with_why(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    running = make_run(root, "spaceship-titanic", START)
    queued = make_run(root, "aerial-cactus", None)
    done = make_run(root, "jigsaw-toxic", START + COMPLETED + CLEANUP, copied=True)
    age(root / GMT_GROUP, 3600)
    other = make_run(root, "denoising-dirty", START, UTC_GROUP)  # another group, lively

    runs = {r.path: r for r in list_mlebench_runs(root, HarnessProbe())}
    assert runs[running].state == "lost" and runs[queued].state == "lost"
    assert "the harness is gone" in (runs[running].why or "")
    assert "no log written for 1:00:00" in (runs[running].why or "")
    assert (runs[queued].why or "").startswith("never started: the harness is gone")
    assert runs[done].state == "done" and runs[done].why is None
    assert runs[other].state == "running"

    status = status_of(runs[running])
    assert status.state is RunState.LOST and "the harness is gone" in (status.end_reason or "")
    still = status_of(runs[running], container_state="running")
    assert (still.end_reason or "").endswith("its container is still running")

    # A real run_agent.py with the run's log open: the harness is there, however quiet.
    script = tmp_path / "harness" / "run_agent.py"
    script.parent.mkdir()
    script.write_text(HARNESS)
    harness = subprocess.Popen(
        [sys.executable, str(script), str(running / "run.log")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert harness.stdout is not None and harness.stdout.readline() == "ready\n"
        age(root / GMT_GROUP, 3600)
        assert read_run(running, HarnessProbe()).state == "running"
        assert read_run(queued, HarnessProbe()).state == "queued"
    finally:
        harness.kill()
        harness.wait()
    assert read_run(running, HarnessProbe()).state == "lost"

    # Once the group's metadata.json is there, the harness finished: the records say the rest.
    meta = {"run_group": GMT_GROUP, "created_at": "x", "runs": {}}
    (root / GMT_GROUP / "metadata.json").write_text(json.dumps(meta))
    assert read_run(running, HarnessProbe()).state == "running"


# --- AIDE's journal ----------------------------------------------------------------------------


def aide_node(step: int, value: float | None, buggy: bool = False) -> dict[str, Any]:
    """A node as AIDE's ``Node.to_dict()`` gives it (parent and children emptied by its
    serializer, which keeps the tree in ``node2parent``)."""
    return {
        "code": f"print({step})\n",
        "plan": f"plan {step}",
        "step": step,
        "id": f"{step:02d}" + "cd" * 15,
        "ctime": T0 + 10 * step,
        "parent": None,
        "children": [],
        "_term_out": ["ok\n"],
        "exec_time": 1.5,
        "exc_type": "ValueError" if buggy else None,
        "exc_info": None,
        "exc_stack": None,
        "analysis": "",
        "metric": {"value": value, "maximize": None if buggy else True},
        "is_buggy": buggy,
    }


def aide_dumps(*nodes: dict[str, Any]) -> str:
    """AIDE's ``dumps_json`` of a journal: compact, NaN as JavaScript's NaN."""
    journal = {"nodes": list(nodes), "node2parent": {nodes[-1]["id"]: nodes[0]["id"]}}
    journal["__version"] = "2"
    return json.dumps(journal, separators=(",", ":"))


def test_an_aide_node_with_a_nan_metric_is_shown_as_no_metric(tmp_path: Path) -> None:
    text = aide_dumps(aide_node(0, 0.7), aide_node(1, math.nan), aide_node(2, None, buggy=True))
    assert '"value":NaN' in text
    path = tmp_path / "journal.json"
    path.write_text(text)
    scores, unscored = AideScores(path).poll()
    assert [(s.step, s.value) for s in scores] == [(0, 0.7)]
    assert [n.step for n in unscored] == [1, 2]
    said = [describe_unscored(n) for n in unscored]
    assert "has no metric" in said[0] and "is buggy" in said[1]

    run = make_run(tmp_path / "runs", "spaceship-titanic", START + COMPLETED, copied=True)
    (run / "logs" / "journal.json").write_text(text)
    session = MlebenchSession(read_run(run), cache=tmp_path / "cache", live=False)
    try:
        events = session.poll()
    finally:
        session.close()
    lines = [ln.text for e in events if isinstance(e, LogBatch) for ln in e.lines]
    assert any("node 01cdcdcd has no metric" in line for line in lines)
    status = next(e for e in events if isinstance(e, StatusUpdate))
    assert status.state is RunState.EXITED and status.end_reason == "completed in 60 s"


# --- MLE-bench's grader child -------------------------------------------------------------------


def test_the_grader_child_works_in_its_own_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLE-bench's package, whose import makes ./cache/ (as mlebench.data's diskcache does).
    package = tmp_path / "site"
    shutil.copytree(FAKE_MLEBENCH, package)
    with (package / "mlebench" / "__init__.py").open("a") as f:
        f.write("\nimport pathlib\npathlib.Path('cache').mkdir(exist_ok=True)\n")
    monkeypatch.setenv("PYTHONPATH", str(package))
    data = tmp_path / "data"
    private = data / "toy-comp" / "prepared" / "private"
    private.mkdir(parents=True)
    (private / "answers.csv").write_text("id,label\n1,a\n2,b\n3,b\n4,a\n")
    started = tmp_path / "started-here"
    started.mkdir()
    monkeypatch.chdir(started)
    (started / "submission.csv").write_text("id,label\n1,a\n2,b\n3,b\n4,b\n")

    grader = HostGrader(Path("../data"), python=sys.executable)  # relative, as a user may give it
    assert grader.availability("toy-comp")[0]
    report = grader.grade("toy-comp", Path("submission.csv"))
    assert report["score"] == 0.75
    assert not (started / "cache").exists()
    assert (Path(os.environ["MLETUI_HOME"]) / "mlebench" / "grader" / "cache").is_dir()


# --- reports MLE-bench's scripts read -----------------------------------------------------------


def competition_report_from_dict(data: dict[str, Any]) -> dict[str, Any]:
    """MLE-bench's ``CompetitionReport.from_dict``, field by field: the conversions it makes
    (``float()`` of each threshold, ``bool()`` of each flag, ``fromisoformat`` of the time)."""
    return {
        "competition_id": data["competition_id"],
        "score": float(data["score"]) if data["score"] is not None else None,
        "gold_threshold": float(data["gold_threshold"]),
        "silver_threshold": float(data["silver_threshold"]),
        "bronze_threshold": float(data["bronze_threshold"]),
        "median_threshold": float(data["median_threshold"]),
        "any_medal": bool(data["any_medal"]),
        "gold_medal": bool(data["gold_medal"]),
        "silver_medal": bool(data["silver_medal"]),
        "bronze_medal": bool(data["bronze_medal"]),
        "above_median": bool(data["above_median"]),
        "submission_exists": bool(data["submission_exists"]),
        "valid_submission": bool(data["valid_submission"]),
        "is_lower_better": bool(data["is_lower_better"]),
        "created_at": datetime.fromisoformat(data["created_at"]),
        "submission_path": data["submission_path"],
    }


SUMMARY_FIELDS = (
    "total_runs",
    "total_runs_with_submissions",
    "total_valid_submissions",
    "total_medals",
    "total_gold_medals",
    "total_silver_medals",
    "total_bronze_medals",
    "total_above_median",
    "competition_reports",
)


def aggregate_read(path: Path) -> list[dict[str, Any]]:
    """What ``experiments/aggregate_grading_reports.py`` does with a grading report file: load
    it (Python's json, NaN allowed), take ``competition_reports``, load each."""
    data = json.loads(path.read_text())
    return [competition_report_from_dict(r) for r in data["competition_reports"]]


def test_grade_of_one_file_is_a_summary_mlebench_s_aggregation_reads(tmp_path: Path) -> None:
    task = resolve_task("diabetes")
    graded = grade_file("diabetes", str(task.public_dir / "sample_submission.csv"))
    summary = report_json([graded])
    assert tuple(summary) == SUMMARY_FIELDS
    assert summary["total_runs"] == 1 and summary["total_valid_submissions"] == 1
    (report,) = summary["competition_reports"]
    assert tuple(report)[: len(MLEBENCH_FIELDS)] == MLEBENCH_FIELDS
    written = write_report([graded], str(tmp_path / "grading_report.json"))
    (loaded,) = aggregate_read(written)
    assert loaded["competition_id"] == "diabetes" and loaded["is_lower_better"] is True
    assert loaded["valid_submission"] and loaded["score"] == report["score"]


def test_a_task_without_a_leaderboard_is_written_with_nan_as_mlebench_writes_it(
    tmp_path: Path,
) -> None:
    task_dir = tmp_path / "digits"
    shutil.copytree(resolve_task("digits").path, task_dir)
    (task_dir / "leaderboard.csv").unlink()
    graded = grade_file(str(task_dir), str(task_dir / "public" / "sample_submission.csv"))
    path = write_report([graded, graded], str(tmp_path / "grading_report.json"))
    text = path.read_text()
    assert '"gold_threshold": NaN' in text and "null" in text  # no leaderboard; mletui's fields
    loaded = aggregate_read(path)
    assert len(loaded) == 2 and all(math.isnan(r["median_threshold"]) for r in loaded)
    assert not any(r["any_medal"] for r in loaded)


@pytest.mark.parametrize("missing", ["NA", "N/A", "null", "", "nan", "NULL", "None"])
def test_leaderboard_scores_pandas_reads_as_missing(tmp_path: Path, missing: str) -> None:
    board = tmp_path / "leaderboard.csv"
    rows = ["0.9", "0.8", missing, "0.6", "0.5"]
    board.write_text("teamName,score\n" + "".join(f"t{i},{s}\n" for i, s in enumerate(rows)))
    scores = read_leaderboard_scores(board)
    assert math.isnan(scores[2]) and scores[3] == 0.6
    thresholds = load_thresholds(board)
    assert thresholds.teams == 5 and thresholds.median == pytest.approx(0.7)  # pandas: 4 known
    board.write_text("teamName,score\nt0,0.9\nt1,banana\n")
    with pytest.raises(ValueError, match="not a number on line 3"):
        read_leaderboard_scores(board)
