"""``mletui ls`` and ``show`` for Inspect samples: the table and the detail rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from mletui.core.clock import duration
from mletui.core.events import state_text
from mletui.integrations.inspect.session import cache_dir
from mletui.integrations.inspect.source import Found
from mletui.store.journal import read_journal


def print_samples(found: Sequence[Found], console: Any = None) -> int:
    """Print the samples as a table on ``console`` (nothing when there are none); how many."""
    if not found:
        return 0
    from rich.console import Console
    from rich.table import Table

    from mletui.core.sanitize import plain_cells

    table = Table(box=None, header_style="bold", title="Inspect samples")
    # The id whole (it is what every command takes); the rest is cut first on a narrow terminal.
    table.add_column("ID", no_wrap=True, min_width=max(len(f.row.id) for f in found))
    for col in ("TASK", "MODEL", "SAMPLE", "STATE", "ELAPSED", "TOKENS", "SCORE"):
        table.add_column(col, overflow="ellipsis")
    for f in found:
        row = f.row
        table.add_row(
            *plain_cells(
                (
                    row.id,
                    row.task,
                    row.model,
                    f"{row.sample_id} (epoch {row.epoch})",
                    state_text(f.status()),
                    duration(row.elapsed_s),
                    "-" if row.tokens is None else f"{row.tokens:,}",
                    row.score_text or "-",
                )
            )
        )
    (console or Console(highlight=False)).print(table)
    return len(found)


def sample_rows(found: Found) -> list[tuple[str, str]]:
    """``show``'s rows for one sample, with the operator actions mletui journaled on it."""
    row, status = found.row, found.status()
    journal = cache_dir(row) / "journal.jsonl"
    actions = Counter(
        str(e.get("action"))
        for e in (read_journal(journal).entries if journal.is_file() else [])
        if e.get("kind") == "action"
    )
    where = (
        f"live: Inspect process {found.process.pid}"
        if found.process
        else f"ended: {row.log_path or '-'}"
    )
    return [
        ("id", row.id),
        ("task", row.task),
        ("model", row.model),
        ("sample", f"{row.sample_id} (epoch {row.epoch})"),
        ("eval", row.eval_id),
        ("state", f"{state_text(status)} (Inspect: {row.state})"),
        ("elapsed", duration(row.elapsed_s)),
        ("tokens", "-" if row.tokens is None else f"{row.tokens:,}"),
        ("scores", row.score_text or "-"),
        ("process", where),
        ("operator actions", ", ".join(f"{k} {v}" for k, v in actions.items()) or "none"),
        ("record", str(journal.parent)),
    ]
