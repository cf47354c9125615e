"""Make an honest ``leaderboard.csv`` for each bundled task: real scores of reference models.

Run from the repository root: ``python scripts/make_leaderboards.py`` (``make_bundled_tasks.py``
runs it too). No scores are invented: each row is a simple scikit-learn model, with one of a
range of settings, trained on the task's ``public/train.csv``, predicting ``public/test.csv``,
and graded against ``private/answers.csv`` by mletui's own grader, as an agent's submission
would be. The leaderboard is sorted best first, as Kaggle's and MLE-bench's are, so that
MLE-bench's medal rules (``mletui.grading.medals``) apply to it unchanged. The task's
``description.md`` gets a section that says what the leaderboard is.

Deterministic (fixed seeds, one thread per model), so running it again changes nothing in git.
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mletui.grading import Task, bundled_tasks, get_metric, score_submission  # noqa: E402

SEED = 0
DECIMALS = 5  # as MLE-bench rounds every grade
SECTION = "## Leaderboard"


@dataclass(frozen=True)
class Reference:
    team: str  # what the model is, as the leaderboard's team name
    make: Callable[[], BaseEstimator]


def scaled(model: BaseEstimator) -> Pipeline:
    return make_pipeline(StandardScaler(), model)


def svm(c: float, probabilities: bool) -> BaseEstimator:
    if probabilities:  # Platt scaling on the SVM's scores, fitted by cross-validation
        return CalibratedClassifierCV(SVC(C=c, random_state=SEED), ensemble=False)
    return SVC(C=c, random_state=SEED)


def nearest_neighbours(model: Callable[..., BaseEstimator]) -> list[Reference]:
    """k-nearest neighbours on standardized features, for a range of k."""
    return [
        Reference(f"{k}-nearest neighbours, standardized", lambda k=k: scaled(model(n_neighbors=k)))
        for k in (1, 3, 7, 15, 31)
    ]


def trees(
    tree: Callable[..., BaseEstimator],
    forest: Callable[..., BaseEstimator],
    extra_trees: Callable[..., BaseEstimator],
    boosting: Callable[..., BaseEstimator],
) -> list[Reference]:
    """Decision trees, random forests, extra trees and gradient boosting, each with a range of
    settings: the same for classifiers and regressors."""
    return [
        *(
            Reference(
                f"decision tree, max_depth={d}",
                lambda d=d: tree(max_depth=d, random_state=SEED),
            )
            for d in (1, 2, 3, 5, 8, None)
        ),
        *(
            Reference(
                f"random forest, {n} trees, max_depth={d}",
                lambda n=n, d=d: forest(n_estimators=n, max_depth=d, random_state=SEED, n_jobs=1),
            )
            for n, d in ((10, 3), (10, None), (50, 5), (100, None), (300, None))
        ),
        Reference(
            "extra trees, 100 trees",
            lambda: extra_trees(n_estimators=100, random_state=SEED, n_jobs=1),
        ),
        *(
            Reference(
                f"gradient boosting, learning_rate={lr:g}, {it} iterations",
                lambda lr=lr, it=it: boosting(
                    learning_rate=lr, max_iter=it, early_stopping=False, random_state=SEED
                ),
            )
            for lr in (0.05, 0.1, 0.3)
            for it in (20, 200)
        ),
    ]


def classifiers(probabilities: bool) -> list[Reference]:
    refs = [
        Reference(
            "constant: class frequencies of train", lambda: DummyClassifier(strategy="prior")
        ),
        Reference(
            "uniform random guess", lambda: DummyClassifier(strategy="uniform", random_state=0)
        ),
        *(
            Reference(
                f"random guess by class frequency (seed {s})",
                lambda s=s: DummyClassifier(strategy="stratified", random_state=s),
            )
            for s in (0, 1, 2)
        ),
        *(
            Reference(
                f"Gaussian naive Bayes, var_smoothing={v:g}",
                lambda v=v: GaussianNB(var_smoothing=v),
            )
            for v in (1e-9, 1e-3, 1e-1)
        ),
        *(
            Reference(
                f"logistic regression, C={c:g}, standardized",
                lambda c=c: scaled(LogisticRegression(C=c, max_iter=5000)),
            )
            for c in (0.001, 0.01, 0.1, 1.0, 10.0)
        ),
        Reference(
            "logistic regression, C=1, raw features",
            lambda: LogisticRegression(C=1.0, max_iter=5000),
        ),
        *nearest_neighbours(KNeighborsClassifier),
        Reference("5-nearest neighbours, raw features", lambda: KNeighborsClassifier(5)),
        *trees(
            DecisionTreeClassifier,
            RandomForestClassifier,
            ExtraTreesClassifier,
            HistGradientBoostingClassifier,
        ),
        *(
            Reference(
                f"SVM (RBF kernel), C={c:g}, standardized",
                lambda c=c: scaled(svm(c, probabilities)),
            )
            for c in (0.1, 1.0, 10.0)
        ),
    ]
    return refs


def regressors() -> list[Reference]:
    return [
        Reference("constant: mean of train", lambda: DummyRegressor(strategy="mean")),
        Reference("constant: median of train", lambda: DummyRegressor(strategy="median")),
        Reference("linear regression (least squares)", LinearRegression),
        *(
            Reference(f"ridge, alpha={a:g}, standardized", lambda a=a: scaled(Ridge(alpha=a)))
            for a in (0.1, 1.0, 10.0, 100.0, 1000.0)
        ),
        *(
            Reference(
                f"lasso, alpha={a:g}, standardized",
                lambda a=a: scaled(Lasso(alpha=a, max_iter=10_000)),
            )
            for a in (0.1, 1.0, 10.0)
        ),
        *nearest_neighbours(KNeighborsRegressor),
        *trees(
            DecisionTreeRegressor,
            RandomForestRegressor,
            ExtraTreesRegressor,
            HistGradientBoostingRegressor,
        ),
        *(
            Reference(f"SVR (RBF kernel), C={c:g}, standardized", lambda c=c: scaled(SVR(C=c)))
            for c in (1.0, 10.0, 100.0)
        ),
    ]


def references_for(task: Task) -> list[Reference]:
    metric = get_metric(task.metric)
    if metric.needs_probabilities:
        return classifiers(probabilities=True)
    if metric.needs_numbers:
        return regressors()
    return classifiers(probabilities=False)


def reference_scores(task: Task) -> pd.DataFrame:
    """Train every reference model on train.csv and grade its test predictions."""
    if len(task.target_columns) != 1:
        raise SystemExit(f"{task.id}: reference models handle one target column")
    target = task.target_columns[0]
    metric = get_metric(task.metric)
    train = pd.read_csv(task.public_dir / "train.csv")
    test = pd.read_csv(task.public_dir / "test.csv")
    features = [c for c in test.columns if c != task.id_column]
    X, y, X_test = train[features], train[target], test[features]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "submission.csv"
        for ref in references_for(task):
            model = ref.make().fit(X, y)
            if metric.needs_probabilities:
                prediction: np.ndarray = model.predict_proba(X_test)[:, 1]
            else:
                prediction = model.predict(X_test)
            pd.DataFrame({task.id_column: test[task.id_column], target: prediction}).to_csv(
                path, index=False
            )
            score = round(score_submission(task, path), DECIMALS)
            rows.append({"team": f"reference: {ref.team}", "score": score})
    board = pd.DataFrame(rows)
    # Best first, as a Kaggle leaderboard; ties keep a fixed order.
    board = board.sort_values(
        ["score", "team"], ascending=[task.lower_is_better, True], kind="stable"
    )
    board.insert(0, "rank", range(1, len(board) + 1))
    return board.reset_index(drop=True)


CLASSIFIER_FAMILIES = (
    "constant and random guesses, naive Bayes, logistic regression, nearest neighbours, "
    "decision trees, random forests, extra trees, gradient boosting and SVMs"
)
REGRESSOR_FAMILIES = (
    "constants, least squares, ridge and lasso regression, nearest neighbours, decision trees, "
    "random forests, extra trees, gradient boosting and SVMs"
)


def describe(task: Task, board: pd.DataFrame) -> str:
    metric = get_metric(task.metric)
    regression = metric.needs_numbers and not metric.needs_probabilities
    families = REGRESSOR_FAMILIES if regression else CLASSIFIER_FAMILIES
    text = (
        f"This task's leaderboard (`leaderboard.csv`, beside `task.toml`; an agent does not "
        f"see it) holds no people. Its {len(board)} entries are simple reference models from "
        f"scikit-learn ({families}), each with one of a range of settings, trained on "
        f"`public/train.csv` and graded on the test set by mletui, as an agent's submission "
        f"is (`scripts/make_leaderboards.py`). Medals are awarded against it by MLE-bench's "
        f"rules."
    )
    return f"{SECTION}\n{textwrap.fill(text, width=88)}\n"


def write_leaderboard(task: Task) -> pd.DataFrame:
    """Write ``leaderboard.csv`` and the description's leaderboard section for ``task``."""
    board = reference_scores(task)
    board.to_csv(task.path / "leaderboard.csv", index=False, lineterminator="\n")
    description = task.description_path.read_text(encoding="utf-8")
    if SECTION in description:
        description = description[: description.index(SECTION)].rstrip("\n") + "\n"
    task.description_path.write_text(description + "\n" + describe(task, board), encoding="utf-8")
    return board


def main() -> None:
    for task in bundled_tasks():
        started = time.monotonic()
        board = write_leaderboard(task)
        best, worst = board["score"].iloc[0], board["score"].iloc[-1]
        print(
            f"{task.id}: {len(board)} reference models, {task.metric} from {best} (best) to "
            f"{worst}, median {board['score'].median():.5f} "
            f"({time.monotonic() - started:.1f} s)"
        )


if __name__ == "__main__":
    main()
