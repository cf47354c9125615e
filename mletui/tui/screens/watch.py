"""The watch screen: one run, pane by pane, live, with the operator's keys."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer
from textual.worker import get_current_worker

from mletui.core.events import (
    ActionRecord,
    AgentStep,
    BudgetLimits,
    Grade,
    GradingInfo,
    HintsUpdate,
    LiveLine,
    LogBatch,
    LogLine,
    ModelOutput,
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
from mletui.tui.dialogs import (
    AGENT,
    CONTAINER,
    ConfirmKillDialog,
    HelpScreen,
    HintDialog,
    KillChoiceDialog,
)
from mletui.tui.grade_guard import OPEN_DETAIL, ask_to_reveal, journal_then_reveal, show_code_for
from mletui.tui.limits_dialog import LimitsDialog
from mletui.tui.pause_dialog import PauseChoice, PauseScopeDialog
from mletui.tui.screens.file_tree import FileTreeScreen
from mletui.tui.screens.step_detail import StepDetailScreen
from mletui.tui.screens.watch_commands import WatchCommands
from mletui.tui.widgets.budget import BudgetLine
from mletui.tui.widgets.code_pane import CodePane
from mletui.tui.widgets.header import RunHeader
from mletui.tui.widgets.hints_pane import HintsPane
from mletui.tui.widgets.log_view import LogView
from mletui.tui.widgets.pane_tabs import PANES, PaneTabs, layout_for
from mletui.tui.widgets.resources_pane import ResourcesPane
from mletui.tui.widgets.scores_pane import ScoresPane
from mletui.tui.widgets.steps_pane import StepsPane
from mletui.tui.widgets.too_small import TooSmall
from mletui.watch.control import ActionError, unavailable_reason
from mletui.watch.session import (
    Capability,
    ContainerKilling,
    Freezing,
    Hinting,
    Killing,
    LimitSetting,
    PairDiffing,
    PlaybackEvent,
    ProcessKilling,
    ReplayClock,
    ReplayReset,
    ScopedPausing,
    Session,
    SoftPausing,
    ToolCallCancelling,
)
from mletui.watch.steps import code_of

POLL_S = 0.1
POLL_FLOOD_S = 0.005  # while lines pour in
LOG_FRAME_S = 0.2  # the log pane takes a flood's newest lines at most this often
CRAMPED_HEIGHT = 16  # under it a pane's border would take rows its content needs


# The keys that need a capability of the session, and which one.
NEEDS = {
    "toggle_pause": Capability.SOFT_PAUSE,
    "toggle_freeze": Capability.FREEZE,
    "hint": Capability.HINTS,
    "kill": Capability.KILL,
    "reveal_grade": Capability.REVEAL_GRADES,
}
ACTING = ("toggle_pause", "toggle_freeze", "hint", "kill", "limits", "cancel_tool_call")
# Keys whose action is a protocol of the session's control, and which one.
OFFERED = {"limits": LimitSetting, "cancel_tool_call": ToolCallCancelling}


class PlaybackEvents(Message):
    """Where a replay's playback is, or that its panes start over: for a screen with a timeline."""

    def __init__(self, events: Sequence[PlaybackEvent]) -> None:
        super().__init__()
        self.events = events


class SessionEvents(Message):
    """A batch of events read by the session's worker."""

    def __init__(self, events: Sequence[object]) -> None:
        super().__init__()
        self.events = events


