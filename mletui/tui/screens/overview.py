"""The runs overview: a live table of every run; Enter opens one."""

from __future__ import annotations

import time
from pathlib import Path
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
from mletui.core.sanitize import clean_text
from mletui.integrations.mlebench.runs import MlebenchRun, list_mlebench_runs, read_run
from mletui.run.stalls import flag_label
from mletui.store.runs import RunFolder, scan_runs
from mletui.tui.format import component_style
from mletui.watch.grades import grade_cell
from mletui.watch.livestate import RunSummary, summarize

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
    "starting": "overview--ended",
    "exited": "overview--ended",
    "killed": "overview--killed",
    "lost": "overview--lost",
}


MLEBENCH_KEY = "mlebench:"  # the row key of an MLE-bench run: this, then its folder
MLEBENCH_STATE_CLASS = {
    "running": "overview--running",
    "queued": "overview--ended",
    "done": "overview--ended",
    "failed": "overview--killed",
}


class RunsUpdated(Message):
    def __init__(
        self,
        summaries: list[RunSummary],
        mlebench: list[MlebenchRun] | None = None,
        skipped: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.summaries = summaries
        self.mlebench = mlebench or []
        self.skipped = skipped or []  # one line per broken run folder


class OverviewScreen(Screen[None]):
    CSS_PATH = "../styles/overview.tcss"
    HELP_TITLE = "Runs"
    COMPONENT_CLASSES: ClassVar[set[str]] = {*STATE_CLASS.values(), "overview--flags"}
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("g", "gpu", "GPUs"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, mlebench_root: Path | None = None) -> None:
        super().__init__()
        self.mlebench_root = mlebench_root  # also list the MLE-bench runs under it
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
            summaries = []
            scan = scan_runs()
            skipped = [skip.line() for skip in scan.skipped]
            for folder in scan.folders:
                try:
                    summaries.append(summarize(folder))
                except (OSError, ValueError, TypeError, KeyError, RecursionError) as exc:
                    reason = clean_text(str(exc) or type(exc).__name__)
                    skipped.append(f"skipped {clean_text(str(folder.path))}: {reason}.")
            root = self.mlebench_root
            mlebench = list_mlebench_runs(root) if root is not None else []
            self.post_message(RunsUpdated(summaries, mlebench, skipped))
            time.sleep(REFRESH_S)

    def on_runs_updated(self, message: RunsUpdated) -> None:
        for line in message.skipped:
            if line not in self._skips_said:
                self._skips_said.add(line)
                self.notify(line, title="Run folder skipped", severity="warning", markup=False)
        table = self.query_one(DataTable)
        self.query_one("#empty").display = not message.summaries and not message.mlebench
        seen = set()
        for s in reversed(message.summaries):  # newest first
            state = s.status.state.value
            if state == "exited" and s.status.exit_code is not None:
                state_text = f"exited ({s.status.exit_code})"
            else:
                state_text = state
            best = "-" if s.best is None else f"{s.best:.4g}"
            if s.direction and s.best is not None:
                best += " ↑" if s.direction == "higher" else " ↓"
            row = (
                s.record.id,
                s.record.task,
                s.record.agent,
                s.record.runtime,
                Text(state_text, style=self._style(STATE_CLASS.get(state))),
                duration(s.status.wall_s),
                duration(s.status.active_s),
                s.gpu,
                best,
                Text(grade_cell(s)),  # hidden while the run lives, unless revealed
                str(s.hints_sent) + (" · assisted" if s.assisted else ""),
                Text(_flags(s), style=self._style("overview--flags")),
            )
            seen.add(s.record.id)
            if s.record.id in table.rows:
                for col, value in zip(COLUMNS, row, strict=True):
                    table.update_cell(s.record.id, col, value)
            else:
                table.add_row(*row, key=s.record.id)
        for run in reversed(message.mlebench):
            mle_key = MLEBENCH_KEY + str(run.path)
            seen.add(mle_key)
            run_state = Text(run.state, style=self._style(MLEBENCH_STATE_CLASS.get(run.state)))
            cells = (*_mlebench_row(run, run_state), "-", "-", "-", "-", "-", Text(""))
            if mle_key in table.rows:
                for col, value in zip(COLUMNS, cells, strict=True):
                    table.update_cell(mle_key, col, value)
            else:
                table.add_row(*cells, key=mle_key)
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
        if key and key.startswith(MLEBENCH_KEY):
            from mletui.tui.screens.mlebench import MlebenchWatchScreen

            self.app.push_screen(MlebenchWatchScreen(read_run(Path(key[len(MLEBENCH_KEY) :]))))
        elif key:
            from mletui.store.runs import runs_root
            from mletui.tui.screens.watch import WatchScreen

            self.app.push_screen(WatchScreen(RunFolder(runs_root() / key), self.app.operator))  # type: ignore[attr-defined]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_gpu(self) -> None:
        from mletui.tui.screens.gpu import GpuScreen

        self.app.push_screen(GpuScreen())


def _mlebench_row(run: MlebenchRun, state: Text) -> tuple[str | Text, ...]:
    """An MLE-bench run's row: what its folder tells (no scores or grades in the table)."""
    return (run.id, run.competition, run.agent, "mle-bench", state, duration(run.elapsed_s))


def _flags(summary: RunSummary) -> str:
    """The raised stall flags: "GPU idle 14 min · no log 12 min"."""
    now = time.time()
    return " · ".join(flag_label(f, now) for f in summary.stalls)
