"""The watch screen's side of grades: the leakage guard's reveal, and showing a score's code.

A held-out grade is information an agent must not get through its overseer, so a watch session
hides grade values until the operator presses ``R`` and confirms; the reveal is written to the
journal (an ``action`` entry, ``reveal-grade``) before anything is shown, and marks the run as
"grade seen by operator" in ``ls``, ``show`` and ``audit``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.screen import Screen

from mletui.core.events import RunState
from mletui.tui.dialogs import ConfirmDialog
from mletui.tui.widgets.code_pane import CodePane
from mletui.tui.widgets.scores_pane import ScoresPane
from mletui.watch.session import Control

REVEAL_KEY = "R"
REVEAL_DETAIL = "G in the watch screen"
OPEN_DETAIL = "grades shown openly (mletui demo)"
ENDED = (RunState.EXITED, RunState.KILLED)


class RevealGradeDialog(ConfirmDialog):
    """Asks before a grade is revealed. Dismisses with ``True`` to reveal."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Reveal"),
        Binding("n,escape", "cancel", "Cancel"),
    ]

    def __init__(self, run_id: str = "") -> None:
        run = f" of run {run_id}" if run_id else ""
        super().__init__(
            "reveal",
            f"Reveal the held-out grade{run}?",
            "The grade is the score of the agent's submission on the task's private "
            "answers. Once you have seen it, anything you tell the agent may leak it, "
            "so the journal records that you saw it and the run is marked "
            '"grade seen by operator". Grades stay shown for the rest of this session.',
            "y reveals · n or Esc keeps it hidden",
            confirm=("Reveal", "warning"),
            cancel="Keep hidden",
            focus_confirm=False,
        )


def ask_to_reveal(screen: Screen[Any], pane: ScoresPane, control: Control) -> None:
    """``R``: confirm, journal the reveal (in a thread), then show the grades."""
    if pane.grades_shown:
        screen.notify("Grades are already shown in this session.", markup=False)
        return
    if control.folder.read().state in ENDED:  # a replay of a finished run: nothing to guard
        pane.reveal_grades()
        screen.notify("The run has ended: its grades are shown to everyone.", markup=False)
        return

    def answered(yes: bool | None) -> None:
        if yes:
            journal_then_reveal(screen, pane, control, REVEAL_DETAIL)

    screen.app.push_screen(RevealGradeDialog(control.folder.id), answered)


def journal_then_reveal(
    screen: Screen[Any], pane: ScoresPane, control: Control, detail: str
) -> None:
    """Write the ``reveal-grade`` action (fsynced), and only then show the grades."""

    def work() -> None:
        try:
            control.reveal_grade(detail)
        except OSError as exc:
            screen.app.call_from_thread(
                screen.notify,
                f"Could not journal the reveal ({exc}); the grade stays hidden.",
                severity="error",
                markup=False,
            )
            return
        screen.app.call_from_thread(pane.reveal_grades)
        if detail == REVEAL_DETAIL:
            screen.app.call_from_thread(
                screen.notify, "Grade revealed; the journal records that you saw it.", markup=False
            )

    screen.run_worker(work, thread=True, group="actions", name="reveal-grade")


def show_code_for(code: CodePane, chosen: ScoresPane.ScoreChosen) -> bool:
    """Move the code pane to the snapshot behind a chosen score; False when there is none."""
    seq = chosen.snapshot_seq
    if seq is None:  # an older journal: the snapshot current at the score's time
        earlier = [s.seq for s in code.snapshots if s.ts <= chosen.ts]
        seq = earlier[-1] if earlier else None
    if seq is None or all(s.seq != seq for s in code.snapshots):
        return False
    code.select_seq(seq)
    return True
