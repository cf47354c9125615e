"""Exports: the documented columns, round-tripping through pandas, for real runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mletui.cli import main
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.watch.control import RunControl
from mletui.watch.export import (
    ACTION_COLUMNS,
    RESOURCE_COLUMNS,
    RUN_COLUMNS,
    SCORE_COLUMNS,
    STEP_COLUMNS,
)
from tests.conftest import wait_ended, wait_for

COLUMNS = {
    "runs": RUN_COLUMNS,
    "scores": SCORE_COLUMNS,
    "actions": ACTION_COLUMNS,
    "resources": RESOURCE_COLUMNS,
    "steps": STEP_COLUMNS,
}


def test_exports_have_the_documented_columns_and_round_trip(tmp_path: Path) -> None:
    assisted = start_run(
        resolve_task("diabetes"),
        agent="baseline",
        extra_env={"MLETUI_BASELINE_MAX_STEPS": "2", "MLETUI_BASELINE_STEP_DELAY": "2.5"},
    )
    clean = start_run(
        resolve_task("breast-cancer"),
        agent="baseline",
        extra_env={"MLETUI_BASELINE_MAX_STEPS": "1"},
    )
    wait_for(lambda: (assisted.control / "hello.json").exists(), 30, "hello")
    RunControl(assisted, "tester").hint("more trees")
    wait_ended(assisted, 120)
    wait_ended(clean, 120)

    for fmt in ("parquet", "csv", "json"):
        out = tmp_path / fmt
        assert main(["export", "--all", "--format", fmt, "--out", str(out)]) == 0
        for name, columns in COLUMNS.items():
            path = out / f"{name}.{fmt}"
            if fmt == "parquet":
                frame = pd.read_parquet(path)
            elif fmt == "csv":
                frame = pd.read_csv(path)
            else:
                frame = pd.read_json(path, orient="records")
            if len(frame):
                assert list(frame.columns) == columns, (fmt, name)
        runs = pd.read_parquet(tmp_path / "parquet" / "runs.parquet").set_index("run_id")
        assert runs.loc[assisted.id, "assisted"] and not runs.loc[clean.id, "assisted"]
        assert runs.loc[assisted.id, "interventions"] == 1
        assert runs.loc[assisted.id, "state"] == "exited"
        scores = pd.read_parquet(tmp_path / "parquet" / "scores.parquet")
        validation = scores[(scores.run_id == assisted.id) & (scores.kind == "validation")]
        assert list(validation.step) == [1, 2]
        assert set(validation.direction) == {"lower"}
        actions = pd.read_parquet(tmp_path / "parquet" / "actions.parquet")
        assert list(actions[actions.run_id == assisted.id].action) == ["hint"]
        steps = pd.read_parquet(tmp_path / "parquet" / "steps.parquet")
        mine = steps[steps.run_id == assisted.id].sort_values("step")
        assert list(mine.step) == [1, 2] and set(mine.status) == {"ok"}  # newest report wins
        assert list(mine.parent.fillna(0)) == [0, 1]
        assert list(mine.score_value) == list(validation.value)
        assert mine.snapshot_seq.notna().all() and mine.hint_used.any()


def test_export_needs_runs_or_all(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["export", "--out", str(tmp_path)]) == 1
    assert "--all" in capsys.readouterr().err
