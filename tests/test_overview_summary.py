from __future__ import annotations

from mletui.core.events import BudgetLimits, RunState
from mletui.store.runs import create_run_folder, make_record
from mletui.tui.overview_rows import own_row, summary_line
from mletui.watch.livestate import summarize


def test_the_summary_line_counts_runs_waiting_to_start_only_when_there_are_some() -> None:
    ended = make_record("digits", "/tmp/digits", "baseline", ["true"], "local", None)
    ended.state = RunState.EXITED
    rows = [own_row(summarize(create_run_folder(ended)))]
    assert "queued" not in summary_line(rows)

    waiting = make_record("digits", "/tmp/digits", "baseline", ["true"], "local", None)
    waiting.state = RunState.CREATED
    rows.append(own_row(summarize(create_run_folder(waiting))))
    line = summary_line(rows)
    assert line.startswith("1 queued or starting · 0 running"), line
    assert "1 ended" in line


def test_over_budget_is_a_live_runs_flag_only() -> None:
    from mletui.core.events import StatusUpdate
    from mletui.watch.livestate import _over_budget

    def status(state: RunState, left: float | None = None) -> StatusUpdate:
        return StatusUpdate(state, 60.0, 60.0, left, None, None, False, "llm")

    limits = BudgetLimits(0.0, max_cost=1.0, max_steps=3, model="m")
    assert _over_budget(limits, 1.5, 1, status(RunState.RUNNING))
    assert _over_budget(limits, None, 3, status(RunState.PAUSED))
    assert _over_budget(None, None, 0, status(RunState.RUNNING, left=0.0))
    assert not _over_budget(limits, 0.5, 2, status(RunState.RUNNING, left=10.0))
    # A run its budget ended needs no one: the overview's "need you" is for runs still going.
    assert not _over_budget(limits, 1.5, 3, status(RunState.EXITED, left=0.0))
    assert not _over_budget(limits, 1.5, 3, status(RunState.KILLED))
