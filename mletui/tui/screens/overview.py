"""The runs overview, the control room: every run in a table that sorts, filters as you type and
fits its width; a selection acted on at once, journaled per run; a summary line; Enter opens one."""

from __future__ import annotations

import time
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static
from textual.widgets.data_table import CellDoesNotExist
from textual.worker import get_current_worker

from mletui.tui.dialogs import ConfirmDialog, HelpScreen, HintDialog
from mletui.tui.format import component_style, printable
from mletui.tui.overview_rows import (
    COLUMNS,
    LISTED_STATE_CLASS,
    MARK,
    SORTABLE,
    STATE_CLASS,
    Row,
    fit_columns,
    listed_row,
    own_row,
    render,
    sort_rows,
    summary_line,
)
from mletui.tui.widgets.runs_table import RunsTable
from mletui.tui.widgets.too_small import TooSmall
from mletui.watch.bulk import BulkOutcome, Target, act_on
from mletui.watch.livestate import RunSummary
from mletui.watch.sources import Registry, RunListing

REFRESH_S = 1.0
# What a row's cells were made from (cells, selected, theme), and the cells.
Shown = tuple[dict[str, tuple[str, str | None]], bool, str, tuple[Text, ...]]
FEW = 8  # rows gone at once (a filter typed) past which the table is refilled, not trimmed
SELECTED = "●"
DONE = {  # what the toast says was done
    "pause": "soft pause requested for",
    "resume": "soft pause lifted for",
    "freeze": "froze",
    "thaw": "thawed",
    "hint": "hint sent to",
    "kill": "kill sent to",
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


class ActionsDone(Message):
    def __init__(self, outcome: BulkOutcome) -> None:
        super().__init__()
        self.outcome = outcome


class ConfirmKillManyDialog(ConfirmDialog):
    """Asks once before killing every run of the selection, naming how many and which."""

    CSS_PATH = "../styles/dialogs.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Kill"),
        Binding("n,escape", "cancel", "Cancel"),
    ]

    def __init__(self, run_ids: list[str], grace_s: float = 10.0) -> None:
        many = len(run_ids) != 1
        super().__init__(
            "kill",
            f"Kill {len(run_ids)} run{'s' if many else ''}?",
            printable(", ".join(run_ids))
            + f"\n\nEach gets SIGTERM now, then SIGKILL after {grace_s:g} s; each kill is "
            "journaled in its run. This cannot be undone.",
            "y or Enter kills · n or Esc keeps them running",
            confirm=("Kill", "error"),
            cancel="Cancel",
            focus_confirm=True,
        )


