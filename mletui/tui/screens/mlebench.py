"""The watch screen over an MLE-bench run: the same panes; freeze, thaw and kill act on its
container (kill: the agent's processes only); soft pause and hints are off (observe-only)."""

from __future__ import annotations

from mletui.mlebench.runs import MlebenchRun
from mletui.mlebench.session import NO_CONTAINER, MlebenchSession
from mletui.tui.dialogs import ConfirmKillDialog
from mletui.tui.screens.watch import WatchScreen

FROZEN_NOTE = (
    "Frozen (docker pause): MLE-bench's grading server is frozen too, and the harness's wall "
    "clock (its time limit) keeps counting."
)
KILLED_NOTE = (
    "Kill sent to the agent's processes in the container (SIGTERM, SIGKILL after 10 s); "
    "MLE-bench still saves the outputs and removes the container."
)
_WHY = {
    "toggle_pause": "soft pause unavailable: MLE-bench's agents are observe-only",
    "hint": "hints unavailable: MLE-bench's agents are observe-only",
}


class MlebenchWatchScreen(WatchScreen):
    """A :class:`WatchScreen` fed by a :class:`MlebenchSession`."""

    def __init__(self, run: MlebenchRun, session: MlebenchSession | None = None) -> None:
        self.mlebench = session or MlebenchSession(run)
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
        if self.status.state.value == "frozen":
            self._act(control.thaw, "Thawed (docker unpause).")
        else:
            self._act(control.freeze, FROZEN_NOTE)

    def action_kill(self) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act(self.mlebench.control.kill, KILLED_NOTE)

        self.app.push_screen(ConfirmKillDialog(), confirmed)
