"""The watch screen: one run, pane by pane, live, with the operator's keys."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import get_current_worker

from mletui.core.events import (
    ActionRecord,
    AgentStep,
    BudgetLimits,
    Grade,
    GradingInfo,
    HintsUpdate,
    LogBatch,
    LogLine,
    Notice,
    ResourceSample,
    RunState,
    Score,
    Snapshot,
    StallFlag,
    StatusUpdate,
    TokenUsage,
)
from mletui.core.sanitize import clean_text
from mletui.store.runs import RunFolder
from mletui.store.spool import LogHistory
from mletui.tui.dialogs import ConfirmKillDialog, HelpScreen, HintDialog
from mletui.tui.grade_guard import OPEN_DETAIL, ask_to_reveal, journal_then_reveal, show_code_for
from mletui.tui.widgets.budget import BudgetLine
from mletui.tui.widgets.code_pane import CodePane
from mletui.tui.widgets.header import RunHeader
from mletui.tui.widgets.hints_pane import HintsPane
from mletui.tui.widgets.log_view import LogView
from mletui.tui.widgets.resources_pane import ResourcesPane
from mletui.tui.widgets.scores_pane import ScoresPane
from mletui.watch.control import ActionError, unavailable_reason
from mletui.watch.live import WatchSession

POLL_S = 0.1
POLL_FLOOD_S = 0.005  # while lines pour in
LOG_FRAME_S = 0.2  # the log pane takes a flood's newest lines at most this often


class SessionEvents(Message):
    """A batch of events read by the session's worker."""

    def __init__(self, events: Sequence[object]) -> None:
        super().__init__()
        self.events = events


