"""Tasks: MLE-bench-shaped folders, and the ones bundled with mletui.

A task folder holds::

    task.toml          id, name, metric, id_column, target_columns, optional lower_is_better
    description.md     what the agent reads first
    public/            train.csv, test.csv, sample_submission.csv (what the agent sees)
    private/           answers.csv (what the grade is computed against)
    leaderboard.csv    optional; a ``score`` column, as MLE-bench's

Wherever a command takes a task, it takes a bundled task's id or the path of such a folder.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mletui.grading.metrics import METRICS

BUNDLED_DIR = Path(__file__).parent / "bundled"
TASK_FILE = "task.toml"


class TaskError(Exception):
    """A task that cannot be found or read; the message says what to do."""


@dataclass(frozen=True)
class Task:
    id: str
    name: str
    metric: str
    id_column: str
    target_columns: tuple[str, ...]
    lower_is_better: bool
    path: Path

    @property
    def public_dir(self) -> Path:
        return self.path / "public"

    @property
    def private_dir(self) -> Path:
        return self.path / "private"

    @property
    def description_path(self) -> Path:
        return self.path / "description.md"

    @property
    def answers_path(self) -> Path:
        return self.private_dir / "answers.csv"

    @property
    def leaderboard_path(self) -> Path | None:
        """The leaderboard file, or None when the task has none."""
        path = self.path / "leaderboard.csv"
        return path if path.is_file() else None

    @property
    def direction(self) -> str:
        """``"lower"`` or ``"higher"`` (is better), as the control protocol spells it."""
        return "lower" if self.lower_is_better else "higher"


def load_task(path: str | Path) -> Task:
    """Read the task folder at ``path``; ``TaskError`` if it is not one."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise TaskError(f"No task folder at {folder}.")
    toml_path = folder / TASK_FILE
    try:
        with toml_path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise TaskError(f"{folder} is not a task folder: it has no {TASK_FILE}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise TaskError(f"{toml_path} is not valid TOML ({exc}).") from None

    def text(key: str, default: str | None = None) -> str:
        value: Any = data.get(key, default)
        if value is None:
            raise TaskError(f"{toml_path} lacks the key {key!r}.")
        if not isinstance(value, str) or not value.strip():
            raise TaskError(f"{toml_path}: {key!r} must be a non-empty string.")
        return value

    task_id = text("id")
    metric = text("metric")
    if metric not in METRICS:
        known = ", ".join(sorted(METRICS))
        raise TaskError(f"{toml_path} names an unknown metric {metric!r}; known metrics: {known}.")
    targets: Any = data.get("target_columns")
    if isinstance(targets, str):
        targets = [targets]
    if targets is None:
        raise TaskError(f"{toml_path} lacks the key 'target_columns'.")
    if (
        not isinstance(targets, list)
        or not targets
        or not all(isinstance(t, str) and t for t in targets)
    ):
        raise TaskError(f"{toml_path}: 'target_columns' must be a list of column names.")
    lower: Any = data.get("lower_is_better", METRICS[metric].lower_is_better)
    if not isinstance(lower, bool):
        raise TaskError(f"{toml_path}: 'lower_is_better' must be true or false.")
    return Task(
        id=task_id,
        name=text("name", task_id),
        metric=metric,
        id_column=text("id_column"),
        target_columns=tuple(targets),
        lower_is_better=lower,
        path=folder.resolve(),
    )


def bundled_tasks() -> list[Task]:
    """The tasks shipped with mletui, sorted by id."""
    if not BUNDLED_DIR.is_dir():
        return []
    folders = sorted(p for p in BUNDLED_DIR.iterdir() if (p / TASK_FILE).is_file())
    return sorted((load_task(p) for p in folders), key=lambda t: t.id)


def resolve_task(name_or_path: str) -> Task:
    """A bundled task by id, or the task folder at a path.

    A bare name that is a bundled task's id wins over a folder of the same name in the current
    directory; write ``./name`` to mean the folder.
    """
    tasks = bundled_tasks()
    if "/" not in name_or_path and "\\" not in name_or_path:
        for task in tasks:
            if task.id == name_or_path:
                return task
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return load_task(path)
    if path.exists():
        raise TaskError(f"{path} is a file; give a task's id or the path of a task folder.")
    ids = ", ".join(t.id for t in tasks) or "none"
    raise TaskError(
        f"No task named {name_or_path!r}. Bundled tasks: {ids}; or give the path of a task folder."
    )
