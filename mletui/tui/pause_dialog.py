"""The pause dialog of a source whose pause is aimed at a scope (an Inspect eval: the sample's
task, its model, the whole process): which scope, soft or hard, or resume what holds it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Label, Static

from mletui.tui.dialogs import Dialog
from mletui.tui.format import printable


@dataclass(frozen=True)
class PauseChoice:
    """Pause ``scope`` (hard when ``now``), or, with ``resume``, lift every scope that holds it."""

    scope: str = ""
    now: bool = False
    resume: bool = False


class PauseScopeDialog(Dialog[PauseChoice | None]):
    """A key per scope: lower case pauses it softly, upper case hard (``now``); ``r`` resumes."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,n", "cancel", "Cancel")]

    def __init__(self, scopes: Sequence[tuple[str, str, str]], held: Sequence[str]) -> None:
        """``scopes``: (key, scope, what it names); ``held``: the scopes that hold it now."""
        super().__init__()
        self._scopes = list(scopes)
        self._held = list(held)

    def compose(self) -> ComposeResult:
        lines = [
            f"{key}  {printable(what)}  ({key.upper()}: hard)" for key, _, what in self._scopes
        ]
        if self._held:
            lines.append(f"r  resume: lift the pause of the {', the '.join(self._held)}")
        with Vertical():
            yield Label(Text("Pause what?"), classes="dialog-title")
            yield Static(Text("\n".join(lines)), id="pause-scopes")
            yield Label(
                Text(
                    "Soft: no new samples start; started ones go on. Hard (now): started "
                    "samples are held at their next model call too. Esc cancels."
                ),
                classes="dialog-help",
            )

    def on_key(self, event: events.Key) -> None:
        for key, scope, _ in self._scopes:
            if event.character in (key, key.upper()):
                event.stop()
                self.dismiss(PauseChoice(scope, now=event.character == key.upper()))
                return
        if event.character == "r" and self._held:
            event.stop()
            self.dismiss(PauseChoice(resume=True))

    def action_cancel(self) -> None:
        self.dismiss(None)
