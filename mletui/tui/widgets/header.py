"""The run header: which run this is, its state pill and its clocks, on one line."""

from __future__ import annotations

import time
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from mletui.core.clock import duration
from mletui.core.events import RunState, StallFlag, StatusUpdate, state_text
from mletui.run.stalls import flag_label
from mletui.tui.format import append_time_left, component_style, printable, short_name

# One component class per state colour; the theme decides the actual colours.
_PILL_CLASS: dict[RunState, str] = {
    RunState.QUEUED: "run-header--starting",
    RunState.STARTING: "run-header--starting",
    RunState.RUNNING: "run-header--running",
    RunState.PAUSE_REQUESTED: "run-header--paused",
    RunState.PAUSED: "run-header--paused",
    RunState.FROZEN: "run-header--frozen",
    RunState.EXITED: "run-header--exited",
    RunState.KILLED: "run-header--killed",
    RunState.LOST: "run-header--lost",
}


class RunHeader(Widget):
    """One line: state pill, run id, task, agent, runtime, clocks, observe-only badge."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *_PILL_CLASS.values(),
        "run-header--label",
        "run-header--badge",
    }

    DEFAULT_CSS = """
    RunHeader {
        height: 1;
        width: 1fr;
        background: $panel;
        color: $foreground;
        & > .run-header--starting,
        & > .run-header--running,
        & > .run-header--paused,
        & > .run-header--frozen,
        & > .run-header--exited,
        & > .run-header--killed,
        & > .run-header--lost {
            color: auto 90%;
            text-style: bold;
        }
        & > .run-header--starting { background: $foreground 30%; }
        & > .run-header--running { background: $success; }
        & > .run-header--paused { background: $warning; }
        & > .run-header--frozen { background: $primary; }
        & > .run-header--exited { background: $foreground 45%; }
        & > .run-header--killed { background: $error; }
        & > .run-header--lost { background: $secondary; }
        & > .run-header--label { color: $foreground-muted; }
        & > .run-header--badge {
            color: $warning;
            text-style: bold reverse;
        }
    }
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._run_id = ""
        self._task_name = ""
        self._agent = ""
        self._runtime = ""
        self._status: StatusUpdate | None = None
        self._view: tuple[object, ...] = ()
        self._stalls: dict[str, StallFlag] = {}  # raised stall flags, by flag
        self._own_token: str | None = None  # this watcher's driver-lock token
        self._now = ""  # what the agent is doing this second, from its own reports

    @property
    def status(self) -> StatusUpdate | None:
        """The last status shown."""
        return self._status

    def set_run(self, run_id: str, task: str, agent: str, runtime: str) -> None:
        """Name the run shown (from run.json)."""
        self._run_id, self._task_name, self._agent, self._runtime = run_id, task, agent, runtime
        self._refresh_if_changed()

    def set_own_driver_token(self, token: str | None) -> None:
        """Let the header tell "you drive" from another operator driving."""
        self._own_token = token
        self._refresh_if_changed()

    def update_status(self, status: StatusUpdate) -> None:
        """Show a new status; the widget redraws only if what it shows changed."""
        self._status = status
        self._refresh_if_changed()

    def _view_key(self) -> tuple[object, ...]:
        status = self._status
        if status is None:
            return (self._run_id, self._task_name, self._agent, self._runtime)
        return (
            self._run_id,
            self._task_name,
            self._agent,
            self._runtime,
            state_text(status),
            status.state,
            duration(status.wall_s, "—"),
            duration(status.active_s, "—"),
            duration(status.time_left_s, "—"),
            status.observe_only,
            status.agent_name,
            status.driver,
            status.driver_token == self._own_token,
            status.engine_status,
        )

    def set_now(self, text: str) -> None:
        """What the agent is doing now ("now: step 3 (debug) · waiting for the model · 0:12")."""
        self._now = text
        self._refresh_if_changed()

    def update_stall(self, flag: StallFlag) -> None:
        """A stall flag raised or cleared (from the journal); raised ones show as badges."""
        if flag.active:
            self._stalls[flag.flag] = flag
        else:
            self._stalls.pop(flag.flag, None)
        self._refresh_if_changed()

    def stall_labels(self) -> list[str]:
        """The raised stall flags as shown ("GPU idle 14 min"); none once the run has ended."""
        if self._status is not None and self._status.state in (RunState.EXITED, RunState.KILLED):
            return []
        now = time.time()
        return [flag_label(f, now) for f in self._stalls.values()]

    def _refresh_if_changed(self) -> None:
        view = (*self._view_key(), *self.stall_labels(), self._now)
        if view != self._view:
            self._view = view
            self.refresh()

    def _pill_style(self, state: RunState) -> Style:
        return self.get_component_rich_style(_PILL_CLASS[state])

    def render(self) -> Text:
        label = component_style(self, "run-header--label")
        out = Text(no_wrap=True, overflow="ellipsis", end="")
        status = self._status
        if status is not None:
            out.append(f" {state_text(status)} ", self._pill_style(status.state))
            out.append(" ")
        fields: list[tuple[str, str]] = [
            ("run", self._run_id),
            ("task", self._task_name),
            ("agent", self._agent),
            ("on", self._runtime),
        ]
        if status is not None and status.agent_name and status.agent_name != self._agent:
            fields[2] = ("agent", f"{self._agent} (says: {status.agent_name})")
        for name, value in fields:
            if value:
                out.append(f" {name} ", label)
                out.append(short_name(value))
        if status is not None:
            out.append("  │ ", label)
            out.append(" wall ", label)
            out.append(duration(status.wall_s, "—"))
            out.append(" active ", label)
            out.append(duration(status.active_s, "—"))
            append_time_left(out, status, label)
            if status.observe_only:
                out.append("  ")
                out.append(" observe-only ", self.get_component_rich_style("run-header--badge"))
            if status.engine_status:  # docker: the supervisor is reconnecting to the Engine
                out.append("  ")
                badge = self.get_component_rich_style("run-header--badge")
                out.append(" ⚠ Docker Engine unreachable: reconnecting ", badge)
            if status.driver_token is not None and status.driver_token == self._own_token:
                out.append("  you drive", label)
            elif status.driver is not None:
                out.append("  watching · driver ", label)
                out.append(short_name(status.driver))
        for stall in self.stall_labels():
            out.append("  ")
            out.append(f" ⚠ {stall} ", self.get_component_rich_style("run-header--badge"))
        if self._now:
            out.append("  │ ", label)
            out.append(printable(self._now))
        return out
