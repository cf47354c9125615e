"""The log pane: a growing agent log rendered line by line through Textual's Line API."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from mletui.events import LogLine, Stream

MAX_LINES = 200_000
"""Lines kept in memory; older ones are dropped (the on-disk spool keeps them all)."""

MAX_LINE_CELLS = 2_000
"""Longer lines are cut here: rendering a 10 MB line would stall every redraw."""

# C0 and C1 control characters (tab excepted, it is expanded) and DEL: an escape sequence from
# the agent must never reach the operator's terminal.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with tabs expanded and every control character shown as U+FFFD."""
    return _CONTROL.sub("\ufffd", text.expandtabs(4))


def component_style(widget: Widget, component: str) -> Style:
    """A component class's style for text inside ``widget``, without its background.

    The colour comes from the full style, so that ``$foreground-muted`` (a colour with alpha)
    is blended and stays muted; a partial style would drop the alpha.
    """
    full = widget.get_component_rich_style(component)
    partial = widget.get_component_rich_style(component, partial=True)
    return partial + Style(color=full.color, bgcolor=partial.bgcolor)


def _cells(text: str) -> int:
    """Width of ``text`` as rendered (tabs expanded, cut at MAX_LINE_CELLS), near enough."""
    if len(text) > MAX_LINE_CELLS:
        return MAX_LINE_CELLS + 40
    return cell_len(text) + 3 * text.count("\t")


