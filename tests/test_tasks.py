"""Tasks and metrics: the bundled tasks load, resolve and grade; metrics match hand computation."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from mletui.grading.metrics import METRICS, get_metric
from mletui.grading.submission import score_submission
from mletui.grading.tasks import Task, TaskError, bundled_tasks, load_task, resolve_task

BUNDLED_IDS = ["breast-cancer", "diabetes", "digits"]


def test_bundled_tasks_load_with_their_files() -> None:
    tasks = bundled_tasks()
    assert [t.id for t in tasks] == BUNDLED_IDS
    for task in tasks:
        assert task.metric in METRICS
        assert task.id_column == "id"
        assert len(task.target_columns) == 1
        for name in ("train.csv", "test.csv", "sample_submission.csv"):
            assert (task.public_dir / name).is_file(), name
        assert (task.private_dir / "answers.csv").is_file()
        assert task.description_path.read_text(encoding="utf-8").startswith("# ")
        train = pd.read_csv(task.public_dir / "train.csv")
        test = pd.read_csv(task.public_dir / "test.csv")
        answers = pd.read_csv(task.private_dir / "answers.csv")
        target = task.target_columns[0]
        assert target in train.columns and target not in test.columns
        assert list(answers.columns) == ["id", target]
        assert sorted(answers["id"]) == sorted(test["id"])
        assert not set(train["id"]) & set(test["id"])
        assert len(test) / (len(train) + len(test)) == pytest.approx(0.25, abs=0.01)


def test_bundled_task_metrics_and_directions() -> None:
    by_id = {t.id: t for t in bundled_tasks()}
    assert (by_id["digits"].metric, by_id["digits"].target_columns) == ("accuracy", ("label",))
    assert (by_id["breast-cancer"].metric, by_id["breast-cancer"].lower_is_better) == (
        "roc_auc",
        False,
    )
    assert (by_id["diabetes"].metric, by_id["diabetes"].lower_is_better) == ("rmse", True)
    assert by_id["diabetes"].direction == "lower"


def test_resolve_by_name_and_by_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    digits = resolve_task("digits")
    assert digits.id == "digits"
    assert resolve_task(str(digits.path)) == digits
    copy = tmp_path / "my-task"
    shutil.copytree(digits.path, copy)
    monkeypatch.chdir(tmp_path)
    assert resolve_task("./my-task").path == copy.resolve()
    assert resolve_task("my-task").path == copy.resolve()


def test_unknown_task_names_the_bundled_ones() -> None:
    with pytest.raises(TaskError) as caught:
        resolve_task("no-such-task")
    message = str(caught.value)
    assert message == (
        "No task named 'no-such-task'. Bundled tasks: breast-cancer, diabetes, digits; "
        "or give the path of a task folder."
    )


def write_task(folder: Path, toml: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task.toml").write_text(toml, encoding="utf-8")
    return folder


def test_load_task_reads_toml_and_defaults_direction_from_metric(tmp_path: Path) -> None:
    folder = write_task(
        tmp_path / "t",
        'id = "t"\nmetric = "log_loss"\nid_column = "key"\ntarget_columns = ["a", "b"]\n',
    )
    task = load_task(folder)
    assert task == Task(
        id="t",
        name="t",
        metric="log_loss",
        id_column="key",
        target_columns=("a", "b"),
        lower_is_better=True,
        path=folder.resolve(),
    )
    assert task.public_dir == folder.resolve() / "public"
    assert task.private_dir == folder.resolve() / "private"
    assert task.description_path == folder.resolve() / "description.md"
    assert task.leaderboard_path is None


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (None, "has no task.toml"),
        ("id = ", "is not valid TOML"),
        ('id = "t"\nid_column = "id"\ntarget_columns = ["y"]\n', "lacks the key 'metric'"),
        ('id = "t"\nmetric = "f2"\nid_column = "id"\ntarget_columns = ["y"]\n', "unknown metric"),
        ('id = "t"\nmetric = "rmse"\nid_column = "id"\ntarget_columns = [1]\n', "target_columns"),
        ('id = "t"\nmetric = "rmse"\nid_column = "id"\n', "lacks the key 'target_columns'"),
    ],
)
def test_load_task_errors_say_what_is_wrong(
    tmp_path: Path, toml: str | None, expected: str
) -> None:
    folder = tmp_path / "t"
    folder.mkdir()
    if toml is not None:
        write_task(folder, toml)
    with pytest.raises(TaskError, match=expected):
        load_task(folder)


def test_load_task_on_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="No task folder at"):
        load_task(tmp_path / "absent")


def test_unknown_metric_names_the_known_ones(tmp_path: Path) -> None:
    folder = write_task(
        tmp_path / "t", 'id = "t"\nmetric = "f2"\nid_column = "id"\ntarget_columns = ["y"]\n'
    )
    with pytest.raises(TaskError) as caught:
        load_task(folder)
    assert "accuracy" in str(caught.value) and "rmse" in str(caught.value)


# --- metrics ------------------------------------------------------------------------------------


def metric(name: str, y_true: Sequence[object], y_pred: Sequence[object]) -> float:
    import numpy as np

    return get_metric(name)(np.asarray(y_true), np.asarray(y_pred))


def test_accuracy() -> None:
    assert metric("accuracy", [1, 2, 3, 4], [1, 2, 0, 4]) == 0.75


def test_macro_f1() -> None:
    # class 0: precision 1, recall 1/2, F1 2/3; class 1: precision 2/3, recall 1, F1 4/5
    assert metric("macro_f1", [0, 0, 1, 1], [0, 1, 1, 1]) == pytest.approx((2 / 3 + 4 / 5) / 2)


def test_quadratic_weighted_kappa() -> None:
    # weighted observed disagreement 1/4, expected 5/4 (weights (i-j)^2/4): kappa = 1 - 1/5
    assert metric("quadratic_weighted_kappa", [0, 1, 2], [0, 2, 2]) == pytest.approx(0.8)
    assert metric("quadratic_weighted_kappa", [0, 1, 2], [0, 1, 2]) == pytest.approx(1.0)


def test_roc_auc_binary() -> None:
    # positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ordered
    assert metric("roc_auc", [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def test_roc_auc_multiclass_one_vs_rest() -> None:
    one_hot = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]
    scores = [[0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.3, 0.3, 0.4], [0.6, 0.2, 0.2]]
    # per class: 1 (perfect), 5/6 (one tie among three pairs), 2/3; macro average
    assert metric("roc_auc", one_hot, scores) == pytest.approx((1 + 5 / 6 + 2 / 3) / 3)


def test_log_loss() -> None:
    expected = -(math.log(0.8) + math.log(0.7)) / 2
    assert metric("log_loss", [1, 0], [0.8, 0.3]) == pytest.approx(expected)


def test_regression_metrics() -> None:
    assert metric("rmse", [1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert metric("mse", [1, 2, 3], [1, 2, 5]) == pytest.approx(4 / 3)
    assert metric("mae", [1, 2, 3], [1, 2, 5]) == pytest.approx(2 / 3)
    assert metric("r2", [1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)


def test_metric_directions_and_kinds() -> None:
    lower = {name for name, m in METRICS.items() if m.lower_is_better}
    assert lower == {"log_loss", "rmse", "mse", "mae"}
    assert {name for name, m in METRICS.items() if m.needs_probabilities} == {"roc_auc", "log_loss"}
    assert get_metric("rmse").direction == "lower"
    assert get_metric("accuracy").direction == "higher"
    expected = {
        "accuracy",
        "roc_auc",
        "log_loss",
        "rmse",
        "mae",
        "macro_f1",
        "quadratic_weighted_kappa",
    }
    assert expected <= set(METRICS)


def test_unknown_metric() -> None:
    with pytest.raises(KeyError, match="known metrics: accuracy"):
        get_metric("f2")


# --- score_submission ---------------------------------------------------------------------------


@pytest.mark.parametrize("task_id", BUNDLED_IDS)
def test_answers_score_perfectly(task_id: str) -> None:
    task = resolve_task(task_id)
    perfect = {"accuracy": 1.0, "roc_auc": 1.0, "rmse": 0.0}[task.metric]
    assert score_submission(task, task.private_dir / "answers.csv") == perfect


def test_sample_submissions_are_valid_and_score_as_constants() -> None:
    by_id = {t.id: t for t in bundled_tasks()}
    digits = by_id["digits"]
    answers = pd.read_csv(digits.private_dir / "answers.csv")
    sample = pd.read_csv(digits.public_dir / "sample_submission.csv")
    share = (answers["label"] == sample["label"].iloc[0]).mean()
    assert score_submission(digits, digits.public_dir / "sample_submission.csv") == share
    cancer = by_id["breast-cancer"]
    assert score_submission(cancer, cancer.public_dir / "sample_submission.csv") == 0.5
    diabetes = by_id["diabetes"]
    rmse = score_submission(diabetes, diabetes.public_dir / "sample_submission.csv")
    assert 50 < rmse < 100


def test_rows_are_matched_by_id_not_by_order(tmp_path: Path) -> None:
    task = resolve_task("diabetes")
    answers = pd.read_csv(task.private_dir / "answers.csv")
    shuffled = answers.sample(frac=1.0, random_state=1)
    path = tmp_path / "submission.csv"
    shuffled.to_csv(path, index=False)
    assert score_submission(task, path) == 0.0


def test_submission_errors_are_one_sentence(tmp_path: Path) -> None:
    task = resolve_task("digits")
    answers = pd.read_csv(task.private_dir / "answers.csv")
    path = tmp_path / "submission.csv"

    with pytest.raises(ValueError, match="No submission file at"):
        score_submission(task, path)

    answers.rename(columns={"label": "digit"}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"lacks column 'label'; expected columns: id, label"):
        score_submission(task, path)

    answers.iloc[1:].to_csv(path, index=False)
    with pytest.raises(ValueError, match="lacks predictions for 1 of 450 ids"):
        score_submission(task, path)

    pd.concat([answers, answers.iloc[:1]]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="repeats 1 id"):
        score_submission(task, path)

    extra = pd.DataFrame({"id": [99999], "label": [3]})
    pd.concat([answers, extra]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="not in the test set"):
        score_submission(task, path)

    path.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="is empty"):
        score_submission(task, path)


def test_probability_submission_must_be_numeric(tmp_path: Path) -> None:
    task = resolve_task("breast-cancer")
    answers = pd.read_csv(task.private_dir / "answers.csv")
    answers["target"] = "likely"
    path = tmp_path / "submission.csv"
    answers.to_csv(path, index=False)
    with pytest.raises(ValueError, match="non-numeric values in column 'target'"):
        score_submission(task, path)


def test_loading_tasks_imports_no_heavy_modules() -> None:
    """The CLI lists and resolves tasks without paying for scikit-learn, pandas or Textual."""
    import subprocess
    import sys

    code = (
        "import sys, mletui.grading\n"
        "mletui.grading.resolve_task('digits')\n"
        "heavy = {'sklearn', 'pandas', 'textual'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(repo)}
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env=env)