class OverviewScreen(Screen[None]):
    class OpenRun(Message):
        """Open this run (any source's id): the app knows how to watch it."""

        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    CSS_PATH = "../styles/overview.tcss"
    HELP_TITLE = "Runs"
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *STATE_CLASS.values(),
        *LISTED_STATE_CLASS.values(),
        "overview--flags",
        "overview--selected",
    }
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("space", "toggle_select", "Select", tooltip="select or unselect the run"),
        Binding("a", "select_all", "All", tooltip="select every run shown (again: none)"),
        Binding("slash", "filter", "Filter", tooltip="id, task, state or host; ! inverts"),
        Binding("exclamation_mark", "invert", "Invert", tooltip="show what the filter hides"),
        Binding("s", "sort", "Sort", tooltip="by the next column"),
        Binding("S", "reverse", "Reverse", tooltip="the sort's order"),
        Binding("p", "act('pause')", "Pause", tooltip="soft pause the selection"),
        Binding("r", "act('resume')", "Resume", tooltip="lift its soft pause"),
        Binding("f", "act('freeze')", "Freeze", tooltip="stop it at once"),
        Binding("t", "act('thaw')", "Thaw", tooltip="continue a frozen run"),
        Binding("h", "hint", "Hint", tooltip="one text to every selected run"),
        Binding("K", "kill", "Kill", tooltip="asks once, naming the runs"),
        Binding("A", "alerts", "Alerts", tooltip="every alert, newest first"),
        Binding("escape", "clear_filter", "Clear", tooltip="the filter"),
        Binding("g", "gpu", "GPUs"),
        Binding("question_mark", "help", "Help", tooltip="this help"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, sources: Registry) -> None:
        super().__init__()
        self.sources = sources
        self.rows: dict[str, Row] = {}  # every run, by row key
        self.selected: set[str] = set()  # row keys
        self.filter = ""
        self.sort_column: str | None = None  # None: newest first
        self.reverse = False
        self._shown: dict[str, Shown] = {}  # row key -> its cells last rendered, and their makings
        self._made: dict[str, Shown] = {}  # the same for every run, in the table or filtered out
        self._widths: dict[str, int] = {}  # the columns shown, and their widths
        self._skips_said: set[str] = set()  # broken run folders already noticed

    def compose(self) -> ComposeResult:
        yield Static(Text("mletui · runs", style="bold"), id="title")
        yield Static(id="summary")
        yield RunsTable(cursor_type="row", zebra_stripes=True)
        yield Static("No runs yet. Start one in another shell: mletui demo", id="empty")
        yield Input(placeholder="filter: id, task, state or host; ! first inverts", id="filter")
        yield TooSmall()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
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
        now = time.time()
        rows = [own_row(s, now) for s in message.summaries]
        rows += [listed_row(run) for run in message.listed]
        self.rows = {row.key: row for row in rows}
        for gone in set(self._made) - set(self.rows):
            del self._made[gone]
        self.selected &= set(self.rows)
        self.query_one("#empty").display = not rows
        self.query_one("#summary", Static).update(Text(summary_line(rows, now)))
        self._show()

    def on_resize(self, event: events.Resize) -> None:
        self.query_one(TooSmall).fit(event.size.width, event.size.height)
        self._show()

    def _ordered(self) -> list[Row]:
        shown = [row for row in self.rows.values() if row.matches(self.filter)]
        if self.sort_column is None:  # newest first, as they were created
            newest = sorted(shown, key=lambda r: r.summary.record.created if r.summary else 0.0)
            return newest if self.reverse else newest[::-1]
        return sort_rows(shown, self.sort_column, self.reverse)

    def _show(self) -> None:
        """Bring the table to the rows, order and width wanted, touching only what changed."""
        if not self.is_mounted:
            return
        table = self.query_one(DataTable)
        ordered = self._ordered()
        # Fitted to every run, not only those the filter shows: a keystroke keeps the columns.
        every = list(self.rows.values())
        widths = fit_columns(every, max(20, table.size.width or self.size.width) - 2)
        if list(widths) != list(self._widths) or widths != self._widths:
            self._rebuild(table, widths)
        keys = [row.key for row in ordered]
        current = [key.value for key in table.rows if key.value is not None]
        gone = set(current) - set(keys)
        if len(gone) > FEW:  # the table renumbers every row for each one removed: start afresh
            cursor = self._cursor_key()
            table.clear()
            self._shown.clear()
            if cursor is not None:
                self.call_after_refresh(self._move_to, cursor)
        else:
            for key in gone:
                table.remove_row(key)
                self._shown.pop(key, None)
        theme = self.app.theme
        for row in ordered:
            mark = row.key in self.selected
            old = self._shown.get(row.key)
            if old is not None and old[:3] == (row.cells, mark, theme):
                continue  # nothing it shows has changed: no cell rendered again
            made = self._made.get(row.key)
            if made is not None and made[:3] == (row.cells, mark, theme):
                cells = made[3]  # rendered before a filter's refill took it out of the table
            else:
                cells = self._cells(row)
                self._made[row.key] = (row.cells, mark, theme, cells)
            if old is None:
                table.add_row(*cells, key=row.key)
            else:
                for column, new, was in zip(self._widths, cells, old[3], strict=True):
                    if new != was:
                        table.update_cell(row.key, column, new)
            self._shown[row.key] = (row.cells, mark, theme, cells)
        if [row.key.value for row in table.ordered_rows] != keys:
            self._reorder(table, keys)

    def _rebuild(self, table: DataTable[Text], widths: dict[str, int]) -> None:
        cursor = self._cursor_key()
        table.clear(columns=True)
        self._shown.clear()
        self._made.clear()
        self._widths = widths
        for column in COLUMNS:
            if column.key in widths:
                table.add_column(self._label(column.key), key=column.key, width=widths[column.key])
        if cursor is not None:
            self.call_after_refresh(self._move_to, cursor)

    def _label(self, key: str) -> Text:
        label = next(c.label for c in COLUMNS if c.key == key)
        if key == self.sort_column:
            label += " ▼" if self.reverse else " ▲"
        return Text(label)

    def _cells(self, row: Row) -> tuple[Text, ...]:
        style = self._style
        cells = tuple(render(row, key, width, style) for key, width in self._widths.items())
        if MARK in self._widths and row.key in self.selected:
            cells = (Text(SELECTED, style=self._style("overview--selected")), *cells[1:])
        return cells

    def _reorder(self, table: DataTable[Text], keys: list[str]) -> None:
        cursor = self._cursor_key()
        position = {key: i for i, key in enumerate(keys)}
        # DataTable sorts by cell values: the id cell is unique per row and says its position.
        ids = {self.rows[key].cells["id"][0]: position[key] for key in keys}
        table.sort("id", key=lambda cell: ids.get(cell.plain, 0))
        if cursor is not None:
            self._move_to(cursor)

    def _cursor_key(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except CellDoesNotExist:  # a cursor past the rows after a clear
            return None

    def _move_to(self, key: str) -> None:
        table = self.query_one(DataTable)
        if key in table.rows:
            table.move_cursor(row=table.get_row_index(key))

    def _style(self, component: str | None) -> Style | str:
        return component_style(self, component) if component else ""

    # The selection, and acting on it.

    def targets(self) -> list[Row]:
        """The selected runs that are listed now; with none selected, the run under the cursor."""
        chosen = [row for key, row in self.rows.items() if key in self.selected]
        if chosen:
            return chosen
        key = self._cursor_key()
        return [self.rows[key]] if key in self.rows else []

    def action_toggle_select(self) -> None:
        key = self._cursor_key()
        if key is None:
            return
        self.selected ^= {key}
        self._show()
        table = self.query_one(DataTable)
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    def action_select_all(self) -> None:
        shown = {row.key for row in self._ordered()}
        self.selected = set() if shown and shown <= self.selected else self.selected | shown
        self._show()

    def action_act(self, action: str, *params: object) -> None:
        rows = self.targets()
        if not rows:
            self.notify("No run to act on.", severity="warning", markup=False)
            return
        self._act([Target(row.source, row.run_id) for row in rows], action, params)

    @work(thread=True, group="act")
    def _act(self, targets: list[Target], action: str, params: tuple[object, ...]) -> None:
        operator = getattr(self.app, "operator", None)
        outcome = act_on(self.sources, targets, action, *params, operator=operator)
        self.post_message(ActionsDone(outcome))

    def on_actions_done(self, message: ActionsDone) -> None:
        outcome = message.outcome
        if outcome.done:
            names = ", ".join(outcome.done)
            self.notify(printable(f"{DONE[outcome.action].capitalize()} {names}."), markup=False)
        refusal = outcome.refusal()
        if refusal:
            title = f"Cannot {outcome.action}"
            self.notify(printable(refusal), title=title, severity="warning", markup=False)

    def action_hint(self) -> None:
        rows = self.targets()
        if not rows:
            self.notify("No run to hint.", severity="warning", markup=False)
            return
        name = rows[0].run_id if len(rows) == 1 else f"{len(rows)} runs"

        def send(text: str | None) -> None:
            if text:
                self._act([Target(r.source, r.run_id) for r in rows], "hint", (text,))

        self.app.push_screen(HintDialog(name), send)

    def action_kill(self) -> None:
        rows = self.targets()
        if not rows:
            self.notify("No run to kill.", severity="warning", markup=False)
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act([Target(r.source, r.run_id) for r in rows], "kill", ())

        self.app.push_screen(ConfirmKillManyDialog([row.run_id for row in rows]), confirmed)

    # Sorting and filtering.

    def action_sort(self) -> None:
        at = SORTABLE.index(self.sort_column) + 1 if self.sort_column in SORTABLE else 0
        self._sort_by(SORTABLE[at % len(SORTABLE)], reverse=False)

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self._relabel()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        if key in SORTABLE:
            same = key == self.sort_column
            self._sort_by(key, reverse=not self.reverse if same else False)

    def _sort_by(self, column: str, *, reverse: bool) -> None:
        self.sort_column, self.reverse = column, reverse
        self._relabel()

    def _relabel(self) -> None:
        self._widths = {}  # the headers say the sort: built again
        self._show()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_invert(self) -> None:
        self._set_filter(self.filter[1:] if self.filter.startswith("!") else "!" + self.filter)

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        was_typing = box.has_focus
        if self.filter:
            self._set_filter("")
        if was_typing:
            self.query_one(DataTable).focus()
        box.display = False

    def _set_filter(self, text: str) -> None:
        box = self.query_one("#filter", Input)
        self.filter = text
        if box.value != text:
            box.value = text
        box.display = bool(text) or box.has_focus
        self._show()

    @on(Input.Changed, "#filter")
    def _typed(self, event: Input.Changed) -> None:
        self.filter = event.value
        self._show()

    @on(Input.Submitted, "#filter")
    def _filtered(self, event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()
        event.input.display = bool(self.filter)

    # Elsewhere.

    def action_open(self) -> None:
        key = self._cursor_key()
        if key in self.rows:
            self.post_message(self.OpenRun(self.rows[key].run_id))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_alerts(self) -> None:
        from mletui.tui.screens.alerts_list import AlertsScreen

        def chosen(run_id: str | None) -> None:
            if run_id:
                self.post_message(self.OpenRun(run_id))

        self.app.push_screen(AlertsScreen(), chosen)

    def action_gpu(self) -> None:
        from mletui.tui.screens.gpu import GpuScreen

        self.app.push_screen(GpuScreen())

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen.of(self))
