"""Submission checks: is a submission CSV gradable for a task, and if not, why (one sentence).

The checks follow the order in which a person would fix a file: it must exist and hold something,
be CSV text, have the sample submission's columns, one row per test id, and values the metric
can use. :func:`check_submission` returns the answers and predictions lined up by id, ready for
the metric; every failure is a :class:`SubmissionError` whose message is one specific sentence.

pandas is imported inside the functions, so that importing this module stays cheap.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from mletui.core.words import counted, noun_for
from mletui.grading.metrics import Metric, get_metric

if TYPE_CHECKING:
    import pandas as pd

    from mletui.grading.tasks import Task

Array = NDArray[Any]

SUBMISSION_SUFFIX = ".csv"
_HEAD_BYTES = 64 * 1024
# Spellings pandas would read as missing; a value spelled so counts as empty.
_MISSING = frozenset({"", "nan", "NaN", "NAN", "NA", "N/A", "n/a", "null", "NULL", "None", "-"})


class SubmissionError(ValueError):
    """A submission that cannot be graded; the message is one sentence that says why."""


@dataclass(frozen=True)
class CheckedSubmission:
    """A gradable submission, lined up with the answers by id.

    ``y_true`` and ``y_pred`` are 1-D for a task with one target column, 2-D (rows x targets)
    for several; labels are numbers where both sides are numeric, text otherwise.
    """

    y_true: Array
    y_pred: Array
    rows: int


def check_submission(task: Task, path: str | Path, data: bytes | None = None) -> CheckedSubmission:
    """Check ``path`` against ``task``'s sample submission and answers.

    ``data``: the file's bytes, already read (through a safe open) by the caller; ``path`` then
    only names it, and is never opened. Raises :class:`SubmissionError` (a ``ValueError``) with
    one sentence for the first problem found; returns the lined-up arrays when the file is
    gradable.
    """
    import pandas as pd

    path = Path(path)
    name = path.name
    metric = get_metric(task.metric)
    if data is None:
        _check_file(path)
        text = _read_text(path)
    else:
        _check_name(path, len(data))
        text = _decode(data, name)
    header = _header(text, name)
    expected = expected_columns(task)
    _check_columns(header, expected, name)
    id_col = task.id_column
    targets = list(task.target_columns)

    try:
        frame = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        raise SubmissionError(
            f"The submission {name} is not a valid CSV file ({_first_line(exc)})."
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    answers = _read_answers(task)
    frame[id_col] = frame[id_col].str.strip()
    answer_ids = answers[id_col]
    _check_ids(frame[id_col], answer_ids, name)

    frame = frame.set_index(id_col).loc[list(answer_ids)]
    truth = answers.set_index(id_col).loc[list(answer_ids), targets]
    predicted = frame[targets]
    columns_true: list[Array] = []
    columns_pred: list[Array] = []
    for column in targets:
        t, p = _column_values(truth[column], predicted[column], column, name, metric)
        columns_true.append(t)
        columns_pred.append(p)
    if len(targets) == 1:
        return CheckedSubmission(columns_true[0], columns_pred[0], len(answer_ids))
    return CheckedSubmission(
        np.column_stack(columns_true), np.column_stack(columns_pred), len(answer_ids)
    )


# --- the file ------------------------------------------------------------------------------------


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise SubmissionError(f"The submission path {path} is a folder, not a CSV file.")
    if not path.is_file():
        raise SubmissionError(f"No submission file at {path}.")
    _check_name(path, path.stat().st_size)


def _check_name(path: Path, size: int) -> None:
    if size == 0:
        raise SubmissionError(f"The submission {path.name} is empty (0 bytes).")
    if path.suffix.lower() != SUBMISSION_SUFFIX:
        # MLE-bench counts only a file ending in .csv as a submission.
        raise SubmissionError(
            f"The submission {path.name} is not a CSV file: its name must end in .csv."
        )


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SubmissionError(
            f"The submission {path.name} cannot be read ({exc.strerror})."
        ) from None
    return _decode(raw, path.name)


def _decode(raw: bytes, name: str) -> str:
    if b"\0" in raw[:_HEAD_BYTES]:
        raise SubmissionError(f"The submission {name} is not a CSV file: it holds binary data.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(
            f"The submission {name} is not a CSV file: it is not UTF-8 text "
            f"(byte 0x{raw[exc.start]:02x} at offset {exc.start})."
        ) from None
    if not text.strip():
        raise SubmissionError(f"The submission {name} is empty (only blank space).")
    return text


def _header(text: str, name: str) -> list[str]:
    first = text.lstrip("\r\n").splitlines()[0]
    stripped = first.strip()
    if stripped.startswith(("{", "[")):
        raise SubmissionError(f"The submission {name} is not a CSV file: it looks like JSON.")
    if stripped.startswith("<"):
        raise SubmissionError(f"The submission {name} is not a CSV file: it looks like HTML/XML.")
    try:
        header = next(csv.reader([first], skipinitialspace=True))
    except csv.Error as exc:
        raise SubmissionError(
            f"The submission {name} is not a valid CSV file ({_first_line(exc)})."
        ) from None
    header = [h.strip() for h in header]
    if len(header) == 1:
        for separator, label in (("\t", "tabs"), (";", "semicolons"), ("|", "'|'")):
            if separator in first:
                raise SubmissionError(
                    f"The submission {name} is not a CSV file: its columns are separated by "
                    f"{label}, not commas."
                )
    return header


def expected_columns(task: Task) -> list[str]:
    """The columns a submission must have: the sample submission's, else id and targets."""
    sample = task.public_dir / "sample_submission.csv"
    try:
        with sample.open(newline="", encoding="utf-8-sig") as f:
            header = [h.strip() for h in next(csv.reader(f), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        header = []
    wanted = [task.id_column, *task.target_columns]
    if header and set(wanted) <= set(header):
        return header
    return wanted


def _check_columns(header: list[str], expected: list[str], name: str) -> None:
    wanted = ", ".join(expected)
    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise SubmissionError(
                f"Submission {name} names the column {column!r} twice; expected columns: {wanted}."
            )
        seen.add(column)
    missing = [c for c in expected if c not in seen]
    if missing:
        looks_like_data = bool(header) and all(_is_number(h) for h in header)
        hint = "; its first line must be the header" if looks_like_data else ""
        raise SubmissionError(
            f"Submission {name} lacks {noun_for(len(missing), 'column')} "
            f"{', '.join(map(repr, missing))}; "
            f"expected columns: {wanted}{hint}."
        )
    extra = [c for c in header if c not in expected]
    if extra:
        raise SubmissionError(
            f"Submission {name} has unexpected {noun_for(len(extra), 'column')} "
            f"{', '.join(map(repr, extra))}; "
            f"expected columns: {wanted}."
        )


# --- rows and ids --------------------------------------------------------------------------------


def _read_answers(task: Task) -> pd.DataFrame:
    import pandas as pd

    path = task.answers_path
    try:
        answers = pd.read_csv(path, dtype={task.id_column: str})
    except FileNotFoundError:
        raise SubmissionError(
            f"Task {task.id} has no private answers at {path}, so it cannot grade."
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SubmissionError(
            f"Task {task.id}'s answers file {path} is not a readable CSV ({_first_line(exc)})."
        ) from None
    missing = [c for c in [task.id_column, *task.target_columns] if c not in answers.columns]
    if missing:
        raise SubmissionError(
            f"Task {task.id}'s answers file lacks {noun_for(len(missing), 'column')} "
            f"{', '.join(map(repr, missing))}."
        )
    answers[task.id_column] = answers[task.id_column].str.strip()
    return answers


def _check_ids(given: pd.Series, expected: pd.Series, name: str) -> None:
    expected_set = set(expected)
    given_set = set(given)
    duplicated = given[given.duplicated()]
    missing = [i for i in expected if i not in given_set]
    extra = [i for i in dict.fromkeys(given) if i not in expected_set]
    n, m = len(given), len(expected)
    if n != m:
        if len(duplicated):
            repeated = counted(duplicated.nunique(), "id")
            detail = f"it repeats {repeated}, e.g. {duplicated.iloc[0]!r}"
        elif missing:
            detail = f"it lacks predictions for {len(missing)} of {m} ids, e.g. {missing[0]!r}"
        else:
            detail = (
                f"it has {counted(len(extra), 'id')} that {noun_for(len(extra), 'is', 'are')} "
                f"not in the test set, e.g. {extra[0]!r}" + _id_format_hint(extra, expected)
            )
        raise SubmissionError(
            f"Submission {name} has {n} rows, but the test set has {m} ids, one row each; {detail}."
        )
    if len(duplicated):
        raise SubmissionError(
            f"Submission {name} repeats {counted(duplicated.nunique(), 'id')}, e.g. "
            f"{duplicated.iloc[0]!r}, so {counted(len(missing), 'test id')} "
            f"{noun_for(len(missing), 'has', 'have')} no row, e.g. "
            f"{missing[0]!r}."
        )
    if missing:
        raise SubmissionError(
            f"Submission {name} has {counted(len(extra), 'id')} that "
            f"{noun_for(len(extra), 'is', 'are')} not in the test set, e.g. "
            f"{extra[0]!r}, and lacks predictions for {len(missing)} of {m} ids, e.g. "
            f"{missing[0]!r}{_id_format_hint(extra, expected)}."
        )


def _id_format_hint(extra: list[str], expected: pd.Series) -> str:
    """Say so when the ids differ only in how they are written (``7.0`` for ``7``)."""
    sample = extra[:50]
    as_numbers = [_as_integer(i) for i in sample]
    if sample and all(n is not None for n in as_numbers):
        expected_set = set(expected)
        if all(str(n) in expected_set for n in as_numbers):
            return f" (ids are compared as text: {sample[0]!r} is not {str(as_numbers[0])!r})"
    return ""


def _as_integer(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if math.isfinite(value) and value == int(value) else None


# --- values --------------------------------------------------------------------------------------


def _column_values(
    truth: pd.Series, predicted: pd.Series, column: str, name: str, metric: Metric
) -> tuple[Array, Array]:
    """One target column as arrays for the metric; numbers when both sides are numbers."""
    import pandas as pd

    values = predicted.str.strip()
    empty = values.isin(_MISSING)
    if empty.any():
        first = values.index[empty][0]
        raise SubmissionError(
            f"Submission {name} has {counted(int(empty.sum()), 'empty value')} "
            f"in column {column!r}, "
            f"e.g. for id {first!r}."
        )
    numbers = pd.to_numeric(values, errors="coerce")
    not_numeric = numbers.isna()
    if metric.needs_numbers:
        if not_numeric.any():
            first = values.index[not_numeric][0]
            raise SubmissionError(
                f"Submission {name} has non-numeric values in column {column!r}, e.g. "
                f"{values[first]!r} for id {first!r}; {metric.name} needs numbers."
            )
        infinite = ~np.isfinite(numbers.to_numpy(dtype=float))
        if infinite.any():
            first = values.index[infinite][0]
            raise SubmissionError(
                f"Submission {name} has infinite values in column {column!r}, e.g. for id "
                f"{first!r}; {metric.name} needs finite numbers."
            )
    if metric.needs_probabilities:
        outside = (numbers < 0) | (numbers > 1)
        if outside.any():
            first = values.index[outside][0]
            raise SubmissionError(
                f"Submission {name} has values outside [0, 1] in column {column!r}, e.g. "
                f"{values[first]} for id {first!r}; {metric.name} needs probabilities."
            )
    truth_numbers = pd.to_numeric(truth, errors="coerce")
    if not not_numeric.any() and not truth_numbers.isna().any():
        return truth_numbers.to_numpy(dtype=float), numbers.to_numpy(dtype=float)
    return truth.astype(str).str.strip().to_numpy(), values.to_numpy()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__


def score_submission(
    task: Task, submission_csv_path: str | Path, data: bytes | None = None
) -> float:
    """Grade a submission CSV against ``task``'s private answers with the task's metric.

    Rows are matched on the task's id column (compared as text, so ``7`` and ``"7"`` agree).
    Raises :class:`~mletui.grading.submission.SubmissionError` (a ``ValueError``) with one
    sentence when the submission cannot be graded: see :func:`check_submission` for the checks
    (and for ``data``, the file's bytes when the caller has read them).
    The score is not rounded; :func:`mletui.grading.report.grade_submission` rounds as MLE-bench.
    """
    metric = get_metric(task.metric)
    checked = check_submission(task, submission_csv_path, data)
    name = Path(submission_csv_path).name
    try:
        value = metric(checked.y_true, checked.y_pred)
    except (ValueError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SubmissionError(
            f"The {metric.name} of submission {name} cannot be computed ({reason.rstrip('.')})."
        ) from None
    if math.isnan(value):
        raise SubmissionError(f"The {metric.name} of submission {name} is undefined (NaN).")
    return value
