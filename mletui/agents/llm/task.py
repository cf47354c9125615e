"""The task as the LLM agent sees it: its folders, metric and columns from the runtime, its
description, and whether a solution's predictions fit it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mletui.agents._common import (
    ENV_TASK_ID,
    ENV_TASK_METRIC,
    csv_header,
    read_folders,
    task_columns,
)

ENV_TASK_LOWER_IS_BETTER = "MLETUI_TASK_LOWER_IS_BETTER"
ENV_TASK_DESCRIPTION = "MLETUI_TASK_DESCRIPTION"  # description.md; else looked for by the data
ENV_PREDICTIONS = "MLETUI_PREDICTIONS_PATH"  # set for each solution it runs

DESCRIPTION_CHARS = 8000

# Lower is better for these, when the runtime does not say (MLETUI_TASK_LOWER_IS_BETTER).
LOWER_IS_BETTER = frozenset({"rmse", "mse", "mae", "log_loss", "rmsle", "mape"})


@dataclass(frozen=True)
class TaskSetup:
    task_id: str
    metric: str
    lower_is_better: bool
    id_column: str
    targets: tuple[str, ...]
    data_dir: Path
    workspace: Path
    output_dir: Path  # scratch: each solution's predictions
    submission_dir: Path
    description: str

    @property
    def direction(self) -> str:
        return "lower" if self.lower_is_better else "higher"


def read_setup(environ: Mapping[str, str]) -> TaskSetup:
    folders = read_folders(environ)
    data_dir = folders.data_dir
    metric = environ.get(ENV_TASK_METRIC, "").strip() or "score"
    lower_value = environ.get(ENV_TASK_LOWER_IS_BETTER)
    lower = lower_value == "1" if lower_value else metric in LOWER_IS_BETTER
    id_column, targets = task_columns(environ, csv_header(data_dir / "sample_submission.csv"))
    description = ""
    named = environ.get(ENV_TASK_DESCRIPTION)
    candidates = [Path(named)] if named else []
    candidates += [data_dir / "description.md", data_dir.parent / "description.md"]
    for candidate in candidates:
        if candidate.is_file():
            description = candidate.read_text(encoding="utf-8", errors="replace")
            break
    return TaskSetup(
        task_id=environ.get(ENV_TASK_ID) or data_dir.parent.name,
        metric=metric,
        lower_is_better=lower,
        id_column=id_column,
        targets=tuple(targets),
        data_dir=data_dir,
        workspace=folders.workspace,
        output_dir=folders.output_dir,
        submission_dir=folders.submission_dir,
        description=description[:DESCRIPTION_CHARS],
    )


def csv_rows(path: Path) -> int:
    """The data rows of a CSV file: its non-empty lines after the header."""
    with path.open("rb") as f:
        return max(0, sum(1 for line in f if line.strip()) - 1)


def check_predictions(path: Path, setup: TaskSetup) -> str | None:
    """What is wrong with a solution's predictions file, or None when it looks right."""
    if not path.is_file():
        return f"it wrote no predictions to {ENV_PREDICTIONS}"
    header = csv_header(path)
    expected = csv_header(setup.data_dir / "sample_submission.csv")
    if expected and sorted(header) != sorted(expected):
        return f"its predictions have the columns {header}, not {expected}"
    rows, wanted = csv_rows(path), csv_rows(setup.data_dir / "test.csv")
    if rows != wanted:
        return f"its predictions have {rows} rows; test.csv has {wanted}"
    return None