class WatchScreen(Screen[None]):
    CSS_PATH = "../styles/watch.tcss"
    HELP_TITLE = "Run"

    BINDINGS = [
        Binding(
            "p", "toggle_pause", "Pause/Resume", tooltip="the agent stops at its next checkpoint"
        ),
        Binding(
            "F", "toggle_freeze", "Freeze/Thaw", tooltip="SIGSTOP / SIGCONT the whole run at once"
        ),
        Binding("h", "hint", "Hint", tooltip="send the agent a hint (Enter sends, Esc cancels)"),
        Binding(
            "K", "kill", "Kill", tooltip="asks first; SIGTERM, then SIGKILL after the grace period"
        ),
        Binding("R", "reveal_grade", "Reveal grade", tooltip="asks first; the journal records it"),
        Binding(
            "left_square_bracket",
            "snapshot(-1)",
            "Prev snap",
            show=False,
            tooltip="the code as it was before",
        ),
        Binding(
            "right_square_bracket",
            "snapshot(1)",
            "Next snap",
            show=False,
            tooltip="the code as it was after",
        ),
        Binding("f,end", "follow", "Follow", show=False, tooltip="follow the log again"),
        Binding("question_mark", "help", "Help", tooltip="this help"),
        Binding("q", "quit_watch", "Quit", tooltip="the watcher; the run goes on untouched"),
    ]

    def __init__(
        self,
        folder: RunFolder,
        operator: str | None = None,
        drive: bool = False,
        session: WatchSession | None = None,
        show_grades: bool = False,
    ) -> None:
        super().__init__()
        self.folder = folder
        self.session = session or WatchSession(folder, operator)
        self.drive = drive
        self.show_grades = show_grades  # grades openly, without G (the demo; replays)
        self.status: StatusUpdate | None = None

    def compose(self) -> ComposeResult:
        yield RunHeader()
        yield BudgetLine()
        with Horizontal(id="body"):
            with Vertical(id="left"):
                # A replay's session has no live history: its lines come in the order of time.
                yield LogView(getattr(self.session, "logs", None))
            with Vertical(id="right"):
                yield CodePane(self.session.diff)
                yield ScoresPane(grades_shown=self.show_grades)
                yield ResourcesPane()
                yield HintsPane()
        yield Footer()

    def on_mount(self) -> None:
        record = self.folder.read()
        self.query_one(RunHeader).set_run(record.id, record.task, record.agent, record.runtime)
        self.query_one(LogView).border_title = "logs"
        self.query_one(LogView).run_started = record.started
        self.query_one(LogView).focus()
        self.query_one(RunHeader).set_own_driver_token(self.session.driver_token)
        self.query_one(ScoresPane).set_origin(record.started or record.created)
        if self.show_grades and record.state not in ("exited", "killed"):
            scores = self.query_one(ScoresPane)
            journal_then_reveal(self, scores, self.session.control, OPEN_DETAIL)
        if self.drive:
            self._take_driver()
        self._poll()

    @work(thread=True, group="actions")
    def _take_driver(self) -> None:
        holder = self.session.take_driver()
        if holder:
            self.app.call_from_thread(
                self.notify, f"{holder} drives this run: you are watching.", markup=False
            )

    def on_unmount(self) -> None:
        self.session.close()

    @work(thread=True, exclusive=True, group="poll", name="session-poll")
    def _poll(self) -> None:
        worker = get_current_worker()
        live_log = isinstance(getattr(self.session, "logs", None), LogHistory)
        held: LogBatch | None = None  # a flood's newest lines, waiting for the next log frame
        posted = 0.0
        while not worker.is_cancelled:
            try:
                events = self.session.poll()
            except Exception as exc:  # keep watching: a bad read is a notice, never a crash
                events = [Notice(time.time(), f"reading the run failed: {exc}")]
            batches = [event for event in events if isinstance(event, LogBatch)]
            # A flood in a live log: look again soon, so its end shows at once, but hand the
            # pane its newest lines once a log frame (the rest is in the spool); anything else
            # goes at once.
            if (
                live_log
                and batches
                and len(batches) == len(events)
                and time.monotonic() - posted < LOG_FRAME_S
            ):
                held = batches[-1]
            else:
                if held is not None and not batches:
                    events = [held, *events]
                held = None
                if events and not worker.is_cancelled:
                    self.post_message(SessionEvents(events))
                    posted = time.monotonic()
            flooding = live_log and (bool(batches) or held is not None)
            time.sleep(POLL_FLOOD_S if flooding else POLL_S)
            # Never queue more than the screen can show.
            while self.message_queue_size > 1 and not worker.is_cancelled:
                time.sleep(POLL_FLOOD_S)

    def on_session_events(self, message: SessionEvents) -> None:
        lines: list[LogLine] = []
        for event in message.events:
            match event:
                case LogBatch():
                    lines.extend(event.lines)
                case Snapshot():
                    self.query_one(CodePane).add_snapshot(event)
                case Score():
                    self.query_one(ScoresPane).add_score(event)
                case Grade():
                    self.query_one(ScoresPane).add_grade(event)
                case GradingInfo():
                    self.query_one(ScoresPane).set_grading(event)
                case ResourceSample():
                    self.query_one(ResourcesPane).update_sample(event)
                case StallFlag():
                    self.query_one(RunHeader).update_stall(event)
                case StatusUpdate():
                    self._set_status(event)
                case HintsUpdate():
                    self.query_one(HintsPane).update_hints(event)
                case ActionRecord():
                    self.query_one(HintsPane).add_action(event)
                case TokenUsage():
                    self.query_one(BudgetLine).add_usage(event)
                case AgentStep():
                    self.query_one(BudgetLine).add_step(event)
                case BudgetLimits():
                    self.query_one(BudgetLine).set_limits(event)
                case Notice():
                    self.notify(clean_text(event.text), severity="warning", markup=False)
        if lines:
            self.query_one(LogView).add_lines(lines)

    def _set_status(self, status: StatusUpdate) -> None:
        before = self.status
        self.status = status
        self.query_one(RunHeader).update_status(status)
        self.query_one(BudgetLine).update_status(status)
        self.query_one(ScoresPane).set_span(status.wall_s)
        if status.state.ended:  # the agent can learn nothing more: grades are shown
            self.query_one(ScoresPane).reveal_grades()
        if before is None or (before.state, before.observe_only, before.driver_token) != (
            status.state,
            status.observe_only,
            status.driver_token,
        ):
            self.refresh_bindings()

    # --- which keys can act -------------------------------------------------------------------

    def reason_unavailable(self, action: str) -> str | None:
        if self.status is None:
            return "the run's state is not known yet"
        if action in ("toggle_pause", "toggle_freeze", "hint", "kill") and (
            other := self._driven_by_other()
        ):
            return other
        if action == "toggle_pause":
            paused = self.status.state in (RunState.PAUSE_REQUESTED, RunState.PAUSED)
            return unavailable_reason("resume" if paused else "pause", self.status)
        if action == "toggle_freeze":
            frozen = self.status.state is RunState.FROZEN
            return unavailable_reason("thaw" if frozen else "freeze", self.status)
        if action in ("hint", "kill"):
            return unavailable_reason(action, self.status)
        return None

    def _driven_by_other(self) -> str | None:
        status = self.status
        if status is None or status.driver_token in (None, self.session.driver_token):
            return None
        return f"{status.driver} drives this run; you are watching"

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

    def action_reveal_grade(self) -> None:
        ask_to_reveal(self, self.query_one(ScoresPane), self.session.control)

    def on_scores_pane_score_chosen(self, message: ScoresPane.ScoreChosen) -> None:
        if not show_code_for(self.query_one(CodePane), message):
            self.notify("No code snapshot was recorded before that score.", markup=False)

    def action_snapshot(self, step: int) -> None:
        pane = self.query_one(CodePane)
        if step < 0:
            pane.select_previous()
        else:
            pane.select_next()

    def action_follow(self) -> None:
        self.query_one(LogView).follow()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen.of(self))

    def action_quit_watch(self) -> None:
        self.workers.cancel_group(self, "poll")
        # Opened from the runs overview (the app's default screen, the overview, this one): go
        # back to it; opened on its own: leave the app.
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
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
