"""Modal dialogs of the watch screen: send a hint, confirm an action (a kill), choose what to
kill, list the keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static
from textual.widgets.button import ButtonVariant

from mletui.tui.format import printable

MAX_HINT_CHARS = 4_000

DIALOG_CSS = """
    align: center middle;
    & > Vertical {
        width: 72;
        max-width: 90%;
        height: auto;
        padding: 1 2;
        background: $panel;
        border: thick $primary 80%;
    }
    & .dialog-title {
        width: 1fr;
        text-style: bold;
        margin-bottom: 1;
    }
    & .dialog-help {
        width: 1fr;
        color: $foreground-muted;
        margin-top: 1;
    }
    & .dialog-buttons {
        width: 1fr;
        height: auto;
        align-horizontal: right;
        margin-top: 1;
        & > Button {
            margin-left: 2;
        }
    }
"""


class HintDialog(ModalScreen[str | None]):
    """Asks for a hint. Dismisses with the text (stripped), or ``None`` when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = "HintDialog {" + DIALOG_CSS + "}"

    def __init__(self, run_id: str = "", *, initial: str = "") -> None:
        super().__init__()
        self._run_id = run_id
        self._initial = initial

    def compose(self) -> ComposeResult:
        title = f"Hint for run {self._run_id}" if self._run_id else "Hint for the agent"
        with Vertical():
            yield Label(Text(printable(title)), classes="dialog-title")
            yield Input(
                self._initial,
                placeholder="e.g. try gradient boosting on the numeric columns",
                max_length=MAX_HINT_CHARS,
                id="hint-input",
            )
            yield Label(
                Text("Enter sends · Esc cancels · the agent sees it at its next checkpoint"),
                classes="dialog-help",
                id="hint-help",
            )

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#hint-input")
    def _on_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self.query_one("#hint-help", Label).update(
                Text("Type a hint first, or press Esc to cancel.")
            )
            self.app.bell()
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(ModalScreen[bool]):
    """Asks a yes-or-no question. Dismisses with ``True`` on yes, ``False`` on no.

    A subclass binds ``y`` to ``confirm`` and ``n``/Esc to ``cancel`` under its own labels, and
    says what is asked; its buttons are ``#<kind>-confirm`` and ``#<kind>-cancel``.
    """

    DEFAULT_CSS = "ConfirmDialog {" + DIALOG_CSS + "}"

    def __init__(
        self,
        kind: str,
        title: str,
        body: str,
        keys_help: str,
        *,
        confirm: tuple[str, ButtonVariant],
        cancel: str,
        focus_confirm: bool,
    ) -> None:
        super().__init__()
        self._kind = kind
        self._title = title
        self._body = body
        self._keys_help = keys_help
        self._confirm = confirm
        self._cancel = cancel
        self._focus_confirm = focus_confirm

    def compose(self) -> ComposeResult:
        label, variant = self._confirm
        with Vertical():
            yield Label(Text(self._title), classes="dialog-title")
            yield Static(Text(self._body))
            yield Label(Text(self._keys_help), classes="dialog-help")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._cancel, id=f"{self._kind}-cancel")
                yield Button(label, variant=variant, id=f"{self._kind}-confirm")

    def on_mount(self) -> None:
        focused = "confirm" if self._focus_confirm else "cancel"
        self.query_one(f"#{self._kind}-{focused}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == f"{self._kind}-confirm")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class ConfirmKillDialog(ConfirmDialog):
    """Asks before a kill. Dismisses with ``True`` to kill, ``False`` to keep the run."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Kill"),
        Binding("n,escape", "cancel", "Cancel"),
    ]

    DEFAULT_CSS = """
    ConfirmKillDialog {
        & > Vertical { border: thick $error 80%; }
        & .dialog-title { color: $error; }
    }
    """

    def __init__(self, run_id: str = "", *, grace_s: float = 10.0) -> None:
        title = f"Kill run {run_id}?" if run_id else "Kill this run?"
        super().__init__(
            "kill",
            printable(title),
            f"The run gets SIGTERM now, then SIGKILL if it is still running after "
            f"{grace_s:g} s. A paused or frozen run is killed too. This cannot be undone; "
            f"the journal records who killed it.",
            "y or Enter kills · n or Esc keeps it running",
            confirm=("Kill", "error"),
            cancel="Cancel",
            focus_confirm=True,
        )


AGENT, CONTAINER = "agent", "container"


class KillChoiceDialog(ModalScreen[str | None]):
    """Kill what? The agent's processes, or, as a separate choice, the container itself (for a
    session that can kill its container). Dismisses with ``"agent"``, ``"container"`` or
    ``None``."""

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

    def __init__(
        self,
        title: str = "Kill this run?",
        choices: str = (
            "a  the agent: SIGTERM to its processes in the container, SIGKILL after 10 s.\n"
            "c  the container itself (docker kill).\n"
            "Neither can be undone; the journal records who did it."
        ),
        buttons: tuple[str, str] = ("Kill the agent", "Kill the container"),
    ) -> None:
        """``buttons``: what the first (a) and the second (c) choice do, in a few words."""
        super().__init__()
        self._title = title
        self._choices = choices
        self._buttons = buttons

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self._title), classes="dialog-title")
            yield Static(Text(self._choices))
            first, second = self._buttons
            yield Label(
                Text(f"a or Enter: {first.lower()} · c: {second.lower()} · n or Esc cancels"),
                classes="dialog-help",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="kill-cancel")
                yield Button(second, variant="warning", id="kill-container")
                yield Button(first, variant="error", id="kill-agent")

    def on_mount(self) -> None:
        self.query_one("#kill-agent", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_choose((event.button.id or "").removeprefix("kill-"))

    def action_choose(self, what: str) -> None:
        self.dismiss(what if what in (AGENT, CONTAINER) else None)


class HelpScreen(ModalScreen[None]):
    """Lists the keys it is given; Esc, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close"),
    ]

    DEFAULT_CSS = (
        "HelpScreen {"
        + DIALOG_CSS
        + """
    & #help-keys { width: 1fr; height: auto; }
}"""
    )

    def __init__(self, keys: Sequence[tuple[str, str]], *, title: str = "Keys") -> None:
        super().__init__()
        self._keys = tuple(keys)
        self._title = title

    def compose(self) -> ComposeResult:
        width = max((len(key) for key, _ in self._keys), default=0)
        table = Text(end="")
        for number, (key, description) in enumerate(self._keys):
            if number:
                table.append("\n")
            table.append(key.rjust(width), "bold")
            table.append("  ")
            table.append(description)
        with Vertical():
            yield Label(Text(self._title), classes="dialog-title")
            yield Static(table, id="help-keys")
            yield Label(Text("Esc, q or ? closes"), classes="dialog-help")

    def action_close(self) -> None:
        self.dismiss(None)
