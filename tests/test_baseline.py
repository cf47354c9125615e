"""The baseline agent, run for real: a subprocess per test, real data, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from mletui.agents import baseline
from mletui.grading.metrics import METRICS
from mletui.grading.submission import score_submission
from mletui.grading.tasks import Task, bundled_tasks, resolve_task
from mletui.protocol import read_jsonl

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 120


@dataclass
class AgentRun:
    """The folders of one baseline run, as the runtime would lay them out."""

    task: Task
    control: Path
    workspace: Path
    submission: Path

    @classmethod
    def make(cls, task_id: str, root: Path) -> AgentRun:
        run = cls(resolve_task(task_id), root / "control", root / "workspace", root / "submission")
        for folder in (run.control, run.workspace, run.submission):
            folder.mkdir()
        return run

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        env.update(
            {
                baseline.ENV_CONTROL_DIR: str(self.control),
                baseline.ENV_DATA_DIR: str(self.task.public_dir),
                baseline.ENV_WORKSPACE: str(self.workspace),
                baseline.ENV_SUBMISSION_DIR: str(self.submission),
                baseline.ENV_TASK_METRIC: self.task.metric,
                baseline.ENV_TASK_ID_COLUMN: self.task.id_column,
                baseline.ENV_TASK_TARGETS: ",".join(self.task.target_columns),
                baseline.ENV_TASK_ID: self.task.id,
            }
        )
        env.update(extra)
        return env

    def command(self) -> list[str]:
        return [sys.executable, "-m", "mletui.agents.baseline"]

    def run(self, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(),
            cwd=self.workspace,
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )

    def start(self, **extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(),
            cwd=self.workspace,
            env=self.env(**extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def hint(self, hint_id: str, text: str) -> None:
        record = {"id": hint_id, "text": text, "ts": time.time()}
        with (self.control / "hints.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def metrics(self) -> list[dict[str, object]]:
        return read_jsonl(self.control / "metrics.jsonl")

    def acks(self, ack_id: str) -> dict[str, dict[str, object]]:
        """The acks for one id, by status."""
        return {
            a["status"]: a for a in read_jsonl(self.control / "acks.jsonl") if a["id"] == ack_id
        }


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("task_id", [t.id for t in bundled_tasks()])
def test_baseline_solves_each_bundled_task(task_id: str, tmp_path: Path) -> None:
    run = AgentRun.make(task_id, tmp_path)
    result = run.run(**{baseline.ENV_MAX_STEPS: "2"})
    assert result.returncode == 0, result.stdout + result.stderr

    hello = json.loads((run.control / "hello.json").read_text())
    assert hello["agent"] == "baseline"
    assert set(hello["capabilities"]) == {"soft-pause", "hints", "metrics"}

    metrics = run.metrics()
    direction = "lower" if run.task.lower_is_better else "higher"
    assert [m["step"] for m in metrics] == [1, 2]
    assert all(m["name"] == run.task.metric and m["direction"] == direction for m in metrics)

    assert "step 1: " in result.stdout and "step 2: " in result.stdout
    assert "fold 5/5" in result.stdout  # the solution's own training output streams through
    assert (run.workspace / "solution.py").read_text().startswith('"""Step 2: ')
    submission = run.submission / "submission.csv"
    grade = score_submission(run.task, submission)
    values = [float(str(m["value"])) for m in metrics]
    best = min(values) if run.task.lower_is_better else max(values)
    assert grade == pytest.approx(best, rel=0.25)  # a validation score predicts the grade


def test_hints_are_followed_or_declined_with_a_reason(tmp_path: Path) -> None:
    run = AgentRun.make("breast-cancer", tmp_path)
    run.hint("h1", "use gradient boosting")
    run.hint("h2", "try a transformer")
    result = run.run(**{baseline.ENV_MAX_STEPS: "1"})
    assert result.returncode == 0, result.stdout + result.stderr

    h1 = run.acks("h1")
    assert set(h1) == {"received", "used"}
    assert "gradient boosting" in str(h1["used"]["message"])
    h2 = run.acks("h2")
    assert set(h2) == {"received", "ignored"}
    assert str(h2["ignored"]["message"]).startswith(
        "I don't know what to do with 'try a transformer'"
    )
    assert "I understand: linear, forest, boosting" in str(h2["ignored"]["message"])

    assert "step 1: gradient boosting" in result.stdout
    assert "iterations: validation roc_auc" in result.stdout
    assert "HistGradientBoostingClassifier" in (run.workspace / "solution.py").read_text()
    assert len(run.metrics()) == 1
    assert "done: 1 of 1 step succeeded" in result.stdout  # "1 step", not "1 steps"


def test_stop_hint_ends_the_run_and_keeps_the_best_submission(tmp_path: Path) -> None:
    run = AgentRun.make("diabetes", tmp_path)
    agent = run.start(**{baseline.ENV_STEP_DELAY: "3"})
    try:
        wait_for(lambda: len(run.metrics()) == 1)
        run.hint("h1", "stop")
        output, _ = agent.communicate(timeout=TIMEOUT)
    finally:
        agent.kill()
    assert agent.returncode == 0, output
    assert len(run.metrics()) == 1
    used = run.acks("h1")["used"]
    assert str(used["message"]).startswith("stopping; keeping the best submission (step 1")
    assert "stopped by a hint" in output
    assert score_submission(run.task, run.submission / "submission.csv") > 0


def test_soft_pause_holds_the_agent_at_its_checkpoint(tmp_path: Path) -> None:
    run = AgentRun.make("diabetes", tmp_path)
    (run.control / "pause").touch()
    agent = run.start(**{baseline.ENV_MAX_STEPS: "1"})
    try:
        wait_for(lambda: "paused" in run.acks("pause"))
        time.sleep(0.5)
        assert not (run.workspace / "solution.py").exists()
        (run.control / "pause").unlink()
        output, _ = agent.communicate(timeout=TIMEOUT)
    finally:
        agent.kill()
    assert agent.returncode == 0, output
    assert "resumed" in run.acks("pause")
    assert len(run.metrics()) == 1


def test_unusable_environment_gets_a_sentence(tmp_path: Path) -> None:
    run = AgentRun.make("digits", tmp_path)
    result = run.run(**{baseline.ENV_TASK_METRIC: "f2"})
    assert result.returncode == 2
    assert "does not know the metric 'f2'" in result.stderr
    assert not (run.control / "hello.json").exists()


def test_metric_recipes_agree_with_grading() -> None:
    assert set(baseline.METRIC_RECIPES) == set(METRICS)
    for name, recipe in baseline.METRIC_RECIPES.items():
        assert recipe.higher_is_better is not METRICS[name].lower_is_better, name
        assert (recipe.kind == "probability") is METRICS[name].needs_probabilities, name


def test_reading_hints() -> None:
    read = baseline.read_hint
    assert read("Use gradient boosting").family == "boosting"
    assert read("try LightGBM").family == "boosting"
    assert read("random forest with more trees") == baseline.HintIntent(
        family="forest", more_trees=True
    )
    assert read("ridge please").family == "linear"
    assert read("scale features").scale and read("standardize").scale
    assert read("stop").stop
    assert not read("nonlinear features").understood
    assert not read("don't use boosting").understood


def test_agent_imports_only_the_standard_library_and_the_protocol() -> None:
    code = (
        "import sys, mletui.agents.baseline\n"
        "heavy = {'sklearn', 'pandas', 'numpy', 'textual'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env=env)
