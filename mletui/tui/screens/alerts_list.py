"""Every run's alerts, newest first, as journaled (mletui.watch.alerts); Enter opens the run.
From a watch screen, that run's alerts come first."""

from __future__ import annotations

import time
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from mletui.core.records import decode
from mletui.store.journal import read_journal
from mletui.store.runs import scan_runs
from mletui.tui.dialogs import HelpScreen
from mletui.tui.format import printable
from mletui.watch.alerts import Alert, alerts_in

REFRESH_S = 5.0
MAX_ALERTS = 1000  # the newest; a screenful is what a person reads


def every_alert(first: str | None = None) -> list[Alert]:
    """The alerts of every run of the store, newest first; those of the run ``first`` before
    the others."""
    found: list[Alert] = []
    for folder in scan_runs().folders:
        try:
            journal = read_journal(folder.journal_path)
        except OSError:  # a run folder going away under us
            continue
        found += alerts_in((decode(entry) for entry in journal.entries), folder.id)
    found.sort(key=lambda alert: (alert.run_id == first, alert.ts), reverse=True)
    return found[:MAX_ALERTS]


class AlertsFound(Message):
    def __init__(self, alerts: list[Alert]) -> None:
        super().__init__()
        self.alerts = alerts


class AlertsScreen(Screen[str | None]):
    """Dismisses with the id of the run to open, or None (Esc). ``run_id``: the run watched,
    whose alerts come first."""

    CSS_PATH = "../styles/overview.tcss"
    HELP_TITLE = "Alerts"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open run"),
        Binding("escape,A", "close", "Back"),
        Binding("question_mark", "help", "Help", tooltip="this help"),
    ]

    def __init__(self, run_id: str | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.alerts: list[Alert] = []

    def compose(self) -> ComposeResult:
        title = "mletui · alerts, newest first"
        if self.run_id:
            title = f"mletui · alerts, run {self.run_id}'s first, newest first"
        yield Static(Text(title, style="bold"), id="alerts-title")
        yield DataTable(cursor_type="row", zebra_stripes=True)
        yield Static("No alerts yet.", id="alerts-empty")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in ("time", "run", "kind", "alert"):
            table.add_column(column, key=column)
        self._load()

    @work(thread=True, exclusive=True, group="alerts")
    def _load(self) -> None:
        worker = get_current_worker()
        while not worker.is_cancelled:
            self.post_message(AlertsFound(every_alert(self.run_id)))
            time.sleep(REFRESH_S)

    def on_alerts_found(self, message: AlertsFound) -> None:
        if message.alerts == self.alerts:
            return
        self.alerts = message.alerts
        self.query_one("#alerts-empty").display = not self.alerts
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for alert in self.alerts:
            when = datetime.fromtimestamp(alert.ts).strftime("%Y-%m-%d %H:%M:%S")
            table.add_row(
                Text(when),
                Text(alert.run_id),
                Text(alert.kind.value),
                Text(printable(alert.text)),  # the agent's words may be in it: shown inert
            )
        if self.alerts:
            table.move_cursor(row=min(row, len(self.alerts) - 1))

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if self.alerts and 0 <= table.cursor_row < len(self.alerts):
            self.dismiss(self.alerts[table.cursor_row].run_id)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen.of(self))
