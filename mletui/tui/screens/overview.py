"""The runs overview: a live table of every run; Enter opens one."""

from __future__ import annotations

import time
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from mletui.core.clock import duration
from mletui.core.events import state_text
from mletui.run.stalls import flag_label
from mletui.tui.format import component_style
from mletui.watch.grades import grade_cell
from mletui.watch.livestate import RunSummary
from mletui.watch.sources import Registry, RunListing

REFRESH_S = 1.0
COLUMNS = (
    "id",
    "task",
    "agent",
    "runtime",
    "state",
    "elapsed",
    "active",
    "gpu",
    "best",
    "grade",
    "hints",
    "flags",
)
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


class RunsUpdated(Message):
    def __init__(
        self,
        summaries: list[RunSummary],
        listed: list[RunListing] | None = None,
        skipped: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.summaries = summaries
        self.listed = listed or []  # the runs of other sources: what they list, no more
        self.skipped = skipped or []  # one line per broken run folder


class OverviewScreen(Screen[None]):
    class OpenRun(Message):
        """Open this run (any source's id): the app knows how to watch it."""

        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    CSS_PATH = "../styles/overview.tcss"
    HELP_TITLE = "Runs"
    COMPONENT_CLASSES: ClassVar[set[str]] = {*STATE_CLASS.values(), "overview--flags"}
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("g", "gpu", "GPUs"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, sources: Registry) -> None:
        super().__init__()
        self.sources = sources
        self._opens: dict[str, str] = {}  # row key -> the id that opens its run
        self._skips_said: set[str] = set()  # broken run folders already noticed

    def compose(self) -> ComposeResult:
        yield Static(Text("mletui · runs", style="bold"), id="title")
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Static("No runs yet. Start one in another shell: mletui demo", id="empty")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for col in COLUMNS:
            table.add_column(col, key=col)
        self._refresh()

    @work(thread=True, exclusive=True, group="overview")
    def _refresh(self) -> None:
        worker = get_current_worker()
        while not worker.is_cancelled:
            found = self.sources.listings()
            summaries = [run.summary for run in found.runs if run.summary is not None]
            listed = [run for run in found.runs if run.summary is None]
            self.post_message(RunsUpdated(summaries, listed, found.skipped))
            time.sleep(REFRESH_S)

    def on_runs_updated(self, message: RunsUpdated) -> None:
        for line in message.skipped:
            if line not in self._skips_said:
                self._skips_said.add(line)
                self.notify(line, title="Run folder skipped", severity="warning", markup=False)
        table = self.query_one(DataTable)
        self.query_one("#empty").display = not message.summaries and not message.listed
        seen = set()
        for s in reversed(message.summaries):  # newest first
            best = "-" if s.best is None else f"{s.best:.4g}"
            if s.direction and s.best is not None:
                best += " ↑" if s.direction == "higher" else " ↓"
            row = (
                s.record.id,
                s.record.task,
                s.record.agent,
                s.record.runtime,
                Text(
                    state_text(s.status),
                    style=self._style(STATE_CLASS.get(s.status.state.value)),
                ),
                duration(s.status.wall_s),
                duration(s.status.active_s),
                s.gpu,
                best,
                Text(grade_cell(s)),  # hidden while the run lives, unless revealed
                str(s.hints_sent) + (" · assisted" if s.assisted else ""),
                Text(_flags(s), style=self._style("overview--flags")),
            )
            seen.add(s.record.id)
            self._opens[s.record.id] = s.record.id
            if s.record.id in table.rows:
                for col, value in zip(COLUMNS, row, strict=True):
                    table.update_cell(s.record.id, col, value)
            else:
                table.add_row(*row, key=s.record.id)
        for run in reversed(message.listed):
            row_key = f"{run.source}:{run.id}"
            seen.add(row_key)
            self._opens[row_key] = run.id
            run_state = Text(run.state, style=self._style(LISTED_STATE_CLASS.get(run.state)))
            cells = (*_listed_row(run, run_state), "-", "-", "-", "-", "-", Text(""))
            if row_key in table.rows:
                for col, value in zip(COLUMNS, cells, strict=True):
                    table.update_cell(row_key, col, value)
            else:
                table.add_row(*cells, key=row_key)
        for key in list(table.rows):
            if key.value not in seen:
                table.remove_row(key)

    def _style(self, component: str | None) -> Style | str:
        return component_style(self, component) if component else ""

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key in self._opens:
            self.post_message(self.OpenRun(self._opens[key]))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_gpu(self) -> None:
        from mletui.tui.screens.gpu import GpuScreen

        self.app.push_screen(GpuScreen())


def _listed_row(run: RunListing, state: Text) -> tuple[str | Text, ...]:
    """Another source's run: what it lists (no scores or grades in the table)."""
    return (run.id, run.task, run.agent, run.runtime, state, duration(run.elapsed_s))


def _flags(summary: RunSummary) -> str:
    """The raised stall flags: "GPU idle 14 min · no log 12 min"."""
    now = time.time()
    return " · ".join(flag_label(f, now) for f in summary.stalls)
