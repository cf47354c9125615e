"""The limits dialog of a source whose limits change while the run goes on (an Inspect task's
per-sample time, token and message limits): ``name=value`` pairs, ``clear`` lifts one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Input, Label

from mletui.tui.dialogs import Dialog

Limits = dict[str, int | str]


def parse_limits(text: str, names: Sequence[str]) -> Limits:
    """``time_limit=600 token_limit=clear`` as {name: 600, ...}; ValueError with a sentence."""
    limits: Limits = {}
    for word in text.replace(",", " ").split():
        name, eq, value = word.partition("=")
        if not eq or name not in names:
            raise ValueError(f"Type name=value with a name of: {', '.join(names)}.")
        if value == "clear":
            limits[name] = value
        elif value.isdigit() and 0 < int(value) < 1 << 62:
            limits[name] = int(value)
        else:
            raise ValueError(f"{name} takes a whole number above 0, or clear.")
    if not limits:
        raise ValueError(f"Type name=value with a name of: {', '.join(names)}.")
    return limits


class LimitsDialog(Dialog[Limits | None]):
    """Asks for the limits to set; dismisses with them, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__()
        self._names = list(names)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Change the limits"), classes="dialog-title")
            yield Input(placeholder="e.g. time_limit=600 token_limit=clear", id="limits-input")
            yield Label(
                Text(
                    f"{', '.join(self._names)}: a number (seconds for time), or clear. "
                    "Enter sets · Esc cancels · every sample of the task has them at once"
                ),
                classes="dialog-help",
                id="limits-help",
            )

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#limits-input")
    def _on_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            limits = parse_limits(event.value, self._names)
        except ValueError as exc:
            self.query_one("#limits-help", Label).update(Text(str(exc)))
            self.app.bell()
            return
        self.dismiss(limits)

    def action_cancel(self) -> None:
        self.dismiss(None)
