"""A real baseline run on each bundled task, to its end, through the local runtime."""

from __future__ import annotations

import pytest

from mletui.core.events import Snapshot
from mletui.grading.submission import score_submission
from mletui.grading.tasks import bundled_tasks, resolve_task
from mletui.run.launcher import start_run
from mletui.store.journal import read_journal
from mletui.watch.live import WatchSession
from tests.conftest import wait_ended


@pytest.mark.parametrize("task_id", [t.id for t in bundled_tasks()])
def test_a_baseline_run_to_its_end(task_id: str) -> None:
    task = resolve_task(task_id)
    # Steps a second apart, so each step's code is its own snapshot (writes closer together
    # than a scan may be recorded as one).
    env = {"MLETUI_BASELINE_MAX_STEPS": "3", "MLETUI_BASELINE_STEP_DELAY": "1"}
    folder = start_run(task, agent="baseline", extra_env=env, time_limit_s=300)
    wait_ended(folder, 240)
    record = folder.read()
    assert record.state == "exited" and record.exit_code == 0, folder.log_path.read_text()

    entries = read_journal(folder.journal_path).entries
    kinds = [e["kind"] for e in entries]
    assert "hello" in kinds
    scores = [e for e in entries if e["kind"] == "score"]
    assert [s["step"] for s in scores] == [1, 2, 3]
    assert {s["direction"] for s in scores} == {task.direction}
    snapshots = [e for e in entries if e["kind"] == "snapshot"]
    assert len(snapshots) >= 3
    assert any(c["path"] == "solution.py" for s in snapshots for c in s["changes"])
    assert (folder.submission / "submission.csv").is_file()
    score_submission(task, folder.submission / "submission.csv")

    # What a watcher sees: the same events, typed, and diffs of the code.
    session = WatchSession(folder)
    events = session.poll()
    names = {type(e).__name__ for e in events}
    assert {"LogBatch", "Snapshot", "Score", "StatusUpdate"} <= names
    code = [
        e
        for e in events
        if isinstance(e, Snapshot) and any(c.path == "solution.py" for c in e.changes)
    ]
    diffs = session.diff(code[-1])
    assert any(path == "solution.py" and "\n+" in text for path, _status, text in diffs), diffs
