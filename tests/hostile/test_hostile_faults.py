"""Faults under a hostile agent: the Docker daemon restarted under a run that ignores polite
stops. The run is still recorded across the restart, and kill still ends it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mletui.grading.tasks import resolve_task
from mletui.journal import read_journal
from mletui.launcher import start_run
from tests.conftest import wait_ended, wait_for
from tests.docker_fixtures import SecondEngine

pytestmark = pytest.mark.usefixtures("docker_cleanup")

# Ignores SIGTERM, and keeps a child in a session of its own.
STUBBORN = (
    "trap '' TERM; "
    "setsid sh -c 'trap \"\" TERM; while :; do sleep 1; done' & "
    'i=0; while :; do i=$((i+1)); echo "tick $i"; '
    'echo "{\\"step\\": $i, \\"name\\": \\"loss\\", \\"value\\": 1}" '
    '>> "$MLETUI_CONTROL_DIR/metrics.jsonl"; '
    "sleep 0.2; done"
)


def test_kill_ends_a_stubborn_container_after_a_daemon_restart(
    second_engine: SecondEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in second_engine.env.items():  # its TLS certificates
        monkeypatch.setenv(name, value)
    folder = start_run(
        resolve_task("digits"),
        agent_cmd=STUBBORN,
        runtime="docker",
        runtime_options={"image": "mletui-test-base", "docker_host": second_engine.url},
    )

    def metric_steps() -> list[int]:
        entries = read_journal(folder.journal_path).entries
        return [int(e["step"]) for e in entries if e.get("kind") == "score" and "step" in e]

    wait_for(lambda: len(metric_steps()) >= 3, 60, "metrics before the restart")
    second_engine.restart()
    before = max(metric_steps())
    wait_for(lambda: max(metric_steps()) > before + 3, 60, "metrics after the restart")

    done = subprocess.run(
        [sys.executable, "-m", "mletui", "kill", folder.id, "--yes", "--grace", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    wait_ended(folder, 60)
    record = folder.read()
    assert record.end_reason == "operator", record
    client = second_engine.client
    assert client is not None and record.container_id
    container = client.containers.get(record.container_id)
    assert container.status in ("exited", "dead"), container.status
    kills = [e for e in read_journal(folder.journal_path).entries if e.get("action") == "kill"]
    assert len(kills) == 1
