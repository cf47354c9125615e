"""The hints pane: hints sent to the agent and what became of them, and recent operator actions."""

from __future__ import annotations

from collections import deque
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Label, Static

from mletui.core.clock import wall_clock
from mletui.core.events import ActionRecord, HintStatus, HintsUpdate
from mletui.tui.format import BakedStyles, printable

MAX_ACTIONS = 50
"""Recent operator actions kept on screen (the journal keeps them all)."""
FOLD_LINES = 3
FOLD_CHARS = 240
"""A hint longer than this is folded to its start until Enter unfolds it (a hint may be 8 KB)."""


def folded(text: str) -> tuple[str, int]:
    """The start of a long hint, and how many of its characters are left out (0: shown whole)."""
    head = "\n".join(text.splitlines()[:FOLD_LINES])[:FOLD_CHARS]
    if head == text:
        return text, 0
    return head, len(text) - len(head)


class HintsPane(VerticalScroll, BakedStyles):
    """Each hint with its progress (sent → received → used/ignored) and the agent's answer,
    then the operator's recent actions."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "toggle_fold", "Unfold/fold hints", tooltip="show long hints whole"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "hints-pane--sent",
        "hints-pane--received",
        "hints-pane--used",
        "hints-pane--ignored",
        "hints-pane--muted",
        "hints-pane--kill",
    }

    DEFAULT_CSS = """
    HintsPane {
        height: 1fr;
        background: $surface;
        & > .hints-pane-heading {
            width: 1fr;
            padding: 0 1;
            background: $panel;
            color: $foreground;
            text-style: bold;
        }
        & > Static {
            padding: 0 1;
        }
        & > .hints-pane--sent { color: $foreground-muted; }
        & > .hints-pane--received { color: $text-primary; }
        & > .hints-pane--used { color: $text-success; }
        & > .hints-pane--ignored { color: $text-warning; }
        & > .hints-pane--muted { color: $foreground-muted; }
        & > .hints-pane--kill { color: $text-error; }
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
        self._hints: tuple[HintStatus, ...] = ()
        self._actions: deque[ActionRecord] = deque(maxlen=MAX_ACTIONS)
        self.unfolded = False

    def compose(self) -> ComposeResult:
        yield Label(Text("Hints"), classes="hints-pane-heading")
        yield Static(id="hints-list")
        yield Label(Text("Operator actions"), classes="hints-pane-heading")
        yield Static(id="hints-actions")

    def on_mount(self) -> None:
        self._render_hints()
        self._render_actions()

    # -- public API ------------------------------------------------------------------------

    @property
    def hints(self) -> tuple[HintStatus, ...]:
        return self._hints

    @property
    def actions(self) -> tuple[ActionRecord, ...]:
        """Recent operator actions, oldest first."""
        return tuple(self._actions)

    def update_hints(self, update: HintsUpdate) -> None:
        """Show the hints' current state (the update carries all of them)."""
        if update.hints == self._hints:
            return
        self._hints = update.hints
        if self.is_mounted:
            self._render_hints()

    def action_toggle_fold(self) -> None:
        """Long hints whole, or folded to their start again."""
        self.unfolded = not self.unfolded
        self._render_hints()

    def add_action(self, action: ActionRecord) -> None:
        """Add an operator action to the recent list."""
        self._actions.append(action)
        if self.is_mounted:
            self._render_actions()

    # -- rendering -------------------------------------------------------------------------

    def _redraw_styled(self) -> None:
        self._render_hints()
        self._render_actions()

    def _status_style(self, status: str) -> Style:
        name = f"hints-pane--{status}"
        if name in self.COMPONENT_CLASSES:
            return self._style(name)
        return self._style("hints-pane--muted")

    def _progress(self, hint: HintStatus) -> Text:
        """``sent › received › used``: the steps reached lit, the rest dim."""
        reached = {"sent": 1, "received": 2, "used": 3, "ignored": 3}.get(hint.status, 1)
        muted = self._style("hints-pane--muted")
        out = Text()
        for index, step in enumerate(("sent", "received", hint.status), start=1):
            if index == 3 and hint.status not in ("used", "ignored"):
                step = "used/ignored"
            if index > 1:
                out.append(" › ", muted)
            style = self._status_style(step) if index <= reached else muted
            out.append(step, style + Style(bold=index == reached))
        return out

    def _render_hints(self) -> None:
        muted = self._style("hints-pane--muted")
        out = Text(end="")
        if not self._hints:
            out.append("No hints sent yet.", muted + Style(italic=True))
        for number, hint in enumerate(self._hints):
            if number:
                out.append("\n\n")
            out.append(wall_clock(hint.sent_ts) + "  ", muted)
            out.append_text(self._progress(hint))
            out.append("\n")
            text, left_out = (hint.text, 0) if self.unfolded else folded(hint.text)
            out.append(printable(text))
            if left_out:
                out.append(f"… ({left_out:,} more characters: Enter shows all)", muted)
            if hint.answer:
                out.append("\n↳ ", muted)
                out.append(printable(hint.answer), self._status_style(hint.status))
        self.query_one("#hints-list", Static).update(out)

    def _render_actions(self) -> None:
        muted = self._style("hints-pane--muted")
        out = Text(end="")
        if not self._actions:
            out.append("No actions yet.", muted + Style(italic=True))
        for number, action in enumerate(reversed(self._actions)):
            if number:
                out.append("\n")
            out.append(wall_clock(action.ts) + "  ", muted)
            style = self._style("hints-pane--kill") if action.action == "kill" else Style()
            out.append(f"{action.action:<6} ", style + Style(bold=True))
            out.append(printable(action.operator), muted)
            if action.detail:
                out.append("  ")
                out.append(printable(action.detail))
        self.query_one("#hints-actions", Static).update(out)
