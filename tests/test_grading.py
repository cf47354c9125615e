"""Grading: metrics by hand, each submission failure's sentence, MLE-bench's medals, the report,
the bundled leaderboards, and `mletui grade` on files and on real runs."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mletui.cli import main
from mletui.grading import (
    LeaderboardError,
    SubmissionError,
    Task,
    bundled_tasks,
    get_metric,
    grade_submission,
    load_thresholds,
    resolve_task,
    score_submission,
    thresholds_from_scores,
)
from mletui.grading.medals import medal_positions
from mletui.grading.report import MLEBENCH_FIELDS
from mletui.run.launcher import start_run
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder
from tests.conftest import wait_ended, wait_for

# --- metrics, against values worked out by hand --------------------------------------------------


def metric(name: str, y_true: object, y_pred: object) -> float:
    return get_metric(name)(np.asarray(y_true), np.asarray(y_pred))


def test_accuracy_on_text_labels() -> None:
    assert metric("accuracy", ["cat", "dog", "dog", "cow"], ["cat", "dog", "cow", "cow"]) == 0.75


def test_macro_f1_three_classes() -> None:
    # a: P 1/1, R 1/2 -> F1 2/3; b: P 1/2, R 1/1 -> 2/3; c: P 1/1, R 1/1 -> 1
    value = metric("macro_f1", ["a", "a", "b", "c"], ["a", "b", "b", "c"])
    assert value == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_quadratic_weighted_kappa_by_hand() -> None:
    # truth 0,0,1,1 / predicted 0,1,1,1: observed weighted disagreement 1 (one pair, weight 1);
    # expected from the marginals (truth 2,2; predicted 1,3): cells (0,1) 2*3/4 and (1,0) 2*1/4,
    # 1.5 + 0.5 = 2; kappa = 1 - 1/2
    assert metric("quadratic_weighted_kappa", [0, 0, 1, 1], [0, 1, 1, 1]) == pytest.approx(0.5)


def test_roc_auc_counts_a_tie_as_half() -> None:
    # pairs (pos, neg): (0.5, 0.2) right, (0.5, 0.5) tie, (0.9, 0.2) right, (0.9, 0.5) right
    assert metric("roc_auc", [0, 0, 1, 1], [0.2, 0.5, 0.5, 0.9]) == pytest.approx(3.5 / 4)


def test_log_loss_multiclass_rescales_rows() -> None:
    # the second row sums to 2 and is rescaled to 0.25/0.5/0.25 (Kaggle's convention)
    one_hot = [[1, 0, 0], [0, 1, 0]]
    probabilities = [[0.5, 0.25, 0.25], [0.5, 1.0, 0.5]]
    expected = -(math.log(0.5) + math.log(0.5)) / 2
    assert metric("log_loss", one_hot, probabilities) == pytest.approx(expected)


def test_rmse_and_mae_by_hand() -> None:
    # errors 0, -1, 3: squares 0, 1, 9
    assert metric("rmse", [2, 4, 6], [2, 5, 3]) == pytest.approx(math.sqrt(10 / 3))
    assert metric("mae", [2, 4, 6], [2, 5, 3]) == pytest.approx(4 / 3)


def test_each_metric_knows_its_direction() -> None:
    lower = {"log_loss", "rmse", "mse", "mae"}
    for name in ("accuracy", "roc_auc", "log_loss", "rmse", "mae", "macro_f1"):
        assert get_metric(name).lower_is_better == (name in lower), name
    assert get_metric("quadratic_weighted_kappa").direction == "higher"


# --- submission checks: each failure, its sentence -----------------------------------------------


def answers(task: Task) -> pd.DataFrame:
    return pd.read_csv(task.answers_path, dtype={task.id_column: str})


def first_id(task: Task, n: int = 0) -> str:
    return str(answers(task)["id"].iloc[n])


Writer = Callable[[Path, Task], None]


def frame_writer(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Writer:
    def write(path: Path, task: Task) -> None:
        change(answers(task)).to_csv(path, index=False)

    return write


def text_writer(text: str | bytes) -> Writer:
    def write(path: Path, task: Task) -> None:
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")

    return write


def with_value(column: str, value: object, rows: int = 1) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame[column] = frame[column].astype(object)
        frame.loc[frame.index[:rows], column] = value
        return frame

    return change


def renamed_id(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[frame.index[0], "id"] = "99999"
    return frame


def duplicated_id(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[frame.index[0], "id"] = frame["id"].iloc[1]
    return frame


def float_ids(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["id"] = frame["id"].astype(float).map(lambda v: f"{v:.1f}")
    return frame


FAILURES: list[tuple[str, str, Writer, str]] = [
    (
        "digits",
        "submission.csv",
        text_writer(""),
        "The submission submission.csv is empty (0 bytes).",
    ),
    (
        "digits",
        "submission.csv",
        text_writer("\n  \n"),
        "The submission submission.csv is empty (only blank space).",
    ),
    (
        "digits",
        "submission.txt",
        frame_writer(lambda f: f),
        "The submission submission.txt is not a CSV file: its name must end in .csv.",
    ),
    (
        "digits",
        "submission.csv",
        text_writer(b"PK\x03\x04\x00\x00binary"),
        "The submission submission.csv is not a CSV file: it holds binary data.",
    ),
    (
        "digits",
        "submission.csv",
        text_writer(b"id,label\n1,\xff\xfe\n"),
        "The submission submission.csv is not a CSV file: it is not UTF-8 text "
        "(byte 0xff at offset 11).",
    ),
    (
        "digits",
        "submission.csv",
        text_writer('[{"id": 1, "label": 3}]'),
        "The submission submission.csv is not a CSV file: it looks like JSON.",
    ),
    (
        "digits",
        "submission.csv",
        text_writer("id;label\n1;3\n"),
        "The submission submission.csv is not a CSV file: its columns are separated by "
        "semicolons, not commas.",
    ),
    (
        "digits",
        "submission.csv",
        text_writer('id,label\n1,3\n2,"4\n'),
        "The submission submission.csv is not a valid CSV file (",
    ),
    (
        "digits",
        "submission.csv",
        frame_writer(lambda f: f.rename(columns={"label": "digit"})),
        "Submission submission.csv lacks column 'label'; expected columns: id, label.",
    ),
    (
        "digits",
        "submission.csv",
        text_writer("3,7\n4,1\n"),
        "Submission submission.csv lacks columns 'id', 'label'; expected columns: id, label; "
        "its first line must be the header.",
    ),
    (
        "digits",
        "submission.csv",
        frame_writer(lambda f: f.assign(confidence=0.9)),
        "Submission submission.csv has unexpected column 'confidence'; expected columns: "
        "id, label.",
    ),
    (
        "digits",
        "submission.csv",
        text_writer("id,label,label\n1,3,3\n"),
        "Submission submission.csv names the column 'label' twice; expected columns: id, label.",
    ),
    (
        "digits",
        "submission.csv",
        frame_writer(lambda f: f.iloc[1:]),
        "Submission submission.csv has 449 rows, but the test set has 450 ids, one row each; "
        "it lacks predictions for 1 of 450 ids, e.g. '{id0}'.",
    ),
    (
        "digits",
        "submission.csv",
        frame_writer(lambda f: pd.concat([f, f.iloc[:2]])),
        "Submission submission.csv has 452 rows, but the test set has 450 ids, one row each; "
        "it repeats 2 ids, e.g. '{id0}'.",
    ),
    (
        "digits",
        "submission.csv",
        frame_writer(lambda f: pd.concat([f, pd.DataFrame({"id": ["99999"], "label": [3]})])),
        "Submission submission.csv has 451 rows, but the test set has 450 ids, one row each; "
        "it has 1 id that is not in the test set, e.g. '99999'.",
    ),
    (
        "digits",
        "submission.csv",
        frame_writer(duplicated_id),
        "Submission submission.csv repeats 1 id, e.g. '{id1}', so 1 test id has no row, "
        "e.g. '{id0}'.",
    ),
    (
        "digits",
        "submission.csv",
        frame_writer(renamed_id),
        "Submission submission.csv has 1 id that is not in the test set, e.g. '99999', and "
        "lacks predictions for 1 of 450 ids, e.g. '{id0}'.",
    ),
    (
        "digits",
        "submission.csv",
        frame_writer(float_ids),
        "Submission submission.csv has 450 ids that are not in the test set, e.g. '{id0}.0', "
        "and lacks predictions for 450 of 450 ids, e.g. '{id0}' (ids are compared as text: "
        "'{id0}.0' is not '{id0}').",
    ),
    (
        "digits",
        "submission.csv",
        frame_writer(with_value("label", None, rows=2)),
        "Submission submission.csv has 2 empty values in column 'label', e.g. for id '{id0}'.",
    ),
    (
        "breast-cancer",
        "submission.csv",
        frame_writer(with_value("target", "likely")),
        "Submission submission.csv has non-numeric values in column 'target', e.g. 'likely' for "
        "id '{id0}'; roc_auc needs numbers.",
    ),
    (
        "breast-cancer",
        "submission.csv",
        frame_writer(with_value("target", 1.5)),
        "Submission submission.csv has values outside [0, 1] in column 'target', e.g. 1.5 for "
        "id '{id0}'; roc_auc needs probabilities.",
    ),
    (
        "diabetes",
        "submission.csv",
        frame_writer(with_value("target", "inf")),
        "Submission submission.csv has infinite values in column 'target', e.g. for id '{id0}'; "
        "rmse needs finite numbers.",
    ),
]


@pytest.mark.parametrize(
    ("task_id", "name", "write", "sentence"),
    FAILURES,
    ids=[f"{task}-{n}" for n, (task, *_rest) in enumerate(FAILURES)],
)
def test_each_submission_failure_has_its_sentence(
    tmp_path: Path, task_id: str, name: str, write: Writer, sentence: str
) -> None:
    task = resolve_task(task_id)
    expected = sentence.format(id0=first_id(task), id1=first_id(task, 1))
    path = tmp_path / name
    write(path, task)
    with pytest.raises(SubmissionError) as caught:
        score_submission(task, path)
    message = str(caught.value)
    if expected.endswith("("):
        assert message.startswith(expected) and message.endswith(")."), message
    else:
        assert message == expected
    # ...and through the report: an invalid result, never an exception.
    report = grade_submission(task, path)
    assert not report.valid_submission and report.score is None
    assert report.invalid_reason == message
    assert not report.ranking.any_medal and not report.ranking.above_median


def test_a_missing_file_and_a_folder(tmp_path: Path) -> None:
    task = resolve_task("digits")
    report = grade_submission(task, tmp_path / "submission.csv")
    assert report.invalid_reason == f"No submission file at {tmp_path / 'submission.csv'}."
    assert not report.submission_exists
    with pytest.raises(SubmissionError, match="is a folder, not a CSV file"):
        score_submission(task, tmp_path)


def test_ids_match_whatever_the_order_and_labels_as_floats(tmp_path: Path) -> None:
    task = resolve_task("digits")
    frame = answers(task).sample(frac=1.0, random_state=3)
    frame["label"] = frame["label"].astype(float)  # "3.0" is the label 3
    path = tmp_path / "submission.csv"
    frame.to_csv(path, index=False)
    assert score_submission(task, path) == 1.0


def test_sample_submission_columns_are_the_contract(tmp_path: Path) -> None:
    task = resolve_task("breast-cancer")
    frame = answers(task)[["target", "id"]]  # any column order
    frame["target"] = 0.3
    path = tmp_path / "submission.csv"
    frame.to_csv(path, index=False)
    assert score_submission(task, path) == 0.5


# --- medals: MLE-bench's positions for each band of team counts, both directions ----------------

# N -> (gold, silver, bronze) positions, worked out from Kaggle's progression rules as MLE-bench
# codes them (its Grader.rank_score)
POSITIONS = {
    3: (1, 1, 1),  # max(1, int(0.3)) = 1 everywhere
    10: (1, 2, 4),
    99: (9, 19, 39),
    100: (10, 20, 40),
    249: (10, 49, 99),
    250: (10, 50, 100),
    999: (11, 50, 100),
    1000: (12, 50, 100),
    2500: (15, 125, 250),
}


@pytest.mark.parametrize("teams", sorted(POSITIONS))
def test_medal_positions_by_band(teams: int) -> None:
    assert medal_positions(teams) == POSITIONS[teams]


@pytest.mark.parametrize("teams", sorted(POSITIONS))
@pytest.mark.parametrize("lower_is_better", [False, True])
def test_medal_thresholds_and_ranks(teams: int, lower_is_better: bool) -> None:
    # position p (1-based) scores 1000 - p when higher is better, p when lower is
    scores = [float(p if lower_is_better else 1000 - p) for p in range(1, teams + 1)]
    board = thresholds_from_scores(scores)
    gold, silver, bronze = POSITIONS[teams]
    assert board.lower_is_better is lower_is_better
    assert (board.gold, board.silver, board.bronze) == (
        scores[gold - 1],
        scores[silver - 1],
        scores[bronze - 1],
    )
    assert board.median == float(np.median(scores))
    worse = 1.0 if lower_is_better else -1.0  # a step in the worse direction
    assert board.rank(board.gold).medal == "gold"  # at the threshold counts
    if silver > gold:
        assert board.rank(board.gold + worse * 0.5).medal == "silver"
    if bronze > silver:
        assert board.rank(board.silver + worse * 0.5).medal == "bronze"
    assert board.rank(board.bronze + worse * 0.5).medal is None
    assert not board.rank(board.median).above_median  # strictly above
    assert board.rank(board.median - worse * 0.25).above_median
    assert board.rank(None).medal is None


def test_direction_comes_from_the_leaderboard_order(tmp_path: Path) -> None:
    board = tmp_path / "leaderboard.csv"
    board.write_text("team,score\na,0.9\nb,0.8\nc,0.7\n", encoding="utf-8")
    assert not load_thresholds(board).lower_is_better
    with pytest.raises(LeaderboardError, match="ordered as if higher were better"):
        load_thresholds(board, lower_is_better=True)
    board.write_text("team,points\na,1\n", encoding="utf-8")
    with pytest.raises(LeaderboardError, match="needs a 'score' column"):
        load_thresholds(board)


# --- the report ----------------------------------------------------------------------------------


def test_report_fields_are_mlebench_s_in_order(tmp_path: Path) -> None:
    task = resolve_task("digits")
    report = grade_submission(task, task.public_dir / "sample_submission.csv")
    data = report.to_dict()
    assert tuple(data)[: len(MLEBENCH_FIELDS)] == MLEBENCH_FIELDS
    assert data["competition_id"] == "digits" and data["valid_submission"] is True
    assert data["submission_exists"] is True and data["is_lower_better"] is False
    assert data["score"] == round(data["score"], 5)
    assert data["any_medal"] is False and data["above_median"] is False
    json.dumps(data)  # JSON-ready as it is


@pytest.mark.parametrize("task", bundled_tasks(), ids=lambda t: t.id)
def test_perfect_answers_win_gold_on_every_bundled_task(task: Task) -> None:
    report = grade_submission(task, task.answers_path)
    assert report.medal == "gold" and report.ranking.above_median
    assert report.thresholds is not None and report.leaderboard_error is None


# --- the bundled leaderboards: honest, ordered best first -----------------------------------------


@pytest.mark.parametrize("task", bundled_tasks(), ids=lambda t: t.id)
def test_bundled_leaderboards_are_reference_models_best_first(task: Task) -> None:
    assert task.leaderboard_path is not None
    board = pd.read_csv(task.leaderboard_path)
    assert {"rank", "team", "score"} <= set(board.columns)
    assert 30 <= len(board) < 100
    assert board["team"].str.startswith("reference: ").all()
    scores = board["score"].tolist()
    assert scores == sorted(scores, reverse=not task.lower_is_better)
    assert load_thresholds(task.leaderboard_path, task.lower_is_better).teams == len(board)
    description = task.description_path.read_text(encoding="utf-8")
    assert "## Leaderboard" in description and "reference models" in description
    assert f"Its {len(board)} entries" in description


# --- mletui grade -------------------------------------------------------------------------------


def test_grade_a_file_prints_writes_and_says_why_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = resolve_task("diabetes")
    out = tmp_path / "reports" / "grade.json"
    sample = str(task.public_dir / "sample_submission.csv")
    assert main(["grade", "--task", "diabetes", sample, "--json", "--out", str(out)]) == 0
    # MLE-bench's summary shape, with one report: what its aggregation script reads.
    summary = json.loads(capsys.readouterr().out)
    assert summary["total_runs"] == 1 and summary["total_valid_submissions"] == 1
    (printed,) = summary["competition_reports"]
    (written,) = json.loads(out.read_text(encoding="utf-8"))["competition_reports"]
    assert printed["competition_id"] == written["competition_id"] == "diabetes"
    assert printed["is_lower_better"] is True and printed["valid_submission"] is True
    assert tuple(printed)[: len(MLEBENCH_FIELDS)] == MLEBENCH_FIELDS

    assert main(["grade", "--task", str(task.path), sample]) == 0
    text = capsys.readouterr().out
    assert "diabetes (rmse, lower is better)" in text and "medal" in text and "≤" in text

    bad = tmp_path / "bad.csv"
    bad.write_text("id,prediction\n1,2\n", encoding="utf-8")
    assert main(["grade", "--task", "diabetes", str(bad)]) == 1
    assert "lacks column 'target'" in capsys.readouterr().out

    assert main(["grade", "--task", "no-such-task", sample]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mletui: No task named 'no-such-task'") and err.count("\n") == 1


def copying_agent(task: Task, then_sleep: float = 0) -> RunFolder:
    """MLE-bench's dummy agent: the sample submission, copied."""
    sample = task.public_dir / "sample_submission.csv"
    command = f'cp "{sample}" "$MLETUI_SUBMISSION_DIR/submission.csv"; sleep {then_sleep}'
    return start_run(task, agent_cmd=command, time_limit_s=120)


