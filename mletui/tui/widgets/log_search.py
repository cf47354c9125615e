"""The log pane's prompt: one line at the bottom of the screen to search, filter or jump to a time.

The log stays in view above it (the prompt is a modal screen with a transparent background), and a
search is highlighted on screen while it is typed. Enter runs it, Esc cancels, Ctrl+R switches
between plain text and a regular expression.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from mletui.store.log_search import TIME_HELP, LogQuery, QueryError

Kind = Literal["search", "filter", "time"]

_TITLES: dict[str, str] = {"search": "/ search", "filter": "& filter", "time": "t go to"}
_PLACEHOLDERS: dict[str, str] = {
    "search": "text to find (lower case ignores case)",
    "filter": "show only lines with this text (empty: every line)",
    "time": "14:05 · 14:05:30 · 2026-11-30 14:05 · +1h20m (run clock) · -10m",
}


@dataclass(frozen=True)
class PromptResult:
    text: str
    regex: bool


class LogPrompt(ModalScreen[PromptResult | None]):
    """Asks for a search, a filter or a time. Dismisses with what was typed, or None (Esc)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+r", "toggle_regex", "Regex"),
    ]

    CSS_PATH = "../styles/dialogs.tcss"

    def __init__(
        self,
        kind: Kind,
        *,
        initial: str = "",
        regex: bool = False,
        on_change: Callable[[tuple[str, bool] | None], None] | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.regex = regex
        self._initial = initial
        self._on_change = on_change

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(Text(_TITLES[self.kind]), classes="log-prompt--title")
            yield Input(self._initial, placeholder=_PLACEHOLDERS[self.kind], id="log-prompt-input")
            yield Label(self._mode_text(), classes="log-prompt--mode", id="log-prompt-mode")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _mode_text(self) -> Text:
        if self.kind == "time":
            return Text("Enter goes · Esc cancels")
        mode = "regex" if self.regex else "text"
        return Text(f"{mode} (Ctrl+R) · Enter · Esc")

    def action_toggle_regex(self) -> None:
        if self.kind == "time":
            return
        self.regex = not self.regex
        self.query_one("#log-prompt-mode", Label).update(self._mode_text())
        self._changed(self.query_one(Input).value)

    @on(Input.Changed, "#log-prompt-input")
    def _on_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._changed(event.value)

    def _changed(self, value: str) -> None:
        if self._on_change is not None:
            self._on_change((value, self.regex))

    @on(Input.Submitted, "#log-prompt-input")
    def _on_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value if self.kind != "time" else event.value.strip()
        if self.kind == "filter" and not text:
            self.dismiss(PromptResult("", self.regex))  # an empty filter lifts the filter
            return
        if not text:
            self.app.bell()
            return
        if self.kind != "time":
            try:
                LogQuery(text, regex=self.regex).compile()
            except QueryError as exc:
                self.notify(str(exc), severity="error", markup=False)
                return
        self.dismiss(PromptResult(text, self.regex))

    def action_cancel(self) -> None:
        self.dismiss(None)


__all__ = ["TIME_HELP", "LogPrompt", "PromptResult"]
