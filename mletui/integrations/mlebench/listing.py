"""``mletui ls`` for MLE-bench runs: the table and the JSON rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mletui.core.clock import duration
from mletui.integrations.mlebench.runs import MlebenchRun, list_mlebench_runs


def run_json(run: MlebenchRun) -> dict[str, Any]:
    return {
        "source": "mlebench",
        "id": run.id,
        "group": run.group,
        "task": run.competition,
        "agent": run.agent,
        "runtime": "mle-bench",
        "live_state": run.state,
        "path": str(run.path),
        "created": run.created,
        "started": run.started,
        "ended": run.ended,
        "seconds": run.seconds,
    }


def print_runs(root: Path) -> int:
    """Print the MLE-bench runs under ``root`` as a table; how many there were."""
    from rich.console import Console
    from rich.table import Table

    from mletui.core.sanitize import plain_cells

    runs = list_mlebench_runs(root)
    console = Console(highlight=False)
    if not runs:
        console.print(f"No MLE-bench runs under {root}.", markup=False)
        return 0
    table = Table(box=None, header_style="bold", title=f"MLE-bench runs ({root})")
    # The id whole (it is what `watch` takes); the rest may be cut on a narrow terminal.
    table.add_column("ID", no_wrap=True, min_width=max(len(r.id) for r in runs))
    table.add_column("STATE", no_wrap=True, min_width=7)
    for col in ("ELAPSED", "AGENT", "GROUP STARTED"):
        table.add_column(col, no_wrap=True)
    for run in runs:
        started = run.group.split("_run-group_", 1)[0]
        table.add_row(
            *plain_cells((run.id, run.state, duration(run.elapsed_s), run.agent, started))
        )
    console.print(table)
    return len(runs)
