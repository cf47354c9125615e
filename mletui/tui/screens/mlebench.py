"""The watch screen over an MLE-bench run: the same panes; freeze, thaw and kill act on its
container (kill: the agent's processes, or on a separate choice the container itself); soft pause
and hints are off (observe-only)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from mletui.core.events import RunState
from mletui.integrations.mlebench.grading import HostGrader, data_folder
from mletui.integrations.mlebench.runs import MlebenchRun
from mletui.integrations.mlebench.session import NO_CONTAINER, MlebenchSession
from mletui.tui.dialogs import DIALOG_CSS
from mletui.tui.screens.watch import WatchScreen

FROZEN_NOTE = (
    "Frozen (docker pause): MLE-bench's grading server is frozen too, and the harness's wall "
    "clock (its time limit) keeps counting."
)
KILLED_NOTE = (
    "Kill sent to the agent's processes in the container (SIGTERM, SIGKILL after 10 s); "
    "MLE-bench still saves the outputs and removes the container."
)
CONTAINER_KILLED_NOTE = (
    "Container killed (docker kill). MLE-bench may not be able to copy the outputs out."
)
AGENT, CONTAINER = "agent", "container"


class KillChoiceDialog(ModalScreen[str | None]):
    """Kill what? The agent's processes (MLE-bench still saves the outputs), or, as a separate
    choice, the container itself. Dismisses with ``"agent"``, ``"container"`` or ``None``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a,y", "choose('agent')", "Kill the agent"),
        Binding("c", "choose('container')", "Kill the container"),
        Binding("n,escape", "choose('')", "Cancel"),
    ]

    DEFAULT_CSS = (
        "KillChoiceDialog {"
        + DIALOG_CSS
        + """
    & > Vertical { border: thick $error 80%; }
    & .dialog-title { color: $error; }
}"""
    )

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Kill this MLE-bench run?"), classes="dialog-title")
            yield Static(
                Text(
                    "a  the agent: SIGTERM to its processes in the container, SIGKILL after "
                    "10 s. MLE-bench then still copies code, logs and submission out.\n"
                    "c  the container itself (docker kill): the grading server stops too, and "
                    "MLE-bench may lose the outputs.\n"
                    "Neither can be undone; the journal records who did it."
                )
            )
            yield Label(
                Text("a or Enter kills the agent · c kills the container · n or Esc cancels"),
                classes="dialog-help",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="kill-cancel")
                yield Button("Kill the container", variant="warning", id="kill-container")
                yield Button("Kill the agent", variant="error", id="kill-agent")

    def on_mount(self) -> None:
        self.query_one("#kill-agent", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_choose((event.button.id or "").removeprefix("kill-"))

    def action_choose(self, what: str) -> None:
        self.dismiss(what if what in (AGENT, CONTAINER) else None)


_WHY = {
    "toggle_pause": "soft pause unavailable: MLE-bench's agents are observe-only",
    "hint": "hints unavailable: MLE-bench's agents are observe-only",
}


class MlebenchWatchScreen(WatchScreen):
    """A :class:`WatchScreen` fed by a :class:`MlebenchSession`."""

    def __init__(self, run: MlebenchRun, session: MlebenchSession | None = None) -> None:
        self.mlebench = session or MlebenchSession(run, grader=HostGrader(data_folder()))
        super().__init__(self.mlebench.folder, session=self.mlebench)

    def on_mount(self) -> None:
        # WatchScreen.on_mount runs too (Textual calls each class's handler).
        if self.mlebench.run.state in ("queued", "running"):
            self.notify(
                "MLE-bench run. While it runs, code and AIDE's scores are read from its "
                "container when the Docker Engine answers (else at the end).",
                markup=False,
                timeout=10,
            )

    def reason_unavailable(self, action: str) -> str | None:
        if action in _WHY:
            return _WHY[action]
        if action in ("toggle_freeze", "kill") and self.mlebench.container is None:
            if self.status is not None and self.status.state.ended:
                return super().reason_unavailable(action)
            what = "kill" if action == "kill" else "freeze"
            return f"{what} unavailable: {NO_CONTAINER}"
        return super().reason_unavailable(action)

    def action_toggle_freeze(self) -> None:
        assert self.status is not None
        control = self.mlebench.control
        if self.status.state is RunState.FROZEN:
            self._act(control.thaw, "Thawed (docker unpause).")
        else:
            self._act(control.freeze, FROZEN_NOTE)

    def action_kill(self) -> None:
        control = self.mlebench.container_control

        def chosen(what: str | None) -> None:
            if what == AGENT:
                self._act(control.kill, KILLED_NOTE)
            elif what == CONTAINER:
                self._act(control.kill_container, CONTAINER_KILLED_NOTE)

        self.app.push_screen(KillChoiceDialog(), chosen)
