from __future__ import annotations

from mletui.core.events import RunState
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