class LogView(ScrollView, can_focus=True):
    """A tail of the agent's log: follows new lines until the operator scrolls up.

    Only the rows on screen are rendered (``render_line``), and each rendered line is cached,
    so a batch of thousands of lines costs one refresh.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "follow", "Follow"),
        Binding("end", "follow", "Follow", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log-view--stderr",
        "log-view--system",
        "log-view--line-number",
        "log-view--follow-bar",
    }

    DEFAULT_CSS = """
    LogView {
        background: $surface;
        color: $foreground;
        overflow-x: auto;
        overflow-y: scroll;
        scrollbar-gutter: stable;
        &:focus {
            background-tint: $foreground 4%;
        }
        & > .log-view--stderr {
            color: $text-warning;
        }
        & > .log-view--system {
            color: $foreground-muted;
            text-style: italic;
        }
        & > .log-view--line-number {
            color: $foreground-muted;
        }
        & > .log-view--follow-bar {
            background: $accent;
            color: auto 90%;
            text-style: bold;
        }
    }
    """

    show_line_numbers: var[bool] = var(False)
    """Show each line's number (its number in the run's log spool) in a gutter."""

    class FollowChanged(Message):
        """The view started or stopped following the tail."""

        def __init__(self, log_view: LogView, following: bool) -> None:
            super().__init__()
            self.log_view = log_view
            self.following = following

        @property
        def control(self) -> LogView:
            return self.log_view

    def __init__(
        self,
        *,
        max_lines: int = MAX_LINES,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._max_lines = max_lines
        self._lines: list[LogLine] = []
        self._dropped = 0  # lines dropped from the front; cache keys are absolute indexes
        self._width = 0  # widest line seen, in cells (capped)
        self._following = True
        self._new_below = 0
        self._strips: LRUCache[int, Strip] = LRUCache(2048)
        self._strips_style = Style()  # the base style the cached strips were rendered with

    # -- public API ------------------------------------------------------------------------

    @property
    def line_count(self) -> int:
        """Lines held in memory."""
        return len(self._lines)

    @property
    def lines(self) -> Sequence[LogLine]:
        """The lines held in memory, oldest first (read-only view)."""
        return self._lines

    @property
    def following(self) -> bool:
        """True while the view sticks to the newest line."""
        return self._following

    @property
    def new_lines_below(self) -> int:
        """Lines that arrived since the operator stopped following."""
        return self._new_below

    def add_lines(self, lines: Sequence[LogLine]) -> None:
        """Append a batch of lines; one refresh for the whole batch."""
        if not lines:
            return
        self._lines.extend(lines)
        overflow = len(self._lines) - self._max_lines
        if overflow > 0:
            del self._lines[:overflow]
            self._dropped += overflow
        widest = max(_cells(line.text) for line in lines[-self._max_lines :])
        self._width = max(self._width, widest)
        self.virtual_size = Size(self._width + self._gutter_width(), len(self._lines))
        if self._following:
            self._scroll_to_tail()
        else:
            self._new_below = min(self._new_below + len(lines), len(self._lines))
            if overflow > 0:
                # Keep the lines the operator is reading where they are on screen.
                self.scroll_to(y=max(0, self.scroll_y - overflow), animate=False, immediate=True)
        self.refresh()

    def clear(self) -> None:
        """Forget every line."""
        self._dropped += len(self._lines)
        self._lines.clear()
        self._width = 0
        self._new_below = 0
        self._strips.clear()
        self.virtual_size = Size(0, 0)
        self.refresh()

    def follow(self) -> None:
        """Jump to the newest line and keep following."""
        self._set_following(True)
        self._scroll_to_tail()

    def action_follow(self) -> None:
        self.follow()

    def text_at(self, y: int) -> str:
        """The text shown on screen row ``y`` of the view (for tests and screen readers)."""
        return self.render_line(y).text

    # -- following -------------------------------------------------------------------------

    def _set_following(self, following: bool) -> None:
        if following:
            self._new_below = 0
        if following != self._following:
            self._following = following
            self.set_class(not following, "-paused")
            self.post_message(self.FollowChanged(self, following))
            self.refresh()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Whatever moved the view (wheel, keys, scrollbar): at the bottom it follows, any move
        # up stops following. Growth of the log alone never changes scroll_y.
        if round(new_value) >= self.max_scroll_y:
            self._set_following(True)
        elif new_value < old_value:
            self._set_following(False)

    def on_resize(self) -> None:
        if self._following:
            self._scroll_to_tail()

    def _scroll_to_tail(self) -> None:
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        # Again once layout has settled: a horizontal scrollbar that just appeared moves the end.
        self.call_after_refresh(self._scroll_to_tail_if_following)

    def _scroll_to_tail_if_following(self) -> None:
        if self._following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    # -- rendering -------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def watch_show_line_numbers(self) -> None:
        self._strips.clear()
        self.virtual_size = Size(self._width + self._gutter_width(), len(self._lines))
        self.refresh()

    def _gutter_width(self) -> int:
        if not self.show_line_numbers or not self._lines:
            return 0
        return len(str(self._lines[-1].number)) + 1

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        if base != self._strips_style:  # focus tint or theme changed under the cache
            self._strips.clear()
            self._strips_style = base
        if (
            not self._following
            and self._new_below
            and y == self.scrollable_content_region.height - 1
        ):
            return self._follow_bar(width)
        index = scroll_y + y
        if index >= len(self._lines):
            return Strip.blank(width, base)
        strip = self._line_strip(index, base)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _follow_bar(self, width: int) -> Strip:
        count = self._new_below
        noun = "line" if count == 1 else "lines"
        label = f" {count:,} new {noun} below — press f to follow "
        style = self.get_component_rich_style("log-view--follow-bar")
        text = Text(label.center(width) if len(label) < width else label)
        text.stylize(style)  # a Text without spans renders unstyled, whatever its style
        return Strip(text.render(self.app.console)).crop_extend(0, width, style)

    def _line_strip(self, index: int, base: Style) -> Strip:
        key = self._dropped + index
        cached = self._strips.get(key)
        if cached is not None:
            return cached
        line = self._lines[index]
        raw = line.text
        if len(raw) > MAX_LINE_CELLS:
            raw = f"{raw[:MAX_LINE_CELLS]} … ({len(raw) - MAX_LINE_CELLS:,} more characters)"
        text = Text(printable(raw), no_wrap=True, end="")
        text.stylize(base)  # a Text without spans renders unstyled, whatever its style
        if line.stream is Stream.STDERR:
            text.stylize(component_style(self, "log-view--stderr"))
        elif line.stream is Stream.SYSTEM:
            text.stylize(component_style(self, "log-view--system"))
        gutter = self._gutter_width()
        if gutter:
            number = Text(str(line.number).rjust(gutter - 1) + " ", end="")
            number.stylize(base + component_style(self, "log-view--line-number"))
            text = Text.assemble(number, text, end="", no_wrap=True)
        strip = Strip(text.render(self.app.console), text.cell_len)
        self._strips[key] = strip
        return strip