class WatchScreen(Screen[None]):
    CSS_PATH = "../styles/watch.tcss"
    COMMANDS = {WatchCommands}
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
            "L", "limits", "Limits", tooltip="change the run's limits, where its source has them"
        ),
        Binding(
            "C",
            "cancel_tool_call",
            "Cancel tool call",
            show=False,
            tooltip="where its source can (Inspect: the model sees it)",
        ),
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
        Binding(
            "s",
            "toggle_steps",
            "Steps",
            show=False,
            tooltip="show / hide the agent's steps (shown once the agent reports one)",
        ),
        Binding(
            "z", "zoom", "Zoom", show=False, tooltip="the focused pane, full screen (again, or Esc)"
        ),
        Binding("tab", "cycle_pane(1)", "Next pane", show=False, tooltip="the next pane"),
        Binding(
            "shift+tab", "cycle_pane(-1)", "Previous pane", show=False, tooltip="the one before"
        ),
        *(
            Binding(
                str(number),
                f"pane('{name}')",
                name.capitalize(),
                show=False,
                tooltip=f"the {name} pane",
            )
            for number, name in enumerate(PANES, start=1)
        ),
        Binding("A", "alerts", "Alerts", show=False, tooltip="this run's alerts first, then all"),
        Binding("question_mark", "help", "Help", tooltip="this help"),
        Binding("q", "quit_watch", "Quit", tooltip="the watcher; the run goes on untouched"),
    ]

    def __init__(self, session: Session, drive: bool = False, show_grades: bool = False) -> None:
        super().__init__()
        self.session = session
        self.drive = drive and Capability.DRIVE in session.capabilities
        self.show_grades = show_grades  # grades openly, without G (the demo; replays)
        self.status: StatusUpdate | None = None
        self.layout_name = "split"  # or "tabbed" (one pane at a time), "too-small"
        self.current_pane = PANES[0]  # the pane shown when one is shown at a time

    def compose(self) -> ComposeResult:
        yield RunHeader()
        yield BudgetLine()
        yield PaneTabs(id="pane-tabs")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                # A replay's session has no live history: its lines come in the order of time.
                yield LogView(self.session.logs)
                yield StepsPane()
            with Vertical(id="right"):
                pair = self.session if isinstance(self.session, PairDiffing) else None
                yield CodePane(self.session.diff, pair_diff=pair.diff_between if pair else None)
                yield ScoresPane(grades_shown=self.show_grades)
                yield ResourcesPane()
                yield HintsPane()
        yield TooSmall(id="too-small")
        yield Footer()

    def on_mount(self) -> None:
        record = self.session.record
        self.query_one(RunHeader).set_run(record.id, record.task, record.agent, record.runtime)
        self.query_one(LogView).border_title = "logs"
        self.query_one(LogView).run_started = record.started
        self.query_one(LogView).focus()
        for name in PANES:
            self.pane(name).add_class("pane")
        self._apply_layout(self.size.width, self.size.height)
        self.query_one(RunHeader).set_own_driver_token(self.session.driver_token)
        self.query_one(ScoresPane).set_origin(record.started or record.created)
        if self.show_grades and record.state not in (RunState.EXITED, RunState.KILLED):
            scores = self.query_one(ScoresPane)
            journal_then_reveal(self, scores, self.session.control, OPEN_DETAIL)
        if self.session.notes.opening:
            self.notify(self.session.notes.opening, markup=False, timeout=10)
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

    def screenshots_folder(self) -> tuple[str, Path]:
        """The palette's screenshots go in the run's folder."""
        folder = self.session.control.folder
        shots: Path = folder.screenshots
        return folder.id, shots

    @work(thread=True, exclusive=True, group="poll", name="session-poll")
    def _poll(self) -> None:
        worker = get_current_worker()
        live_log = self.session.logs is not None
        held: LogBatch | None = None  # a flood's newest lines, waiting for the next log frame
        posted = 0.0
        while not worker.is_cancelled:
            try:
                events = self.session.poll()
            except Exception as exc:  # keep watching: a bad read is a notice, never a crash
                events = [Notice(time.time(), f"reading the run failed: {exc}")]
            playback = [e for e in events if isinstance(e, ReplayReset | ReplayClock)]
            if playback:  # before the events that follow a reset, in the queue's order
                events = [e for e in events if not isinstance(e, ReplayReset | ReplayClock)]
                if not worker.is_cancelled:
                    self.post_message(PlaybackEvents(playback))
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
                case LiveLine():
                    self.query_one(LogView).set_live(event.line)
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
                    if event.tokens_in or event.tokens_out or event.cost is not None:
                        self.query_one(BudgetLine).add_step(event)  # an agent that calls a model
                    self.query_one(StepsPane).add_step(event)
                case ModelOutput():
                    self.query_one(StepsPane).add_output(event)
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
        self.query_one(ResourcesPane).set_run_ended(status.state.ended)
        self.query_one(ScoresPane).set_span(status.wall_s)
        if status.state.ended:  # the agent can learn nothing more: grades are shown
            self.query_one(ScoresPane).reveal_grades()
        if before is None or (before.state, before.observe_only, before.driver_token) != (
            status.state,
            status.observe_only,
            status.driver_token,
        ):
            self.refresh_bindings()

    # --- layout: every pane at once, one at a time, or a sentence -------------------------------

    def pane(self, name: str) -> Widget:
        """The pane called ``name`` (one of :data:`PANES`)."""
        kinds: dict[str, type[Widget]] = {
            "logs": LogView,
            "steps": StepsPane,
            "code": CodePane,
            "scores": ScoresPane,
            "resources": ResourcesPane,
            "hints": HintsPane,
        }
        return self.query_one(kinds[name])

    def focused_pane(self) -> str:
        """The pane that holds the focus, else the one shown."""
        node = self.focused
        while node is not None and node is not self:
            if node.has_class("pane"):
                for name in PANES:
                    if self.pane(name) is node:
                        return name
            node = node.parent if isinstance(node.parent, Widget) else None
        return self.current_pane

    def on_resize(self, event: events.Resize) -> None:
        self._apply_layout(event.size.width, event.size.height)

    def _apply_layout(self, width: int, height: int) -> None:
        if not self.query(PaneTabs):
            return  # not composed yet
        before, self.layout_name = self.layout_name, layout_for(width, height)
        self.set_class(self.layout_name == "tabbed", "-tabbed")
        self.query_one(TooSmall).fit(width, height)
        self.set_class(height < CRAMPED_HEIGHT, "-cramped")
        if self.layout_name == "tabbed" and before != "tabbed":
            self._show_pane(self.focused_pane())

    def _show_pane(self, name: str) -> None:
        self.current_pane = name
        for each in PANES:
            self.pane(each).set_class(each == name, "-current")
        shown = self.pane(name)
        for column in self.query("#body > Vertical"):
            column.set_class(shown in column.children, "-holds-current")
        self.query_one(PaneTabs).show(name)
        self.call_after_refresh(self._focus_in, shown)

    def _focus_in(self, pane: Widget) -> None:
        if pane.focusable or pane.has_focus_within:
            if not pane.has_focus_within:
                pane.focus()
            return
        for widget in pane.query("*"):
            if widget.focusable and widget.display:
                widget.focus()
                return

    def action_pane(self, name: str) -> None:
        """Show (one at a time) or focus (all at once) the pane called ``name``."""
        if self.maximized is not None:
            self.minimize()
        steps = self.query_one(StepsPane)
        if name == "steps" and self.layout_name == "split" and not steps.has_class("-active"):
            steps.toggle()
        if self.layout_name == "tabbed":
            self._show_pane(name)
        else:
            self.current_pane = name
            self.call_after_refresh(self._focus_in, self.pane(name))

    def action_cycle_pane(self, step: int) -> None:
        names = list(PANES)
        if self.layout_name == "split" and not self.query_one(StepsPane).has_class("-active"):
            names.remove("steps")  # hidden: Tab passes it by
        here = self.focused_pane()
        index = names.index(here) if here in names else 0
        self.action_pane(names[(index + step) % len(names)])

    def action_zoom(self) -> None:
        """The focused pane full screen, or back (also Esc)."""
        if self.maximized is not None:
            self.minimize()
            return
        self.maximized = self.pane(self.focused_pane())  # any pane, focusable or not

    # --- which keys can act -------------------------------------------------------------------

    def reason_unavailable(self, action: str) -> str | None:
        needs = NEEDS.get(action)
        if needs is not None and (why := self.session.unavailable(needs, self.status)):
            return why
        if needs is not None and needs not in self.session.capabilities:
            return "this run's source cannot do that"
        if action not in ACTING:
            return None
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
        control = self.session.control
        if action == "kill" and isinstance(control, ProcessKilling) and control.process_killable():
            return None  # asked twice: the run's process, whatever the sample's state
        if action in ("hint", "kill", "cancel_tool_call"):
            return unavailable_reason("kill" if action == "kill" else "hint", self.status)
        return None

    def _driven_by_other(self) -> str | None:
        status = self.status
        if status is None or status.driver_token in (None, self.session.driver_token):
            return None
        return f"{status.driver} drives this run; you are watching"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        offered = OFFERED.get(action)
        if offered is not None and not isinstance(self.session.control, offered):
            return False
        needs = NEEDS.get(action)
        if needs is not None and needs not in self.session.capabilities:
            return False  # hidden from the footer; pressing the key says why (the app's fallback)
        if action in ACTING:
            # None: shown greyed out in the footer; the key then reaches the app, which says why.
            return None if self.reason_unavailable(action) else True
        return True

    # --- actions ------------------------------------------------------------------------------

    # A key runs its action only when the session has its capability (check_action), and a
    # session's control has the actions its capabilities name.

    def action_toggle_pause(self) -> None:
        assert self.status is not None
        control = self.session.control
        if isinstance(control, ScopedPausing):
            self._pause_at_scope(control)
            return
        assert isinstance(control, SoftPausing)
        paused = self.status.state in (RunState.PAUSE_REQUESTED, RunState.PAUSED)
        if paused:
            self._act(control.resume, "Soft pause lifted.")
        else:
            self._act(control.pause, "Soft pause requested: at the next checkpoint.")

    def _pause_at_scope(self, control: ScopedPausing) -> None:
        def chosen(choice: PauseChoice | None) -> None:
            if choice is None:
                return
            if choice.resume:
                held = list(control.paused_scopes())

                def resume_each() -> None:
                    for scope in held:
                        control.resume(scope)

                self._act(resume_each, "Pause lifted.")
                return
            how = "hard (now)" if choice.now else "soft"
            self._act(
                lambda: control.pause(choice.scope, choice.now),
                f"Pause ({how}) of the {choice.scope} requested.",
            )

        held = control.paused_scopes()
        self.app.push_screen(PauseScopeDialog(control.pause_scopes(), held), chosen)

    def action_toggle_freeze(self) -> None:
        assert self.status is not None
        control, notes = self.session.control, self.session.notes
        assert isinstance(control, Freezing)
        if self.status.state is RunState.FROZEN:
            self._act(control.thaw, notes.thawed)
        else:
            self._act(control.freeze, notes.frozen)

    def action_hint(self) -> None:
        control = self.session.control
        assert isinstance(control, Hinting)

        def send(text: str | None) -> None:
            if text:
                self._act(lambda: control.hint(text), "Hint sent.")

        self.app.push_screen(HintDialog(), send)

    def action_kill(self) -> None:
        control, notes = self.session.control, self.session.notes
        assert isinstance(control, Killing)
        if Capability.KILL_CONTAINER in self.session.capabilities:
            assert isinstance(control, ContainerKilling)

            def chosen(what: str | None) -> None:
                if what == AGENT:
                    self._act(control.kill, notes.killed)
                elif what == CONTAINER:
                    self._act(control.kill_container, notes.container_killed)

            dialog = KillChoiceDialog(notes.kill_title, notes.kill_choices, notes.kill_buttons)
            self.app.push_screen(dialog, chosen)
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act(control.kill, notes.killed)

        self.app.push_screen(ConfirmKillDialog(), confirmed)

    def action_limits(self) -> None:
        control = self.session.control
        assert isinstance(control, LimitSetting)

        def chosen(limits: dict[str, int | str] | None) -> None:
            if limits:
                said = ", ".join(f"{k} {v}" for k, v in limits.items())
                self._act(lambda: control.set_limits(**limits), f"Limits set: {said}.")

        self.app.push_screen(LimitsDialog(control.limit_names()), chosen)

    def action_cancel_tool_call(self) -> None:
        control = self.session.control
        assert isinstance(control, ToolCallCancelling)
        self._act(control.cancel_tool_call, "Cancel of the running tool call sent.")

    def action_reveal_grade(self) -> None:
        ask_to_reveal(self, self.query_one(ScoresPane), self.session.control)

    def on_scores_pane_score_chosen(self, message: ScoresPane.ScoreChosen) -> None:
        if not show_code_for(self.query_one(CodePane), message):
            self.notify("No code snapshot was recorded before that score.", markup=False)

    def on_code_pane_files_wanted(self, message: CodePane.FilesWanted) -> None:
        pane = message.code_pane
        self.app.push_screen(FileTreeScreen(pane.snapshots, message.seq, pane.diff_provider))

    def on_steps_pane_now_changed(self, message: StepsPane.NowChanged) -> None:
        self.query_one(RunHeader).set_now(message.text)

    def action_toggle_steps(self) -> None:
        self.query_one(StepsPane).toggle()

    def on_steps_pane_step_chosen(self, message: StepsPane.StepChosen) -> None:
        book = message.pane.book
        step = book.steps.get(message.step)
        if step is None:
            return
        code = self.query_one(CodePane)
        pair = self.session if isinstance(self.session, PairDiffing) else None
        mine = code_of(code.snapshots, step)
        if mine is not None:  # the code pane moves to the step's code, as for a score
            code.select_seq(mine.seq)
        self.query_one(ScoresPane).show_step(step.step)
        self.app.push_screen(
            StepDetailScreen(
                step,
                book.parent_or_previous(step.step),
                book.text_of(step.step),
                self.session.logs,
                code.snapshots,
                pair.diff_between if pair else None,
            )
        )

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

    def action_alerts(self) -> None:
        from mletui.tui.screens.alerts_list import AlertsScreen
        from mletui.tui.screens.overview import OverviewScreen

        own = self.session.record.id

        def chosen(run_id: str | None) -> None:
            if run_id is None or run_id == own:
                return
            # Only a watcher started on the overview goes back there to open another run.
            if not any(isinstance(s, OverviewScreen) for s in self.app.screen_stack):
                self.notify(
                    f"Run {run_id} is not opened from here: watch it with mletui watch {run_id}.",
                    markup=False,
                )
                return
            self.action_quit_watch()
            self.app.post_message(OverviewScreen.OpenRun(run_id))

        self.app.push_screen(AlertsScreen(own), chosen)

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
