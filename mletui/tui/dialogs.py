"""Modal dialogs of the watch screen: send a hint, confirm an action (a kill), choose what to
kill, list the keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on
from textual.actions import parse as parse_action
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, Static
from textual.widgets.button import ButtonVariant

from mletui.tui.format import component_style, printable
from mletui.watch.control import MAX_HINT_BYTES, hint_refusal

ResultT = TypeVar("ResultT")


class Dialog(ModalScreen[ResultT]):
    """A modal dialog in the app's frame (styles/dialogs.tcss): a title, a body, a line of help."""

    CSS_PATH = "styles/dialogs.tcss"


class HintDialog(Dialog[str | None]):
    """Asks for a hint. Dismisses with the text (stripped), or ``None`` when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

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
                max_length=MAX_HINT_BYTES * 4,  # bounded, yet a paste past the limit is said
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
        refusal = "Type a hint first, or press Esc to cancel." if not text else hint_refusal(text)
        if refusal is not None:
            self.query_one("#hint-help", Label).update(Text(refusal))
            self.app.bell()
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmDialog(Dialog[bool]):
    """Asks a yes-or-no question. Dismisses with ``True`` on yes, ``False`` on no.

    A subclass binds ``y`` to ``confirm`` and ``n``/Esc to ``cancel`` under its own labels, and
    says what is asked; its buttons are ``#<kind>-confirm`` and ``#<kind>-cancel``.
    """

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


class KillChoiceDialog(Dialog[str | None]):
    """Kill what? The agent's processes, or, as a separate choice, the container itself (for a
    session that can kill its container). Dismisses with ``"agent"``, ``"container"`` or
    ``None``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a,y", "choose('agent')", "Kill the agent"),
        Binding("c", "choose('container')", "Kill the container"),
        Binding("n,escape", "choose('')", "Cancel"),
    ]

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


@dataclass(frozen=True)
class HelpSection:
    """The keys of one screen or pane: (keys, what they do) rows under a title."""

    title: str
    keys: tuple[tuple[str, str], ...]


def help_sections(screen: Screen[Any]) -> list[HelpSection]:
    """The keys of ``screen`` and of each of its panes, read from their ``BINDINGS``.

    The screen's section has every binding of its classes (Textual's Tab included) that the
    screen does not turn off (``check_action`` False, as a replay does with the acting keys); a
    pane's has the bindings its own mletui classes declare, less those the screen lists already.
    A binding's tooltip, if any, says more after its description. A section is titled by its
    class's ``HELP_TITLE``.
    """
    seen: set[tuple[str, str]] = set()
    sections = [_section(screen, screen, seen, own_only=False)]
    done: set[type[object]] = set()
    for widget in screen.walk_children(with_self=False):
        if type(widget) in done:
            continue
        done.add(type(widget))
        sections.append(_section(screen, widget, seen, own_only=True))
    return [section for section in sections if section.keys]


def _section(
    screen: Screen[Any], node: DOMNode, seen: set[tuple[str, str]], *, own_only: bool
) -> HelpSection:
    rows: dict[tuple[str, str], list[str]] = {}  # (action, description) -> keys, in order
    for cls in type(node).__mro__:
        if own_only and not cls.__module__.startswith("mletui."):
            continue
        for binding in Binding.make_bindings(vars(cls).get("BINDINGS", ())):
            if not binding.description or (binding.key, binding.action) in seen:
                continue
            _, name, parameters = parse_action(binding.action)
            if node is screen and screen.check_action(name, parameters) is False:
                continue
            seen.add((binding.key, binding.action))
            text = binding.description
            if binding.tooltip:
                text += f": {binding.tooltip}"
            keys = rows.setdefault((binding.action, text), [])
            display = screen.app.get_key_display(binding)
            if display not in keys:
                keys.append(display)
    title = getattr(type(node), "HELP_TITLE", "") or type(node).__name__
    return HelpSection(title, tuple((" / ".join(keys), text) for (_, text), keys in rows.items()))


class HelpScreen(Dialog[None]):
    """Lists the keys it is given, by section; Esc, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {"help--heading", "help--key"}

    def __init__(
        self,
        keys: Sequence[tuple[str, str]] = (),
        *,
        sections: Sequence[HelpSection] = (),
        title: str = "Keys",
    ) -> None:
        super().__init__()
        self._sections = ([HelpSection("", tuple(keys))] if keys else []) + list(sections)
        self._title = title

    @classmethod
    def of(cls, screen: Screen[Any]) -> HelpScreen:
        """The help of ``screen``: its keys and its panes', from their bindings."""
        return cls(sections=help_sections(screen))

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self._title), classes="dialog-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(id="help-keys")
            yield Label(Text("Esc, q or ? closes"), classes="dialog-help")

    def on_mount(self) -> None:
        heading = component_style(self, "help--heading")
        key_style = component_style(self, "help--key")
        rows = [row for section in self._sections for row in section.keys]
        width = max((len(key) for key, _ in rows), default=0)
        parts: list[RenderableType] = []
        for section in self._sections:
            if section.title:
                parts.append(Text(f"\n{section.title}" if parts else section.title, heading))
            # Two columns, so a description that wraps stays under its column, not under the keys.
            grid = Table.grid(padding=(0, 0, 0, 2))
            grid.add_column(justify="right", no_wrap=True, min_width=width, style=key_style)
            grid.add_column(ratio=1, overflow="fold")
            for key, description in section.keys:
                grid.add_row(Text(key), Text(description))
            parts.append(grid)
        self.query_one("#help-keys", Static).update(Group(*parts))

    def action_close(self) -> None:
        self.dismiss(None)
