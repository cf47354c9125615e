"""The watch screen: one run, pane by pane, live, with the operator's keys."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import get_current_worker

from mletui.control import ActionError, unavailable_reason
from mletui.events import (
    ActionRecord,
    Event,
    HintsUpdate,
    LogBatch,
    LogLine,
    Notice,
    ResourceSample,
    RunState,
    Score,
    Snapshot,
    StatusUpdate,
)
from mletui.sanitize import clean_text
from mletui.session import WatchSession
from mletui.store import RunFolder
from mletui.tui.dialogs import ConfirmKillDialog, HelpScreen, HintDialog
from mletui.tui.widgets.code_pane import CodePane
from mletui.tui.widgets.header import RunHeader
from mletui.tui.widgets.hints_pane import HintsPane
from mletui.tui.widgets.log_view import LogView
from mletui.tui.widgets.resources_pane import ResourcesPane
from mletui.tui.widgets.scores_pane import ScoresPane

POLL_S = 0.1

KEYS = [
    ("p", "soft pause / resume (the agent stops at its next checkpoint)"),
    ("F", "freeze / thaw (SIGSTOP / SIGCONT the whole run at once)"),
    ("h", "send a hint (Enter sends, Esc cancels)"),
    ("K", "kill the run (asks first; SIGTERM, then SIGKILL after the grace period)"),
    ("[ / ]", "previous / next code snapshot"),
    ("f / End", "follow the log again"),
    ("Tab", "move between panes"),
    ("?", "this help"),
    ("q", "quit the watcher; the run goes on untouched"),
]


class SessionEvents(Message):
    """A batch of events read by the session's worker."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


class WatchScreen(Screen[None]):
    DEFAULT_CSS = """
    WatchScreen #body { height: 1fr; }
    WatchScreen #left { width: 3fr; }
    WatchScreen #right { width: 2fr; min-width: 40; }
    WatchScreen LogView { height: 1fr; border: round $panel; }
    WatchScreen CodePane { height: 2fr; }
    WatchScreen ScoresPane { height: 1fr; }
    WatchScreen ResourcesPane { height: auto; }
    WatchScreen HintsPane { height: auto; max-height: 12; }
    """

    BINDINGS = [
        Binding("p", "toggle_pause", "Pause/Resume"),
        Binding("F", "toggle_freeze", "Freeze/Thaw"),
        Binding("h", "hint", "Hint"),
        Binding("K", "kill", "Kill"),
        Binding("left_square_bracket", "snapshot(-1)", "Prev snap", show=False),
        Binding("right_square_bracket", "snapshot(1)", "Next snap", show=False),
        Binding("f,end", "follow", "Follow", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit_watch", "Quit"),
    ]

    def __init__(self, folder: RunFolder, operator: str | None = None) -> None:
        super().__init__()
        self.folder = folder
        self.session = WatchSession(folder, operator)
        self.status: StatusUpdate | None = None

    def compose(self) -> ComposeResult:
        yield RunHeader()
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield LogView()
            with Vertical(id="right"):
                yield CodePane(self.session.diff)
                yield ScoresPane()
                yield ResourcesPane()
                yield HintsPane()
        yield Footer()

    def on_mount(self) -> None:
        record = self.folder.read()
        self.query_one(RunHeader).set_run(record.id, record.task, record.agent, record.runtime)
        self.query_one(LogView).border_title = "logs"
        self.query_one(LogView).focus()
        self._poll()

    @work(thread=True, exclusive=True, group="poll", name="session-poll")
    def _poll(self) -> None:
        worker = get_current_worker()
        while not worker.is_cancelled:
            try:
                events = self.session.poll()
            except Exception as exc:  # keep watching: a bad read is a notice, never a crash
                events = [Notice(time.time(), f"reading the run failed: {exc}")]
            if events and not worker.is_cancelled:
                self.post_message(SessionEvents(events))
            time.sleep(POLL_S)

    def on_session_events(self, message: SessionEvents) -> None:
        lines: list[LogLine] = []
        for event in message.events:
            if isinstance(event, LogBatch):
                lines.extend(event.lines)
            elif isinstance(event, Snapshot):
                self.query_one(CodePane).add_snapshot(event)
            elif isinstance(event, Score):
                self.query_one(ScoresPane).add_score(event)
            elif isinstance(event, ResourceSample):
                self.query_one(ResourcesPane).update_sample(event)
            elif isinstance(event, StatusUpdate):
                self._set_status(event)
            elif isinstance(event, HintsUpdate):
                self.query_one(HintsPane).update_hints(event)
            elif isinstance(event, ActionRecord):
                self.query_one(HintsPane).add_action(event)
            elif isinstance(event, Notice):
                self.notify(clean_text(event.text), severity="warning", markup=False)
        if lines:
            self.query_one(LogView).add_lines(lines)

    def _set_status(self, status: StatusUpdate) -> None:
        before = self.status
        self.status = status
        self.query_one(RunHeader).update_status(status)
        if before is None or (before.state, before.observe_only) != (
            status.state,
            status.observe_only,
        ):
            self.refresh_bindings()

    # --- which keys can act -------------------------------------------------------------------

    def reason_unavailable(self, action: str) -> str | None:
        if self.status is None:
            return "the run's state is not known yet"
        if action == "toggle_pause":
            paused = self.status.state in (RunState.PAUSE_REQUESTED, RunState.PAUSED)
            return unavailable_reason("resume" if paused else "pause", self.status)
        if action == "toggle_freeze":
            frozen = self.status.state is RunState.FROZEN
            return unavailable_reason("thaw" if frozen else "freeze", self.status)
        if action in ("hint", "kill"):
            return unavailable_reason(action, self.status)
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("toggle_pause", "toggle_freeze", "hint", "kill"):
            # None: shown greyed out in the footer; the key then reaches the app, which says why.
            return None if self.reason_unavailable(action) else True
        return True

    # --- actions ------------------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        assert self.status is not None
        paused = self.status.state in (RunState.PAUSE_REQUESTED, RunState.PAUSED)
        if paused:
            self._act(self.session.control.resume, "Soft pause lifted.")
        else:
            self._act(self.session.control.pause, "Soft pause requested: at the next checkpoint.")

    def action_toggle_freeze(self) -> None:
        assert self.status is not None
        if self.status.state is RunState.FROZEN:
            self._act(self.session.control.thaw, "Thawed.")
        else:
            self._act(self.session.control.freeze, "Frozen: the run is stopped until thawed.")

    def action_hint(self) -> None:
        def send(text: str | None) -> None:
            if text:
                self._act(lambda: self.session.control.hint(text), "Hint sent.")

        self.app.push_screen(HintDialog(), send)

    def action_kill(self) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act(self.session.control.kill, "Kill sent: SIGTERM now, SIGKILL after 10 s.")

        self.app.push_screen(ConfirmKillDialog(), confirmed)

    def action_snapshot(self, step: int) -> None:
        pane = self.query_one(CodePane)
        if step < 0:
            pane.select_previous()
        else:
            pane.select_next()

    def action_follow(self) -> None:
        self.query_one(LogView).follow()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(KEYS))

    def action_quit_watch(self) -> None:
        self.workers.cancel_group(self, "poll")
        from mletui.tui.screens.overview import OverviewScreen

        if any(isinstance(s, OverviewScreen) for s in self.app.screen_stack):
            self.app.pop_screen()  # back to the runs overview
        else:
            self.app.exit()

    @work(thread=True, group="actions")
    def _act(self, call: Callable[[], object], done: str) -> None:
        try:
            call()
        except ActionError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.app.call_from_thread(self.notify, done, markup=False)
        self.session.invalidate_status()