def test_grade_runs_and_their_summary_report(capsys: pytest.CaptureFixture[str]) -> None:
    task = resolve_task("digits")
    first, second = copying_agent(task), copying_agent(resolve_task("breast-cancer"))
    for folder in (first, second):
        wait_ended(folder, 60)
    # The recorder graded each run's submission before the run's end was written.
    kinds = [e["kind"] for e in read_journal(first.journal_path).entries]
    assert kinds.index("grade") < len(kinds) - 1 - kinds[::-1].index("state")

    assert main(["grade", first.id[:6]]) == 0
    text = capsys.readouterr().out
    assert f"run {first.id}: digits (accuracy, higher is better)" in text
    assert "seen by operator" not in text  # an ended run: nothing to guard

    assert main(["grade", first.id, second.id, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["total_runs"] == 2 and summary["total_valid_submissions"] == 2
    assert [r["competition_id"] for r in summary["competition_reports"]] == [
        "digits",
        "breast-cancer",
    ]
    # ls shows the grade of an ended run.
    assert main(["ls", "--json"]) == 0
    listed = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed[first.id]["grade"] == pytest.approx(0.10222)
    assert listed[first.id]["grade_hidden"] is False and listed[first.id]["medal"] is None


def test_grading_a_live_run_is_journaled_as_seen(capsys: pytest.CaptureFixture[str]) -> None:
    task = resolve_task("digits")
    folder = copying_agent(task, then_sleep=60)
    wait_for(
        lambda: any(e["kind"] == "grade" for e in read_journal(folder.journal_path).entries),
        60,
        "the recorder's grade",
    )
    assert main(["ls", "--json"]) == 0
    before = json.loads(capsys.readouterr().out)[0]
    assert before["grade"] is None and before["grade_hidden"] is True

    assert main(["--operator", "eve", "grade", folder.id]) == 0
    assert "recorded as seen by operator" in capsys.readouterr().out
    actions = [e for e in read_journal(folder.journal_path).entries if e["kind"] == "action"]
    assert [(a["action"], a["operator"], a["detail"]) for a in actions] == [
        ("reveal-grade", "eve", "mletui grade")
    ]
    assert main(["ls", "--json"]) == 0
    after = json.loads(capsys.readouterr().out)[0]
    assert after["grade"] is not None and after["grade_seen_by_operator"] == ["eve"]
    assert main(["show", folder.id]) == 0
    assert "grade seen by operator  eve" in capsys.readouterr().out


def test_the_heavy_grading_modules_stay_out_of_the_cli_until_needed() -> None:
    import subprocess

    code = (
        "import sys, mletui.grading, mletui.watch.grades\n"
        "heavy = {'sklearn', 'pandas', 'textual'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
