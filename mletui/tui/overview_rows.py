"""The overview's rows as data: their cells, how they sort, what a filter matches, which columns
fit a width, and the summary line. No widget here: the screen renders what this decides."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from rich.style import Style
from rich.text import Text

from mletui.core.clock import duration
from mletui.core.events import RunState, state_text
from mletui.run.stalls import flag_label
from mletui.tui.format import dollars, human_bytes, printable
from mletui.watch.grades import grade_cell
from mletui.watch.livestate import RunSummary
from mletui.watch.sources import OWN, RunListing

StyleOf = Callable[[str | None], Style | str]


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    drop: int  # columns go, lowest first, when the width is short; 0: never
    shrink_to: int = 0  # cut with "…" down to this many characters before any column goes


MARK = "mark"
COLUMNS = (
    Column(MARK, " ", 0),
    Column("id", "id", 0),
    Column("task", "task", 90, shrink_to=10),
    Column("agent", "agent", 20, shrink_to=8),
    Column("host", "host", 40, shrink_to=8),
    Column("state", "state", 95),
    Column("elapsed", "elapsed", 50),
    Column("active", "active", 10),
    Column("gpu", "gpu", 30),
    Column("best", "best", 60),
    Column("grade", "grade", 70),
    Column("hints", "hints", 25),
    Column("flags", "flags", 80, shrink_to=12),
)
BY_KEY = {column.key: column for column in COLUMNS}
SORTABLE = tuple(column.key for column in COLUMNS if column.key != MARK)
CELL_PADDING = 2  # the table's padding around each cell

STATE_CLASS = {  # a run's state -> the component class that colours it
    "running": "overview--running",
    "pause requested": "overview--pause-requested",
    "paused": "overview--paused",
    "frozen": "overview--frozen",
    "queued": "overview--ended",
    "starting": "overview--ended",
    "exited": "overview--ended",
    "killed": "overview--killed",
    "lost": "overview--lost",
}
# Another source's run: the states its harness knows (or says in its own words).
LISTED_STATE_CLASS = {
    "running": "overview--running",
    "queued": "overview--ended",
    "done": "overview--ended",
    "failed": "overview--killed",
    "lost": "overview--lost",
}


@dataclass(frozen=True)
class Row:
    """One run as the overview shows it: its cells (plain text and a style class each), the
    values it sorts by, and the facts the summary line adds up."""

    key: str  # the table's row key: the id, or "source:id" for another source's run
    source: str
    run_id: str
    cells: dict[str, tuple[str, str | None]]
    order: dict[str, Any]
    summary: RunSummary | None = None
    flags: tuple[str, ...] = field(default=())

    def matches(self, needle: str) -> bool:
        """A k9s filter: every word of ``needle`` in the id, task, state or host; a leading "!"
        inverts it."""
        inverted = needle.startswith("!")
        words = needle.removeprefix("!").lower().split()
        hay = " ".join(self.cells[key][0] for key in ("id", "task", "state", "host")).lower()
        found = all(word in hay for word in words)
        return found != inverted if words else True


def own_row(s: RunSummary, now: float | None = None) -> Row:
    now = time.time() if now is None else now
    record, status = s.record, s.status
    best = "-" if s.best is None else f"{s.best:.4g}"
    if s.direction and s.best is not None:
        best += " ↑" if s.direction == "higher" else " ↓"
    flags = _flags(s, now)
    state = state_text(status)
    cells = {
        "id": (record.id, None),
        "task": (record.task, None),
        "agent": (record.agent, None),
        "host": (host_of(s), None),
        "state": (state, STATE_CLASS.get(status.state.value)),
        "elapsed": (duration(status.wall_s), None),
        "active": (duration(status.active_s), None),
        "gpu": (s.gpu, None),
        "best": (best, None),
        "grade": (grade_cell(s), None),  # hidden while the run lives, unless revealed
        "hints": (
            str(s.hints_sent)
            + (f" ({s.hints_unacknowledged} unread)" if s.hints_unacknowledged else ""),
            None,
        ),
        "flags": (" · ".join(flags), "overview--flags"),
    }
    sign = 1 if s.direction == "higher" else -1
    order = {
        "id": record.id,
        "task": record.task,
        "agent": record.agent,
        "host": cells["host"][0],
        "state": state,
        "elapsed": status.wall_s,
        "active": status.active_s,
        "gpu": _gpu_use(s),
        "best": -float("inf") if s.best is None else sign * s.best,
        "grade": cells["grade"][0],
        "hints": s.hints_sent,
        "flags": len(flags),
    }
    return Row(record.id, OWN, record.id, cells, order, s, flags)


def listed_row(run: RunListing) -> Row:
    """Another source's run: what it lists (no scores or grades in the table)."""
    key = f"{run.source}:{run.id}"
    cells = {
        "id": (run.id, None),
        "task": (run.task, None),
        "agent": (run.agent, None),
        "host": (run.runtime, None),
        "state": (run.state, LISTED_STATE_CLASS.get(run.state)),
        "elapsed": (duration(run.elapsed_s), None),
        **{key: ("-", None) for key in ("active", "gpu", "best", "grade", "hints")},
        "flags": ("lost", "overview--flags") if run.state == "lost" else ("", None),
    }
    order: dict[str, Any] = {k: v for k, (v, _) in cells.items()}
    order.update(elapsed=run.elapsed_s or 0.0, active=0.0, gpu=0.0, best=-float("inf"), hints=0)
    order["flags"] = 1 if run.state == "lost" else 0
    return Row(
        key, run.source, run.id, cells, order, None, ("lost",) if run.state == "lost" else ()
    )


