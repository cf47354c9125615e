"""One log line opened whole: a line cut in the log pane (a 1 MB line), wrapped to the screen.

The text comes from the spool, cleaned but not cut; it is wrapped and rendered row by row through
the Line API, so even a line of megabytes opens at once and scrolls freely.
"""

from __future__ import annotations

import bisect
import re
from typing import ClassVar

from rich.cells import cell_len, chop_cells
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.geometry import Size
from textual.screen import ModalScreen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Label

from mletui.core.clock import run_clock, wall_clock
from mletui.core.events import LogLine
from mletui.tui.format import printable

MAX_HIGHLIGHTS = 100_000
"""Matches of the search highlighted in an opened line (a pathological one would have millions)."""


class WrappedText(ScrollView, can_focus=True):
    """Plain text wrapped at the width of the widget, rendered row by row."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"wrapped-text--match"}

    DEFAULT_CSS = """
    WrappedText {
        height: 1fr;
        background: $surface;
        & > .wrapped-text--match {
            background: $warning 60%;
            color: $text;
        }
    }
    """

    def __init__(self, text: str, pattern: re.Pattern[str] | None = None) -> None:
        super().__init__()
        self._text = printable(text)
        self._ascii = self._text.isascii()
        self._starts: list[int] = [0]  # where each row starts (non-ASCII text)
        self._width = 0
        self._spans: list[tuple[int, int]] = []
        if pattern is not None:
            for i, m in enumerate(pattern.finditer(self._text)):
                if i >= MAX_HIGHLIGHTS:
                    break
                if m.end() > m.start():
                    self._spans.append((m.start(), m.end()))

    @property
    def matches(self) -> int:
        return len(self._spans)

    def on_resize(self) -> None:
        width = max(1, self.scrollable_content_region.width)
        if width == self._width:
            return
        self._width = width
        if self._ascii:
            rows = max(1, -(-len(self._text) // width))
        else:
            self._starts = [0]
            for piece in chop_cells(self._text, width)[:-1]:
                self._starts.append(self._starts[-1] + len(piece))
            rows = len(self._starts)
        self.virtual_size = Size(width, rows)
        self.refresh()

    def _row_span(self, row: int) -> tuple[int, int]:
        if self._ascii:
            start = row * self._width
            return start, min(start + self._width, len(self._text))
        if row >= len(self._starts):
            return len(self._text), len(self._text)
        end = self._starts[row + 1] if row + 1 < len(self._starts) else len(self._text)
        return self._starts[row], end

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        width = self.scrollable_content_region.width
        start, end = self._row_span(self.scroll_offset.y + y)
        text = Text(self._text[start:end], no_wrap=True, end="")
        text.stylize(base)
        if self._spans:
            style: Style = self.get_component_rich_style("wrapped-text--match")
            i = max(0, bisect.bisect_right(self._spans, (start, start)) - 1)
            while i < len(self._spans) and self._spans[i][0] < end:
                s, e = self._spans[i]
                if e > start:
                    text.stylize(style, max(s, start) - start, min(e, end) - start)
                i += 1
        strip = Strip(text.render(self.app.console), cell_len(text.plain))
        return strip.crop_extend(0, width, base)


class LogLineScreen(ModalScreen[None]):
    """A log line, whole. Esc, q or Enter closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,enter", "close", "Close")]

    CSS_PATH = "../styles/dialogs.tcss"

    def __init__(
        self,
        line: LogLine,
        text: str,
        *,
        raw_bytes: int | None = None,
        pattern: re.Pattern[str] | None = None,
        run_started: float | None = None,
    ) -> None:
        super().__init__()
        self.line = line
        self.text = text
        self._raw_bytes = raw_bytes
        self._pattern = pattern
        self._run_started = run_started

    def compose(self) -> ComposeResult:
        body = WrappedText(self.text, self._pattern)
        parts = [f"line {self.line.number:,}", self.line.stream.name.lower()]
        if self.line.ts:
            parts.append(wall_clock(self.line.ts))
            if self._run_started is not None:
                parts.append(run_clock(self.line.ts - self._run_started))
        size = self._raw_bytes if self._raw_bytes is not None else len(self.text)
        unit = "bytes" if self._raw_bytes is not None else "characters"
        parts.append(f"{size:,} {unit}")
        if body.matches:
            parts.append(f"{body.matches:,} match{'es' if body.matches > 1 else ''}")
        with Vertical():
            yield Label(Text(" · ".join(parts)), classes="log-line--title")
            yield body
            yield Label(
                Text("↑ ↓ PgUp PgDn scroll · Esc, q or Enter closes"), classes="log-line--help"
            )

    def on_mount(self) -> None:
        self.query_one(WrappedText).focus()

    def action_close(self) -> None:
        self.dismiss(None)
