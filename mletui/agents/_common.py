"""What mletui's shipped agents share: the task's folders as the runtime names them, the exit
codes, and writes that a watcher never sees half done.

Standard library only, like :mod:`mletui.protocol`: an agent must run in an image that has
nothing of mletui but these files.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from mletui import protocol

ENV_DATA_DIR = "MLETUI_DATA_DIR"
ENV_WORKSPACE = "MLETUI_WORKSPACE"
ENV_SUBMISSION_DIR = "MLETUI_SUBMISSION_DIR"
ENV_LOGS_DIR = "MLETUI_LOGS_DIR"
ENV_TASK_ID = "MLETUI_TASK_ID"
ENV_TASK_METRIC = "MLETUI_TASK_METRIC"
ENV_TASK_ID_COLUMN = "MLETUI_TASK_ID_COLUMN"
ENV_TASK_TARGETS = "MLETUI_TASK_TARGETS"

SOLUTION_FILE = "solution.py"
SUBMISSION_FILE = "submission.csv"

# Exit codes: 0 done (or stopped by a hint), 1 no step succeeded, 2 the agent cannot work.
EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2
EXIT_INTERRUPTED = 130

Setup = TypeVar("Setup")


class SetupError(Exception):
    """The environment or task does not let the agent run; the message is a sentence that says
    why."""


@dataclass(frozen=True)
class TaskFolders:
    data_dir: Path  # the task's public/ folder
    workspace: Path  # the agent's code
    output_dir: Path  # scratch outputs, in the logs folder as AIDE's, so the workspace holds code
    submission_dir: Path


def read_folders(environ: Mapping[str, str]) -> TaskFolders:
    """The task's folders from the environment; ``SetupError`` when there is no usable data."""
    data_value = environ.get(ENV_DATA_DIR)
    if not data_value:
        raise SetupError(f"{ENV_DATA_DIR} is not set; it must name the task's public/ folder.")
    data_dir = Path(data_value).resolve()
    for name in ("train.csv", "test.csv"):
        if not (data_dir / name).is_file():
            raise SetupError(f"{data_dir} has no {name}; {ENV_DATA_DIR} must name public/.")
    workspace = Path(environ.get(ENV_WORKSPACE) or os.getcwd()).resolve()
    return TaskFolders(
        data_dir=data_dir,
        workspace=workspace,
        output_dir=Path(environ.get(ENV_LOGS_DIR) or workspace).resolve(),
        submission_dir=Path(environ.get(ENV_SUBMISSION_DIR) or workspace / "submission").resolve(),
    )


def task_columns(environ: Mapping[str, str], sample_header: list[str]) -> tuple[str, list[str]]:
    """The id column and the target columns: the runtime's, else the sample submission's."""
    id_column = environ.get(ENV_TASK_ID_COLUMN) or (sample_header[0] if sample_header else "id")
    named = [t.strip() for t in environ.get(ENV_TASK_TARGETS, "").split(",") if t.strip()]
    return id_column, named or sample_header[1:]


def csv_header(path: Path) -> list[str]:
    """A CSV file's first row; empty when the file is missing or unreadable."""
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as f:
            return next(csv.reader(f), [])
    except OSError:
        return []


def run_agent(label: str, read: Callable[[], Setup], run: Callable[[Setup], int]) -> int:
    """An agent's ``main``: a setup problem is one sentence on stderr, Ctrl-C keeps the best."""
    try:
        setup = read()
    except SetupError as exc:
        print(f"{label}: {exc}", file=sys.stderr, flush=True)
        return EXIT_UNUSABLE
    try:
        return run(setup)
    except KeyboardInterrupt:
        say("interrupted; the best submission so far is kept")
        return EXIT_INTERRUPTED


def say(message: str) -> None:
    print(message, flush=True)


def write_atomic(path: Path, text: str) -> None:
    # Watchers snapshot the workspace; they must never see half a file.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def copy_atomic(source: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def check_submission(path: Path) -> None:
    """Ask mletui to check ``path`` with the task's submission checks (as MLE-bench's agents ask
    its grading server) and say the answer: valid, or why not; never a score."""
    if os.environ.get(protocol.ENV_CONTROL_DIR):
        say(f"submission check: {protocol.validate_submission(path)}")


def steps_text(count: int) -> str:
    """``"1 step"``, ``"3 steps"``: the agents' own words (they import nothing of mletui's)."""
    return f"{count} step" if count == 1 else f"{count} steps"
