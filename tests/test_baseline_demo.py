"""The baseline agent as the demo runs it: it checks in every second inside a step (a soft pause
stops its running solution within seconds), and keeps improving until the time limit ends it."""

from __future__ import annotations

import time
from pathlib import Path

import psutil

from mletui.agents import baseline
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from tests.conftest import wait_ended
from tests.test_baseline import TIMEOUT, AgentRun, wait_for

CHECK_IN_WITHIN_S = 5.0  # the agent checks in every second; the rest is room for a loaded machine


def solution_process(agent: psutil.Process) -> psutil.Process | None:
    for child in agent.children():
        try:
            if baseline.SOLUTION_FILE in " ".join(child.cmdline()):
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def test_a_soft_pause_during_a_long_step_acts_within_seconds(tmp_path: Path) -> None:
    run = AgentRun.make("digits", tmp_path)
    for number in range(3):  # the first step becomes a forest of the most trees there are
        run.hint(f"h{number}", "more trees")
    agent = run.start(**{baseline.ENV_MAX_STEPS: "1"})
    try:
        process = psutil.Process(agent.pid)
        wait_for(lambda: solution_process(process) is not None)
        solution = solution_process(process)
        assert solution is not None
        (run.control / "pause").touch()
        asked = time.monotonic()
        wait_for(lambda: "paused" in run.acks("pause"), timeout=CHECK_IN_WITHIN_S)
        assert time.monotonic() - asked < CHECK_IN_WITHIN_S
        assert solution.is_running(), "the step ended before the pause: make it longer"
        assert solution.status() == psutil.STATUS_STOPPED  # its solution holds too
        assert run.metrics() == []  # in the middle of its step
        (run.control / "pause").unlink()
        wait_for(lambda: "resumed" in run.acks("pause"))
        output, _ = agent.communicate(timeout=TIMEOUT)
    finally:
        agent.kill()
    assert agent.returncode == 0, output
    assert "step 1: random forest (2000 trees)" in output
    assert len(run.metrics()) == 1


def test_keep_improving_goes_past_the_plan_with_new_seeds(tmp_path: Path) -> None:
    run = AgentRun.make("breast-cancer", tmp_path)
    steps = len(baseline.PLAN) + 1
    result = run.run(**{baseline.ENV_MAX_STEPS: str(steps), baseline.ENV_KEEP_IMPROVING: "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert [m["step"] for m in run.metrics()] == list(range(1, steps + 1))
    assert "the plan is done; round 1 of bigger models and new seeds" in result.stdout
    assert f"step {steps}: random forest (600 trees), seed 1" in result.stdout
    assert "SEED = 1" in (run.workspace / "solution.py").read_text()
    assert f"of {steps} steps succeeded" in result.stdout


def test_the_demo_agent_ends_at_its_time_limit() -> None:
    folder = start_run(
        resolve_task("digits"),
        agent="baseline",
        time_limit_s=20,
        extra_env={baseline.ENV_KEEP_IMPROVING: "1", baseline.ENV_STEP_DELAY: "1"},
    )
    wait_ended(folder, 120)
    record = folder.read()
    assert record.state == "killed" and record.end_reason == "time limit"
