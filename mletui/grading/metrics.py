"""Named metrics, and scoring a submission against a task's held-out answers.

A metric is a function of ``(y_true, y_pred)`` arrays: 1-D for a task with one target column,
2-D (rows x target columns) for several. Probability metrics with several target columns take
one-hot answers and one probability column per class, as Kaggle's multi-class submissions do.

scikit-learn and pandas are imported inside the functions that need them, so that loading a
task (which checks its metric's name here) stays cheap for the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]
MetricFn = Callable[[Array, Array], float]


@dataclass(frozen=True)
class Metric:
    """A named way to score predictions.

    ``needs_probabilities``: a submission holds probabilities, not labels. ``needs_numbers``: its
    predictions must be numeric (probabilities, or values of a regression target).
    """

    name: str
    lower_is_better: bool
    needs_probabilities: bool
    fn: MetricFn
    needs_numbers: bool = False

    @property
    def direction(self) -> str:
        """``"lower"`` or ``"higher"`` (is better), as the control protocol spells it."""
        return "lower" if self.lower_is_better else "higher"

    def __call__(self, y_true: Array, y_pred: Array) -> float:
        return self.fn(y_true, y_pred)


def _accuracy(y_true: Array, y_pred: Array) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y_true, y_pred))


def _macro_f1(y_true: Array, y_pred: Array) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro"))


def _quadratic_weighted_kappa(y_true: Array, y_pred: Array) -> float:
    from sklearn.metrics import cohen_kappa_score

    if np.ndim(y_true) != 1:
        raise ValueError("quadratic_weighted_kappa scores one target column, not several.")
    return float(cohen_kappa_score(y_true, y_pred, weights="quadratic"))


def _roc_auc(y_true: Array, y_pred: Array) -> float:
    from sklearn.metrics import roc_auc_score

    # 1-D: binary labels and the positive class's probability. 2-D: one-hot answers and one
    # probability column per class, averaged one-vs-rest (macro), as sklearn's multilabel mode.
    return float(roc_auc_score(y_true, y_pred, average="macro"))


def _log_loss(y_true: Array, y_pred: Array) -> float:
    from sklearn.metrics import log_loss

    if np.ndim(y_pred) == 2:
        # Kaggle's convention: each row's probabilities are rescaled to sum to one.
        y_pred = y_pred / np.sum(y_pred, axis=1, keepdims=True)
    return float(log_loss(y_true, y_pred))


def _rmse(y_true: Array, y_pred: Array) -> float:
    from sklearn.metrics import root_mean_squared_error

    return float(root_mean_squared_error(y_true, y_pred))


def _mse(y_true: Array, y_pred: Array) -> float:
    from sklearn.metrics import mean_squared_error

    return float(mean_squared_error(y_true, y_pred))


def _mae(y_true: Array, y_pred: Array) -> float:
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(y_true, y_pred))


def _r2(y_true: Array, y_pred: Array) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(y_true, y_pred))


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", lower_is_better=False, needs_probabilities=False, fn=_accuracy),
        Metric("macro_f1", lower_is_better=False, needs_probabilities=False, fn=_macro_f1),
        Metric(
            "quadratic_weighted_kappa",
            lower_is_better=False,
            needs_probabilities=False,
            fn=_quadratic_weighted_kappa,
        ),
        Metric(
            "roc_auc",
            lower_is_better=False,
            needs_probabilities=True,
            fn=_roc_auc,
            needs_numbers=True,
        ),
        Metric(
            "log_loss",
            lower_is_better=True,
            needs_probabilities=True,
            fn=_log_loss,
            needs_numbers=True,
        ),
        Metric(
            "rmse", lower_is_better=True, needs_probabilities=False, fn=_rmse, needs_numbers=True
        ),
        Metric("mse", lower_is_better=True, needs_probabilities=False, fn=_mse, needs_numbers=True),
        Metric("mae", lower_is_better=True, needs_probabilities=False, fn=_mae, needs_numbers=True),
        Metric("r2", lower_is_better=False, needs_probabilities=False, fn=_r2, needs_numbers=True),
    )
}


def get_metric(name: str) -> Metric:
    """The metric called ``name``; ``KeyError`` with the known names if there is none."""
    try:
        return METRICS[name]
    except KeyError:
        known = ", ".join(sorted(METRICS))
        raise KeyError(f"Unknown metric {name!r}; known metrics: {known}.") from None
