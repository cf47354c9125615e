"""``mletui ls`` and ``show`` for MLE-bench runs: each run summed up as mletui's own are (AIDE's
best validation score, mletui's grades and operator actions from its journal for the run), the
table and the JSON rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mletui.core.clock import duration
from mletui.core.events import Score
from mletui.integrations.mlebench.aide import TornJournal, read_journal, score_of
from mletui.integrations.mlebench.runs import MlebenchRun, list_mlebench_runs
from mletui.run.scores import summarize_grades
from mletui.watch.livestate import RunSummary


def summarize_run(run: MlebenchRun) -> RunSummary:
    """What ``ls`` and ``show`` say about ``run``: its state from the harness, its best score
    from AIDE's journal (the host's copy, else the one mirrored from its container), the grades
    and operator actions journaled by mletui."""
    from mletui.core.events import ActionRecord
    from mletui.core.records import decode
    from mletui.integrations.mlebench.session import MlebenchFolder, status_of
    from mletui.store.journal import read_journal as read_records

    folder = MlebenchFolder(run)
    record = folder.read()
    scores = _scores(run, folder.path)
    best = None
    if scores:
        pick = min if scores[0].direction == "lower" else max
        best = pick(scores, key=lambda s: s.value)
    records = [decode(e) for e in read_records(folder.journal_path).entries]
    actions: dict[str, int] = {}
    for item in records:
        if isinstance(item, ActionRecord):
            actions[item.action] = actions.get(item.action, 0) + 1
    return RunSummary(
        record,
        status_of(folder.run),
        None if best is None else best.value,
        None if best is None else best.name,
        None if best is None else best.direction,
        len(scores),
        actions,
        0,
        0,
        0,
        summarize_grades(records),
    )


def _scores(run: MlebenchRun, cache: Path) -> list[Score]:
    """The validation scores of AIDE's non-buggy nodes; none when no journal can be read."""
    from mletui.integrations.mlebench.session import JOURNAL

    for path in (run.logs_dir / JOURNAL, cache / "live" / "logs" / JOURNAL):
        if not path.is_file():
            continue
        try:
            nodes = read_journal(path)
        except (TornJournal, OSError):
            return []
        return [score_of(n) for n in nodes if n.value is not None and not n.is_buggy]
    return []


def run_json(run: MlebenchRun) -> dict[str, Any]:
    """MLE-bench's own facts about a run, for ``ls --json`` beside the keys every row has."""
    return {
        "source": "mlebench",
        "id": run.id,
        "group": run.group,
        "task": run.competition,
        "agent": run.agent,
        "runtime": "mle-bench",
        "state": run.state,
        "path": str(run.path),
        "created": run.created,
        "started": run.started,
        "ended": run.ended,
        "seconds": run.seconds,
    }


def print_runs(root: Path, console: Any) -> int:
    """Print the MLE-bench runs under ``root`` as a table on ``console``; how many there were."""
    from rich.table import Table

    from mletui.core.sanitize import plain_cells
    from mletui.watch.grades import grade_cell

    runs = list_mlebench_runs(root)
    if not runs:
        console.print(f"No MLE-bench runs under {root}.", markup=False)
        return 0
    table = Table(box=None, header_style="bold", title=f"MLE-bench runs ({root})")
    # The id whole (it is what every command takes); the rest is cut first on a narrow terminal.
    table.add_column("ID", no_wrap=True, min_width=max(len(r.id) for r in runs))
    for col in ("STATE", "ELAPSED", "BEST", "GRADE", "AGENT", "GROUP STARTED"):
        table.add_column(col, overflow="ellipsis")
    for run in runs:
        summary = summarize_run(run)
        best = "-" if summary.best is None else f"{summary.best:.4g}"
        started = run.group.split("_run-group_", 1)[0]
        cells = (
            run.id,
            run.state,
            duration(run.elapsed_s),
            best,
            grade_cell(summary),
            run.agent,
            started,
        )
        table.add_row(*plain_cells(cells))
    console.print(table)
    return len(runs)