def host_of(s: RunSummary) -> str:
    """Where the run lives: "local", the Docker engine ("docker", or its host), or for a Slurm
    run "partition/node" (the node once the job has one)."""
    record = s.record
    options = record.runtime_options
    if record.runtime == "docker":
        address = record.docker_host or str(options.get("docker_host") or "")
        if not address or address.startswith(("unix://", "npipe://")):
            return "docker"
        parts = urlsplit(address)
        return f"docker@{parts.hostname or address}"
    if record.runtime == "slurm":
        partition = str(options.get("partition") or "?")
        node = str(options.get("node") or "…")
        return f"{partition}/{node}"
    return record.runtime


def _flags(s: RunSummary, now: float) -> tuple[str, ...]:
    """The flags in words: a stall and how long, lost, over budget, assisted, needs you."""
    out = [flag_label(flag, now) for flag in s.stalls]
    if s.status.state is RunState.LOST:
        out.append("lost")
    if s.over_budget:
        out.append("over budget")
    if s.asking:
        out.append("needs you")
    if s.assisted:
        out.append("assisted")
    return tuple(out)


def _gpu_use(s: RunSummary) -> float:
    if s.resources is None:
        return 0.0
    return sum(d.run_utilization or 0.0 for d in s.resources.gpus)


def render(row: Row, key: str, width: int, style: StyleOf) -> Text:
    """One cell: the text shown inert (an agent or another harness may have written it), cut with
    "…" at ``width``."""
    if key == MARK:
        return Text("")
    text, component = row.cells[key]
    shown = printable(text)
    if len(shown) > width:
        shown = shown[: max(1, width - 1)] + "…"
    return Text(shown, style=style(component))


def sort_rows(rows: Iterable[Row], column: str, reverse: bool) -> list[Row]:
    """Sorted by ``column``, ties by id; the newest run first when sorted by nothing else."""

    def key(row: Row) -> tuple[Any, str]:
        value = row.order.get(column)
        if isinstance(value, str):
            return (0, value.lower()), row.key
        return (1, value if value is not None else 0.0), row.key

    return sorted(rows, key=key, reverse=reverse)


def fit_columns(rows: Sequence[Row], width: int) -> dict[str, int]:
    """Each column that fits ``width`` cells, with its width: ids are never cut; the long text
    columns are shortened first, then the least needed columns go."""
    natural = {
        c.key: max([len(c.label) + 2] + [_shown_width(r.cells[c.key][0]) for r in rows])
        if c.key != MARK
        else 1
        for c in COLUMNS
    }
    widths = dict(natural)

    def used() -> int:
        return sum(w + CELL_PADDING for w in widths.values())

    for column in sorted(COLUMNS, key=lambda c: c.drop):  # shorten, least needed first
        if used() <= width:
            return widths
        if column.shrink_to and widths[column.key] > column.shrink_to:
            widths[column.key] = max(column.shrink_to, widths[column.key] - (used() - width))
    for column in sorted(COLUMNS, key=lambda c: c.drop):
        if used() <= width:
            break
        if column.drop:
            del widths[column.key]
    return widths


@functools.lru_cache(maxsize=65536)
def _shown_width(text: str) -> int:
    """Most cells read the same second after second: each is made printable once."""
    return len(printable(text))


def summary_line(rows: Sequence[Row], now: float | None = None) -> str:
    """How many runs are in each state, stalled and needing a person; what they use in all; and
    the oldest hint no agent has answered yet."""
    now = time.time() if now is None else now
    own = [row.summary for row in rows if row.summary is not None]
    states = [row.cells["state"][0] for row in rows]
    ended_states = ("exited", "killed", "done", "failed")
    counts = {
        "running": sum(1 for s in own if s.status.state is RunState.RUNNING)
        + sum(1 for r in rows if r.summary is None and r.cells["state"][0] == "running"),
        "paused": sum(
            1 for s in own if s.status.state in (RunState.PAUSED, RunState.PAUSE_REQUESTED)
        ),
        "frozen": sum(1 for s in own if s.status.state is RunState.FROZEN),
        "stalled": sum(1 for s in own if s.stalls),
        "need you": sum(1 for row in rows if {"lost", "over budget", "needs you"} & set(row.flags)),
        "ended": sum(1 for state in states if state.split()[0] in ended_states),
    }
    waiting_to_start = sum(
        1 for s in own if s.status.state in (RunState.QUEUED, RunState.CREATED, RunState.STARTING)
    )
    parts = [f"{n} {what}" for what, n in counts.items()]
    if waiting_to_start:  # said only when some are: most runs start at once
        parts.insert(0, f"{waiting_to_start} queued or starting")
    cpu = sum(s.resources.cpu_percent for s in own if s.resources is not None)
    memory = sum(s.resources.rss_bytes for s in own if s.resources is not None)
    gpu_memory = sum(
        d.run_memory or 0 for s in own if s.resources is not None for d in s.resources.gpus
    )
    gpu = sum(_gpu_use(s) for s in own)
    use = [
        f"CPU {cpu:.0f}%",
        f"mem {human_bytes(memory)}",
        f"GPU {gpu:.0f}% {human_bytes(gpu_memory)}",
    ]
    costs = [s.cost for s in own if s.cost is not None]
    use.append(f"cost {dollars(sum(costs))}" if costs else "cost -")
    line = " · ".join(parts) + "  │  " + " · ".join(use)
    waiting = [
        (s.oldest_unanswered_hint, s.record.id) for s in own if s.oldest_unanswered_hint is not None
    ]
    if waiting:
        sent, run_id = min(waiting)
        line += f"  │  oldest unanswered hint: {run_id}, {duration(now - sent)} ago"
    return line
