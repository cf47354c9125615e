"""The log pane: a run's whole log, rendered line by line through Textual's Line API.

It is a view over the on-disk spool (:class:`~mletui.store.spool.LogHistory`) plus an
in-memory tail of the newest lines: only the rows on screen are read, parsed and rendered, and
each rendered row is cached, so a flood of a million lines costs a few screenfuls of work per
frame. It follows the tail until the operator scrolls up, then counts the lines arriving below.

Over the whole history: ``/`` search (plain or regex, smart case) with the matches highlighted and
``n`` / ``N`` to step through them, ``&`` a filter that shows only the matching lines, ``g`` / ``G``
top and bottom, ``t`` a time jump (wall clock or run clock), Enter to open a cut line whole. The
slow ones scan the spool in thread workers; the keyboard never waits for them.

Without a history (lines fed by :meth:`LogView.add_lines` only) the same works over the lines in
memory, the oldest dropped past ``max_lines``.
"""

from __future__ import annotations

import bisect
import re
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import work
from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Offset, Region, Size
from textual.message import Message
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget
from textual.worker import get_current_worker

from mletui.core.clock import run_clock, wall_clock
from mletui.core.events import LogLine, Stream
from mletui.core.sanitize import MAX_DISPLAY_CHARS, cut_marker
from mletui.store.log_search import LogQuery, LogSearch, QueryError, parse_time_target
from mletui.store.spool import LogHistory
from mletui.tui.format import component_style, printable, sgr_style

MAX_LINES = 10_000
"""Lines kept in memory without a history (the oldest are dropped)."""

HISTORY_TAIL_LINES = 1_000
"""Newest lines kept in memory with a history (the rest are read back from the spool)."""

MAX_LINE_CELLS = MAX_DISPLAY_CHARS
"""Longer lines are cut here: rendering a 10 MB line would stall every redraw."""

MAX_FILTER_LINES = 4_000_000
"""A filter stops after this many matching lines (8 bytes each): narrow it to see further."""

FILTER_FOLLOW_S = 0.05
"""How often a filter that has caught up looks for new lines."""

_CUT_MARKER = re.compile(r" … \[cut: [\d,]+ (?:bytes|chars)\]$")
_MARKER_ROOM = 40  # characters a cut marker may add to a line cut at MAX_LINE_CELLS

Kind = Literal["search", "filter", "time"]


def _binds(widget: Widget, key: str) -> bool:
    """Whether ``widget`` (a screen) has a binding of its own for ``key`` (or inherits one)."""
    for cls in type(widget).__mro__:
        for binding in vars(cls).get("BINDINGS", ()):
            if isinstance(binding, Binding) and key in binding.key.split(","):
                return True
    return False


def _cells(text: str) -> int:
    """Width of ``text`` as rendered (tabs expanded, cut at MAX_LINE_CELLS), near enough."""
    if len(text) > MAX_LINE_CELLS:
        return MAX_LINE_CELLS + _MARKER_ROOM
    if text.isascii():  # the common line: one cell a character, no lookup
        return len(text) + 3 * text.count("\t")
    return cell_len(text) + 3 * text.count("\t")


@dataclass
class _Filter:
    """The numbers of the lines matching a query, found so far: a filter's rows, or a search's
    matches (for its counter and for n / N without waiting)."""

    query: LogQuery | None  # None: every line (of ``stream``)
    pattern: re.Pattern[str] | None
    stream: Stream | None = None  # only this stream's lines (None: every stream)
    within: _Filter | None = None  # only lines this filter shows too (a search's, filtered)
    numbers: array[int] = field(default_factory=lambda: array("Q"))
    scanned: int = 0  # lines checked so far (1 .. scanned)
    caught_up: bool = False  # the scan has reached the end once
    full: bool = False  # stopped at MAX_FILTER_LINES

    def accepts(self, line: LogLine) -> bool:
        if self.stream is not None and line.stream is not self.stream:
            return False
        if self.within is not None and not self.within.accepts(line):
            return False
        return self.pattern is None or self.pattern.search(line.text) is not None

    def describe(self) -> str:
        parts = [self.query.describe()] if self.query is not None else []
        if self.stream is not None:
            parts.append(f"{self.stream.name.lower()} only")
        return ", ".join(parts)


_STREAM_CYCLE: dict[Stream | None, Stream | None] = {
    None: Stream.STDOUT,
    Stream.STDOUT: Stream.STDERR,
    Stream.STDERR: None,
}


class LogView(ScrollView, can_focus=True):
    """A run's log: follows new lines until the operator scrolls up; searches, filters and jumps
    over the whole history when it has one (see the module's docstring)."""

    HELP_TITLE = "Log"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "follow", "Follow", tooltip="follow the log again"),
        Binding("end", "follow", "Follow", show=False, tooltip="follow the log again"),
        Binding(
            "slash",
            "prompt('search')",
            "Search",
            tooltip="the whole log (plain text; Ctrl+R in the prompt: regex; lower case: any case)",
        ),
        Binding(
            "ampersand",
            "prompt('filter')",
            "Filter",
            tooltip="show only the lines that match (empty: every line again)",
        ),
        Binding(
            "t",
            "prompt('time')",
            "Time",
            tooltip="go to a time: 14:05, 2026-11-30 14:05:30, +1h20m (run clock), -10m",
        ),
        Binding(
            "e",
            "cycle_stream",
            "Streams",
            show=False,
            tooltip="every stream, stdout only, stderr only (the name shows in the border)",
        ),
        Binding("n", "next_match(1)", "Next match", show=False, tooltip="below"),
        Binding("N", "next_match(-1)", "Previous match", show=False, tooltip="above"),
        Binding("g", "top", "Top", show=False, tooltip="the first line of the log"),
        Binding(
            "G",
            "bottom",
            "Bottom",
            show=False,
            tooltip="the last line of the log; follows it again",
        ),
        Binding("w", "toggle_wrap", "Wrap", show=False, tooltip="wrap long lines, or cut them"),
        Binding("left", "scroll_columns(-8)", "Left", show=False, tooltip="cut lines: scroll left"),
        Binding(
            "right", "scroll_columns(8)", "Right", show=False, tooltip="cut lines: scroll right"
        ),
        # Not Home: Home stays the top of the log, like End its bottom (ScrollView's own keys).
        Binding("0", "line_edge(0)", "Line start", show=False, tooltip="cut lines: their start"),
        Binding(
            "dollar_sign,shift+end",
            "line_edge(1)",
            "Line end",
            show=False,
            tooltip="cut lines: the end of the longest on screen",
        ),
        Binding("up", "cursor(-1)", "Up", show=False, tooltip="scroll, or move the selected line"),
        Binding(
            "down", "cursor(1)", "Down", show=False, tooltip="scroll, or move the selected line"
        ),
        Binding(
            "enter,o",
            "open_line",
            "Open line",
            show=False,
            tooltip="select a line; again: open it whole (long lines are cut)",
        ),
        Binding(
            "escape",
            "dismiss",
            "Clear",
            show=False,
            tooltip="unselect, then clear the search, then the filter",
        ),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log-view--stderr",
        "log-view--stderr-mark",
        "log-view--system",
        "log-view--line-number",
        "log-view--follow-bar",
        "log-view--match",
        "log-view--pointer",
        "log-view--cut",
    }

    DEFAULT_CSS = """
    LogView {
        background: $surface;
        color: $foreground;
        overflow-x: auto;
        overflow-y: scroll;
        scrollbar-gutter: stable;
        border-subtitle-color: $foreground-muted;
        &:focus {
            background-tint: $foreground 4%;
        }
        & > .log-view--stderr {
            color: $text-warning;
        }
        & > .log-view--stderr-mark {
            color: $error;
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
        & > .log-view--match {
            background: $warning 60%;
            color: $text;
        }
        & > .log-view--pointer {
            background: $primary 35%;
        }
        & > .log-view--cut {
            color: $foreground-muted;
            text-style: italic;
        }
    }
    """

    wrap: var[bool] = var(False, init=False)
    """Wrap long lines at the pane's width (``w``); else cut them, scrolled with ← → 0 $."""

    show_line_numbers: var[bool] = var(False)
    """Show each line's number (its number in the run's log spool) in a gutter."""

    run_started: var[float | None] = var(None)
    """When the run started (epoch seconds): the zero of the run clock. Unknown: its first line."""

    class FollowChanged(Message):
        """The view started or stopped following the tail."""

        def __init__(self, log_view: LogView, following: bool) -> None:
            super().__init__()
            self.log_view = log_view
            self.following = following

        @property
        def control(self) -> LogView:
            return self.log_view

    class Moved(Message):
        """A search, a time jump or a key put the pointer on a line (shown on screen)."""

        def __init__(self, log_view: LogView, number: int, reason: str) -> None:
            super().__init__()
            self.log_view = log_view
            self.number = number
            self.reason = reason  # "search", "time", "top", ...

        @property
        def control(self) -> LogView:
            return self.log_view

    class FilterChanged(Message):
        """The lines a filter shows changed: more were found, or it was set or lifted."""

        def __init__(self, log_view: LogView, rows: int, caught_up: bool) -> None:
            super().__init__()
            self.log_view = log_view
            self.rows = rows
            self.caught_up = caught_up

        @property
        def control(self) -> LogView:
            return self.log_view

    class _Found(Message):
        def __init__(self, token: int, number: int | None, wrapped: bool) -> None:
            super().__init__()
            self.token = token
            self.number = number
            self.wrapped = wrapped

    class _Busy(Message):
        """Progress of a worker, for the subtitle; a newer one replaces an older one."""

        def __init__(self, token: int, text: str | None) -> None:
            super().__init__()
            self.token = token
            self.text = text

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, LogView._Busy)

    class _FilterBatch(Message):
        def __init__(
            self, token: int, numbers: list[int], scanned: int, caught_up: bool, lines: _Filter
        ) -> None:
            super().__init__()
            self.lines = lines
            self.token = token
            self.numbers = numbers
            self.scanned = scanned
            self.caught_up = caught_up

    class _OpenLine(Message):
        def __init__(self, line: LogLine, text: str, raw_bytes: int | None) -> None:
            super().__init__()
            self.line = line
            self.text = text
            self.raw_bytes = raw_bytes

    def __init__(
        self,
        history: LogHistory | None = None,
        *,
        max_lines: int | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._history = history
        if max_lines is None:
            max_lines = MAX_LINES if history is None else HISTORY_TAIL_LINES
        self._max_lines = max_lines
        self._tail: list[LogLine] = []  # the newest lines, contiguous keys (below)
        # Lines are keyed by their number in the spool with a history; without one, by their
        # place in arrival order (a replay's lines need not be numbered in order).
        self._total = 0  # the newest key: the tail holds keys _total - len(_tail) + 1 .. _total
        self._first = 1  # the first key shown (moves up without a history, as lines drop)
        self._width = 0  # widest line seen, in cells (capped)
        self._following = True
        self._new_below = 0
        self._strips: LRUCache[tuple[int, bool], Strip] = LRUCache(1024)  # a few screenfuls
        self._strips_style = Style()  # the base style the cached strips were rendered with
        self._row_styles: dict[Stream, Style] = {}  # per stream, for plain rows (with the strips)
        # The base style, scroll offset, width and height, while a frame is rendered.
        self._frame: tuple[Style, Offset, int, int] | None = None
        self._wrapped_rows: list[Strip] | None = None  # with wrap on, while a frame is rendered
        self._tail_check_pending = False
        self._loading_timer: Timer | None = None
        self._new_rows_each_frame = False  # the last batch scrolled a whole screen by
        self._gutter = 0
        self._marks = 0  # the stderr bar's column: one cell once a stderr line is seen, else none
        self.pointer: int | None = None
        """The line the operator is on (a match, a time jumped to), or None."""
        self._query: LogQuery | None = None
        self._pattern: re.Pattern[str] | None = None
        self._filter: _Filter | None = None
        self._matches: _Filter | None = None  # the search's matches, counted from line 1
        self._steps: list[int] = []  # n / N presses waiting for the count to reach them
        self._wrapped: str | None = None  # the last n / N went round the end: said in the border
        self._token = 0  # bumped by each search, filter or jump; stale results are dropped
        self._busy: str | None = None
        self._title: str | None = None  # the border title before a stream filter named itself
        self._live: LogLine | None = None  # the line still being written, drawn below the last

    # -- public API ------------------------------------------------------------------------

    @property
    def history(self) -> LogHistory | None:
        return self._history

    @property
    def line_count(self) -> int:
        """Lines the view can show (the whole history, or the lines in memory)."""
        return max(0, self._total - self._first + 1) if self._total else 0

    @property
    def lines(self) -> Sequence[LogLine]:
        """The lines held in memory, oldest first (read-only view)."""
        return self._tail

    @property
    def following(self) -> bool:
        """True while the view sticks to the newest line."""
        return self._following

    @property
    def new_lines_below(self) -> int:
        """Lines that arrived since the operator stopped following."""
        return self._new_below

    @property
    def search_query(self) -> LogQuery | None:
        """The search in force (its matches are highlighted), or None."""
        return self._query

    @property
    def filter_query(self) -> LogQuery | None:
        """The filter in force, or None."""
        return self._filter.query if self._filter else None

    @property
    def stream_filter(self) -> Stream | None:
        """The only stream shown (``e`` cycles every stream, stdout, stderr), or None."""
        return self._filter.stream if self._filter else None

    @property
    def row_count(self) -> int:
        """Rows of the view: the lines it can show, or the lines the filter let through."""
        return len(self._filter.numbers) if self._filter else self.line_count

    def number_at(self, row: int) -> int | None:
        """The line number shown on ``row`` (0: the first row of the whole view)."""
        if row < 0:
            return None
        if self._filter is not None:
            return self._filter.numbers[row] if row < len(self._filter.numbers) else None
        number = self._first + row
        return number if number <= self._total else None

    def row_of(self, number: int) -> int:
        """The row showing line ``number`` (with a filter: the first at or after it)."""
        if self._filter is not None:
            return min(bisect.bisect_left(self._filter.numbers, number), self.row_count - 1)
        return max(0, min(number, self._total) - self._first)

    def add_lines(self, lines: Sequence[LogLine]) -> None:
        """New lines (the newest of them will do, with a history): one refresh for the batch."""
        if not lines:
            return
        before_first, before_total = self._first, self._total
        if self._history is not None:
            if lines[0].number <= self._total:  # seen already: keep the spool's order
                lines = [line for line in lines if line.number > self._total]
                if not lines:
                    return
            if self._tail and lines[0].number != self._total + 1:
                self._tail.clear()  # a gap: the lines between are in the spool
            self._total = max(self._total, lines[-1].number)
        else:
            self._total += len(lines)
        self._tail.extend(lines)
        overflow = len(self._tail) - self._max_lines
        if overflow > 0:
            del self._tail[:overflow]
        if self._history is None:
            self._first = self._total - len(self._tail) + 1
        if not self._marks and any(line.stream is Stream.STDERR for line in lines):
            self._show_marks()
        widest = max(_cells(line.text) for line in lines[-self._max_lines :])
        self._width = max(self._width, widest)
        arrived = self._total - before_total
        matches = self._matches
        if matches is not None and self._history is None and self._collect_memory(matches, lines):
            self._update_subtitle()
        if self._filter is not None:  # rows are the filter's; with a history, its worker's
            arrived = self._filter_memory(lines) if self._history is None else 0
        dropped = self._first - before_first if before_total else 0
        self._grew(arrived, dropped)

    @property
    def live_line(self) -> LogLine | None:
        """The line the agent is still writing (a progress bar), shown as the last row."""
        return self._live

    def set_live(self, line: LogLine | None) -> None:
        """Show ``line`` as the last, live row (None: no such row), as it changes."""
        if line == self._live:
            return
        self._live = line
        self._strips.discard((0, False))
        if line is not None:
            self._width = max(self._width, _cells(line.text))
        self._update_virtual_size()
        if self._following:
            self._scroll_to_tail()
        self.refresh()

    def clear(self) -> None:
        """Forget every line (without a history)."""
        self._tail.clear()
        self._total = 0
        self._first = 1
        self._width = 0
        self._new_below = 0
        self.pointer = None
        if self._filter is not None:
            self._filter.numbers = array("Q")
        if self._matches is not None:
            self._matches.numbers = array("Q")
        self._strips.clear()
        self._update_virtual_size()
        self.refresh()

    def follow(self) -> None:
        """Jump to the newest line and keep following."""
        self.pointer = None
        self._set_following(True)
        self._scroll_to_tail()
        self._update_subtitle()

    def search(self, query: LogQuery) -> None:
        """Highlight ``query`` and go to the nearest match above the bottom of the view (the
        newest one, when following); if there is none, the nearest below."""
        try:
            pattern = query.compile()
        except QueryError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self._query, self._pattern = query, pattern
        self._count_matches(query, pattern)
        self._strips.clear()
        self.refresh()
        start = self.pointer if self.pointer is not None else self._bottom_number()
        self._find(start or 1, -1, wrap=True)

    def clear_search(self) -> None:
        self._query = self._pattern = None
        self._matches = None
        self._steps.clear()
        self._wrapped = None
        self.workers.cancel_group(self, "log-matches")
        self._strips.clear()
        self._update_subtitle()
        self.refresh()

    def next_match(self, direction: int) -> None:
        """The next match below the pointer (``direction`` 1) or above it (-1), round the end
        of the log like less. Every press counts: one the count of matches has not reached yet
        waits for it, in order."""
        if self._query is None or self._matches is None:
            self.notify("No search yet: press / to search.", markup=False)
            return
        self._steps.append(direction)
        self._take_steps()

    @property
    def match_count(self) -> tuple[int, bool]:
        """Lines matching the search found so far, and whether that is all of them."""
        matches = self._matches
        if matches is None:
            return 0, True
        return len(matches.numbers), matches.caught_up or matches.full

    def _count_matches(self, query: LogQuery, pattern: re.Pattern[str]) -> None:
        self.workers.cancel_group(self, "log-matches")
        self._steps.clear()
        self._wrapped = None
        # Counted among the lines shown, like the rows n and N step over.
        self._matches = _Filter(query, pattern, within=self._filter)
        if self._history is None:
            self._collect_memory(self._matches, self._tail)
            self._matches.caught_up = True
        else:
            self._scan_matches(self._matches)

    def _take_steps(self) -> None:
        while self._steps and self._step(self._steps[0]):
            del self._steps[0]
        self._update_subtitle()

    def _shown(self, number: int) -> bool:
        """Whether line ``number`` has a row (it passes the filter, if there is one)."""
        if self._filter is None:
            return True
        numbers = self._filter.numbers
        i = bisect.bisect_left(numbers, number)
        return i < len(numbers) and numbers[i] == number

    def _step(self, direction: int) -> bool:
        """One n (1) or N (-1); False while the count has not reached the answer yet."""
        matches = self._matches
        assert matches is not None
        numbers = matches.numbers
        done = matches.caught_up or matches.full
        anchor = self.pointer
        if anchor is None:  # from the edge of the view: the first match on screen or below it
            edge = self._top_number() if direction > 0 else self._bottom_number()
            anchor = (edge or 1) - direction
        if direction > 0:
            i = bisect.bisect_right(numbers, anchor)
            while i < len(numbers) and not self._shown(numbers[i]):
                i += 1
            if i < len(numbers):
                return self._land(numbers[i], None)
            if not done:
                return False
            order: range = range(len(numbers))
            note = "search hit bottom, continuing at top"
        else:
            if not done and anchor - 1 > matches.scanned:
                return False
            i = bisect.bisect_left(numbers, anchor) - 1
            while i >= 0 and not self._shown(numbers[i]):
                i -= 1
            if i >= 0:
                return self._land(numbers[i], None)
            if not done:
                return False
            order = range(len(numbers) - 1, -1, -1)
            note = "search hit top, continuing at bottom"
        found = next((numbers[j] for j in order if self._shown(numbers[j])), None)
        if found is None:
            query = self._query.describe() if self._query else ""
            self.notify(f"No line matches {query}.", severity="warning", markup=False)
            self.app.bell()
            return True
        return self._land(found, note)

    def _land(self, number: int, wrapped: str | None) -> bool:
        self._wrapped = wrapped
        if wrapped is not None:
            self.notify(wrapped.capitalize() + ".", markup=False, timeout=2)
        self.go_to(number, "search")
        return True

    def set_filter(self, query: LogQuery | None) -> None:
        """Show only the lines matching ``query`` (None: every line again), of the stream shown."""
        self._apply_filter(query, self.stream_filter)

    def set_stream(self, stream: Stream | None) -> None:
        """Show only the lines of ``stream`` (None: every stream), matching the filter if any."""
        self._apply_filter(self.filter_query, stream)
        title = str(self.border_title or "")
        if self._title is None:
            self._title = title
        self.border_title = self._title + (f" · {stream.name.lower()} only" if stream else "")

    def _apply_filter(self, query: LogQuery | None, stream: Stream | None) -> None:
        self._token += 1
        self.workers.cancel_group(self, "log-filter")
        keep = self.pointer or self._top_number() if not self._following else None
        if query is None and stream is None:
            self._filter = None
        else:
            try:
                pattern = query.compile() if query is not None else None
            except QueryError as exc:
                self.notify(str(exc), severity="error", markup=False)
                return
            self._filter = _Filter(query, pattern, stream)
            if self._history is None:
                self._filter_memory(self._tail)
                self._filter.caught_up = True
            else:
                self._scan_filter(self._token, self._filter)
        if self._query is not None:  # the counter counts the lines shown: count again
            self._count_matches(self._query, self._query.compile())
        self._strips.clear()
        self._update_virtual_size()
        if self._following or keep is None:
            self._scroll_to_tail()
        else:
            self._scroll_to_row(self.row_of(keep))
        self._post_filter_changed()
        self._update_subtitle()
        self.refresh()

    def go_to(self, number: int, reason: str = "jump") -> None:
        """Put the pointer on line ``number`` and show it (stops following)."""
        if self.row_count == 0:
            return
        row = self.row_of(number)
        shown = self.number_at(row)
        if shown is None:
            return
        self.pointer = shown  # (strips are cached per line and pointer: nothing to clear)
        if reason != "search":
            self._wrapped = None
        self._set_following(False)
        self._scroll_to_row(row)
        self._update_subtitle()
        self.refresh()
        self.post_message(self.Moved(self, shown, reason))

    def jump_to_time(self, text: str) -> None:
        """Go to the first line stamped at the time ``text`` means (see
        :func:`~mletui.store.log_search.parse_time_target`)."""
        first, last = self._line(self._first), self._line(self._total)
        if first is None or last is None:
            self.notify("No lines yet.", markup=False)
            return
        start = self.run_started if self.run_started is not None else first.ts
        try:
            target = parse_time_target(text, run_start=start, newest=last.ts)
        except ValueError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self._token += 1
        self._time_worker(self._token, target)

    def open_line(self, number: int) -> None:
        """Open line ``number`` whole in a dialog, read again from the spool."""
        self._open_worker(number)

    def text_at(self, y: int) -> str:
        """The text shown on screen row ``y`` of the view (for tests and screen readers)."""
        return self.render_line(y).text

    # -- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The screen's own G comes first (the watch screen reveals the grade with it).
        return not (action == "bottom" and _binds(self.screen, "G"))

    def action_follow(self) -> None:
        self.follow()

    def action_prompt(self, kind: Kind) -> None:
        from mletui.tui.widgets.log_search import LogPrompt, PromptResult

        def done(result: PromptResult | None) -> None:
            if kind == "search":
                self._preview(None)
            if result is None:
                return
            if kind == "time":
                self.jump_to_time(result.text)
            elif kind == "search":
                self.search(LogQuery(result.text, regex=result.regex))
            else:
                self.set_filter(LogQuery(result.text, regex=result.regex) if result.text else None)

        current = self._query if kind == "search" else self.filter_query
        self.app.push_screen(
            LogPrompt(
                kind,
                initial="" if current is None or kind == "time" else current.text,
                regex=current.regex if current is not None else False,
                on_change=self._preview if kind == "search" else None,
            ),
            done,
        )

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap

    def watch_wrap(self) -> None:
        self._strips.clear()
        if not self.is_mounted:  # set before mounting: no scroll yet; the first resize sizes it
            return
        self.scroll_to(x=0, animate=False, immediate=True)
        self._update_virtual_size()
        if self._following:
            self._scroll_to_tail()
        self.refresh()

    def action_scroll_columns(self, columns: int) -> None:
        if not self.wrap:
            self.scroll_to(x=max(0, self.scroll_x + columns), animate=False, immediate=True)

    def action_line_edge(self, end: int) -> None:
        if self.wrap:
            return
        if not end:
            self.scroll_to(x=0, animate=False, immediate=True)
            return
        base, width = self.rich_style, self.scrollable_content_region.width
        top = round(self.scroll_y)
        longest = 0
        for row in range(top, top + self.scrollable_content_region.height):
            number = self.number_at(row)
            line = self._line(number) if number is not None else None
            if number is not None and line is not None:
                strip = self._line_strip(number, line, base, number == self.pointer)
                longest = max(longest, strip.cell_length)
        self.scroll_to(x=max(0, longest - width), animate=False, immediate=True)

    def action_cycle_stream(self) -> None:
        self.set_stream(_STREAM_CYCLE[self.stream_filter])

    def action_next_match(self, direction: int) -> None:
        self.next_match(direction)

    def action_top(self) -> None:
        if self.row_count:
            self.go_to(self.number_at(0) or 1, "top")

    def action_bottom(self) -> None:
        self.follow()

    def action_cursor(self, step: int) -> None:
        if self.pointer is None:
            if step < 0:
                self.scroll_up(animate=False)
            else:
                self.scroll_down(animate=False)
            return
        row = self.row_of(self.pointer)
        if self._filter is None or self.number_at(row) == self.pointer:
            row += step
        elif step < 0:
            row -= 1  # the pointer's line is not in the filter: the row shown is after it
        row = max(0, min(row, self.row_count - 1))
        number = self.number_at(row)
        if number is not None:
            self.pointer = number
            self._scroll_to_row(row, center=False)
            self._update_subtitle()
            self.refresh()

    def action_open_line(self) -> None:
        if self.pointer is None:
            number = self._top_number()
            if number is not None:
                self.go_to(number, "select")
            return
        self.open_line(self.pointer)

    def action_dismiss(self) -> None:
        if self.pointer is not None:
            self.pointer = None
            self._update_subtitle()
            self.refresh()
        elif self._query is not None:
            self.clear_search()
        elif self._filter is not None:
            self.set_filter(None)
        else:  # nothing to clear: Esc goes on to the app's binding (back to the overview)
            raise SkipAction()

    # -- growth and following ---------------------------------------------------------------

    def _grew(self, arrived: int, dropped: int) -> None:
        self._new_rows_each_frame = arrived >= self.scrollable_content_region.height
        self._update_virtual_size()
        if self._following:
            self._scroll_to_tail()
        else:
            self._new_below = min(self._new_below + arrived, max(self.row_count, 0))
            if dropped > 0 and self._filter is None:
                # Keep the lines the operator is reading where they are on screen.
                self.scroll_to(y=max(0, self.scroll_y - dropped), animate=False, immediate=True)
        self.refresh()

    def _update_virtual_size(self) -> None:
        gutter = 0
        if self.show_line_numbers and self._tail:
            gutter = len(str(max(self._total, self._tail[-1].number))) + 1
        if gutter != self._gutter:
            self._gutter = gutter
            self._strips.clear()
        live_row = self._live is not None and self._filter is None
        width = self._width + gutter + self._marks
        if self.wrap:  # nothing to scroll sideways
            width = max(1, self.scrollable_content_region.width)
        size, old = Size(width, self.row_count + live_row), self.virtual_size
        if size == old:
            return
        if size.width == old.width and self.is_mounted and self.container_size:
            # Only taller (a batch of lines): the scrollbars follow, and nothing else moves, so
            # no layout of the whole screen, which setting virtual_size asks for every time.
            self.set_reactive(LogView.virtual_size, size)
            self._scroll_update(size)
            self.refresh()
        else:
            self.virtual_size = size

    def _set_following(self, following: bool) -> None:
        if following:
            self._new_below = 0
        if following != self._following:
            self._following = following
            self.post_message(self.FollowChanged(self, following))
            self.refresh()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        # Whatever moved the view (wheel, keys, scrollbar): at the bottom it follows, any move
        # up stops following; not while the pointer is on a line (f or G follows then).
        # Growth of the log alone never changes scroll_y.
        if self.pointer is None and round(new_value) >= self.max_scroll_y:
            self._set_following(True)
        elif new_value < old_value:
            self._set_following(False)

    def on_resize(self) -> None:
        if self.wrap:  # wrapped, the view is as wide as the pane
            self._update_virtual_size()
        if self._following:
            self._scroll_to_tail()

    def on_mount(self) -> None:
        if self._history is not None and not self._history.loaded:
            # A spool without checkpoints is counted before its tail is numbered: say so.
            self._loading_timer = self.set_interval(0.25, self._show_loading)

    def _show_loading(self) -> None:
        history = self._history
        if history is None or history.loaded:
            if self._loading_timer is not None:
                self._loading_timer.stop()
            if self._busy and self._busy.startswith("reading the log"):
                self._busy = None
                self._update_subtitle()
            return
        progress = history.progress()
        if progress < 1.0:
            self._busy = f"reading the log {progress:.0%}"
            self._update_subtitle()

    def _scroll_to_tail(self) -> None:
        if round(self.scroll_y) != self.max_scroll_y:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        # Again once layout has settled: a horizontal scrollbar that just appeared moves the end
        # (once a refresh, however many batches came before it).
        if not self._tail_check_pending:
            self._tail_check_pending = True
            self.call_after_refresh(self._scroll_to_tail_if_following)

    def _scroll_to_tail_if_following(self) -> None:
        self._tail_check_pending = False
        if self._following and round(self.scroll_y) != self.max_scroll_y:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def _scroll_to_row(self, row: int, *, center: bool = True) -> None:
        height = max(1, self.scrollable_content_region.height)
        top = round(self.scroll_y)
        if center:
            if not top <= row < top + height - 1:
                self.scroll_to(y=max(0, row - height // 2), animate=False, immediate=True)
        elif row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + height - 1:
            self.scroll_to(y=row - height + 2, animate=False, immediate=True)

    def _top_number(self) -> int | None:
        return self.number_at(round(self.scroll_y))

    def _bottom_number(self) -> int | None:
        height = self.scrollable_content_region.height
        row = min(round(self.scroll_y) + height - 1, self.row_count - 1)
        return self.number_at(row)

    # -- search, filter, time: workers ----------------------------------------------------

    def _find(self, start: int, direction: int, *, wrap: bool) -> None:
        assert self._query is not None
        self._token += 1
        self._find_worker(self._token, self._query, start, direction, wrap)

    @work(thread=True, exclusive=True, group="log-search", name="log-search")
    def _find_worker(
        self, token: int, query: LogQuery, start: int, direction: int, wrap: bool
    ) -> None:
        worker = get_current_worker()
        label = f"searching {query.describe()}"

        def cancelled() -> bool:
            return worker.is_cancelled

        def progress(done: float) -> None:
            self.post_message(self._Busy(token, f"{label} {done:.0%}"))

        number: int | None = None
        wrapped = False
        try:
            find = self._finder(query, cancelled, progress)
            number = find(start, direction)
            if number is None and wrap and not cancelled():
                wrapped = True
                number = find(start + 1 if direction < 0 else start - 1, -direction)
        except OSError as exc:
            self.post_message(self._Busy(token, f"search failed: {exc}"))
            return
        if not cancelled():
            self.post_message(self._Found(token, number, wrapped))

    def _finder(
        self, query: LogQuery, cancelled: Callable[[], bool], progress: Callable[[float], None]
    ) -> Callable[[int, int], int | None]:
        """How to find the next match from a worker thread: over the spool, over the filter's
        lines, or over the lines in memory."""
        pattern = query.compile()
        filt = self._filter
        history = self._history
        if history is not None and filt is None:
            search = LogSearch(history.index, query)
            return lambda start, direction: search.find(
                start, direction, cancelled=cancelled, progress=progress
            )

        def scan(start: int, direction: int) -> int | None:
            if filt is not None:
                numbers = filt.numbers
                row = bisect.bisect_left(numbers, start)
                if direction < 0 and (row >= len(numbers) or numbers[row] != start):
                    row -= 1
                rows = range(row, len(numbers)) if direction > 0 else range(row, -1, -1)
                for i, r in enumerate(rows):
                    if i % 1024 == 0 and cancelled():
                        return None
                    line = self._line(numbers[r])
                    if line is not None and pattern.search(line.text):
                        return numbers[r]
                return None
            tail, first = list(self._tail), self._tail_first()
            if not tail:
                return None
            offset = start - first
            if direction > 0:
                order = range(max(offset, 0), len(tail))
            else:
                order = range(min(offset, len(tail) - 1), -1, -1)
            found = next((i for i in order if pattern.search(tail[i].text)), None)
            return None if found is None else first + found

        return scan

    def on_log_view__found(self, message: _Found) -> None:
        message.stop()
        if message.token != self._token:
            return
        self._busy = None
        query = self._query.describe() if self._query else ""
        if message.number is None:
            self._update_subtitle()
            self.notify(f"No line matches {query}.", severity="warning", markup=False)
            self.app.bell()
            return
        if message.wrapped:  # a new search looks up first, then down
            self.notify(f"No line above matches {query}: here is the first below.", markup=False)
        self.go_to(message.number, "search")

    def on_log_view__busy(self, message: _Busy) -> None:
        message.stop()
        if message.token == self._token or message.text is None:
            self._busy = message.text
            self._update_subtitle()

    @work(thread=True, exclusive=True, group="log-filter", name="log-filter")
    def _scan_filter(self, token: int, filt: _Filter) -> None:
        self._scan_lines(token, filt)

    @work(thread=True, exclusive=True, group="log-matches", name="log-matches")
    def _scan_matches(self, matches: _Filter) -> None:
        self._scan_lines(-1, matches)

    def _scan_lines(self, token: int, filt: _Filter) -> None:
        """Every line of the spool matching ``filt``'s query, then each new one (a thread)."""
        history = self._history
        assert history is not None
        worker = get_current_worker()
        within = filt.within
        search = LogSearch(
            history.index,
            filt.query,
            stream=filt.stream if within is None else within.stream,
            within=None if within is None else within.query,
        )
        scanned = 0
        caught_up = False
        while not worker.is_cancelled:
            total = history.line_count
            if total <= scanned:
                if not caught_up:
                    caught_up = True
                    self.post_message(self._FilterBatch(token, [], scanned, True, filt))
                time.sleep(FILTER_FOLLOW_S)
                continue
            try:
                chunks = search.scan(scanned + 1, cancelled=lambda: worker.is_cancelled)
                for numbers, after in chunks:
                    scanned = after - 1
                    if numbers or not caught_up:
                        self.post_message(
                            self._FilterBatch(token, numbers, scanned, caught_up, filt)
                        )
                    if not caught_up and total and filt is not self._matches:
                        self.post_message(self._Busy(token, f"filtering {scanned / total:.0%}"))
            except OSError as exc:
                self.post_message(self._Busy(token, f"filter failed: {exc}"))
                return

    def on_log_view__filter_batch(self, message: _FilterBatch) -> None:
        message.stop()
        if message.lines is self._matches:
            self._matches_found(self._matches, message)
            return
        filt = self._filter
        if message.lines is not filt or filt is None:  # (a search meanwhile leaves it be)
            return
        if filt.full:
            return
        room = MAX_FILTER_LINES - len(filt.numbers)
        numbers = message.numbers[:room]
        filt.numbers.extend(numbers)
        filt.scanned = message.scanned
        if len(message.numbers) > room:
            filt.full = True
            self.workers.cancel_group(self, "log-filter")
            self.notify(
                f"The filter stopped at {MAX_FILTER_LINES:,} matching lines: narrow it.",
                severity="warning",
                markup=False,
            )
        first_catch_up = message.caught_up and not filt.caught_up
        arrived = len(numbers) if filt.caught_up else 0
        filt.caught_up = filt.caught_up or message.caught_up
        if first_catch_up:
            self._busy = None
        self._grew(arrived, 0)
        self._post_filter_changed()
        self._update_subtitle()

    def _matches_found(self, matches: _Filter, message: _FilterBatch) -> None:
        if matches.full:
            return
        room = MAX_FILTER_LINES - len(matches.numbers)
        matches.numbers.extend(message.numbers[:room])
        matches.scanned = message.scanned
        matches.full = len(message.numbers) > room
        if matches.full:
            self.workers.cancel_group(self, "log-matches")
        matches.caught_up = matches.caught_up or message.caught_up
        self._take_steps()

    def _collect_memory(self, found: _Filter, lines: Sequence[LogLine]) -> int:
        """Add those of ``lines``, the newest in memory, that match ``found``'s query (without a
        history); how many did."""
        numbers = found.numbers
        if numbers and numbers[0] < self._first:  # lines dropped from memory go with them
            del numbers[: bisect.bisect_left(numbers, self._first)]
        lines = lines[-len(self._tail) :]
        first = self._total - len(lines) + 1
        matching = [first + i for i, line in enumerate(lines) if found.accepts(line)]
        numbers.extend(matching)
        found.scanned = self._total
        return len(matching)

    def _filter_memory(self, lines: Sequence[LogLine]) -> int:
        """Add those of ``lines``, the newest in memory, that pass the filter (without a
        history); how many did."""
        assert self._filter is not None
        found = self._collect_memory(self._filter, lines)
        if found:
            self._post_filter_changed()
        return found

    def _post_filter_changed(self) -> None:
        caught_up = self._filter.caught_up if self._filter else True
        self.post_message(self.FilterChanged(self, self.row_count, caught_up))

    @work(thread=True, exclusive=True, group="log-time", name="log-time")
    def _time_worker(self, token: int, target: float) -> None:
        try:
            if self._history is not None:
                number = self._history.number_at_time(target)
            else:
                stamps = [line.ts for line in self._tail]
                index = min(bisect.bisect_left(stamps, target), len(stamps) - 1)
                number = self._tail_first() + index if stamps else 0
        except OSError as exc:
            self.post_message(self._Busy(token, f"time jump failed: {exc}"))
            return
        self.app.call_from_thread(self._jumped, token, number)

    def _jumped(self, token: int, number: int) -> None:
        if token == self._token and number > 0:
            self.go_to(number, "time")

    @work(thread=True, exclusive=True, group="log-open", name="log-open")
    def _open_worker(self, number: int) -> None:
        try:
            whole = self._history.full_line(number) if self._history is not None else None
        except OSError as exc:
            self.app.call_from_thread(
                self.notify, f"Could not read line {number}: {exc}", severity="error"
            )
            return
        if whole is not None:
            self.post_message(self._OpenLine(whole.line, whole.text, whole.raw_bytes))
            return
        line = self._line(number)
        if line is not None:
            self.post_message(self._OpenLine(line, line.text, None))

    def on_log_view__open_line(self, message: _OpenLine) -> None:
        message.stop()
        from mletui.tui.widgets.log_line import LogLineScreen

        started = self.run_started
        if started is None:
            first = self._line(self._first)
            started = first.ts if first is not None else None
        self.app.push_screen(
            LogLineScreen(
                message.line,
                message.text,
                raw_bytes=message.raw_bytes,
                pattern=self._pattern,
                run_started=started,
            )
        )

    def _preview(self, result: tuple[str, bool] | None) -> None:
        """Highlight what is being typed in the search prompt (on the rows on screen only)."""
        pattern: re.Pattern[str] | None = None
        if result is not None and result[0]:
            try:
                pattern = LogQuery(result[0], regex=result[1]).compile()
            except QueryError:
                pattern = None
        elif self._query is not None:
            pattern = self._query.compile()
        if pattern != self._pattern:
            self._pattern = pattern
            self._strips.clear()
            self.refresh()

    # -- subtitle ----------------------------------------------------------------------------

    def _update_subtitle(self) -> None:
        parts: list[str] = []
        if self._filter is not None:
            shown = len(self._filter.numbers)
            noun = "line" if shown == 1 else "lines"
            parts.append(f"& {self._filter.describe()}: {shown:,} {noun}")
        if self._query is not None:
            parts.append(f"/ {self._query.describe()}{self._counter()}")
        if self.pointer is not None:
            parts.append(self._pointer_label(self.pointer))
        if self._busy:
            parts.append(self._busy)
        self.border_subtitle = printable(" · ".join(parts)) if parts else ""

    def _counter(self) -> str:
        """The search's place among its matches, like less: ``3/7`` (``3/7+`` while counting)."""
        matches = self._matches
        if matches is None:
            return ""
        numbers = matches.numbers
        more = "" if matches.caught_up or matches.full else "+"
        text = f" {len(numbers):,}{more} match{'' if len(numbers) == 1 else 'es'}"
        pointer = self.pointer
        if pointer is not None:
            i = bisect.bisect_left(numbers, pointer)
            if i < len(numbers) and numbers[i] == pointer:
                text = f" {i + 1:,}/{len(numbers):,}{more}"
        if self._steps:
            text += " · counting"
        if self._wrapped is not None:
            text += f" · {self._wrapped}"
        return text

    def _pointer_label(self, number: int) -> str:
        label = f"line {number:,}"
        line = self._line(number)
        if line is None:
            return label
        label += f" · {wall_clock(line.ts)}"
        started = self.run_started
        if started is None:
            first = self._line(self._first)
            started = first.ts if first is not None else None
        if started is not None:
            label += f" · {run_clock(line.ts - started)}"
        return label

    # -- reading lines -----------------------------------------------------------------------

    def _line(self, number: int) -> LogLine | None:
        """Line ``number``: from memory, else from the spool (cached there)."""
        tail = self._tail
        first = self._total - len(tail) + 1
        try:
            if tail and first <= number <= self._total:
                return tail[number - first]
        except IndexError:  # changed under a worker thread: read it from the spool
            pass
        if self._history is None or number < 1 or number > self._total:
            return None
        try:
            return self._history.line(number)
        except OSError as exc:
            return LogLine(0.0, Stream.SYSTEM, f"(line {number} could not be read: {exc})", number)

    def _tail_first(self) -> int:
        """The key of the oldest line in memory."""
        return self._total - len(self._tail) + 1

    def _prefetch(self) -> None:
        """Read the rows on screen that are not in memory in one go (not one read per row)."""
        history = self._history
        if history is None:
            return
        top = round(self.scroll_y)
        height = self.scrollable_content_region.height
        numbers = [n for row in range(top, top + height) if (n := self.number_at(row))]
        tail_first = self._tail_first()
        missing = [n for n in numbers if n < tail_first]
        if not missing:
            return
        try:
            if self._filter is None:
                history.read(missing[0], missing[-1] - missing[0] + 1)
            else:
                for number in missing:
                    history.read(number, 1)
        except OSError:
            pass  # each row then says so

    # -- rendering ---------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._row_styles.clear()

    def watch_show_line_numbers(self) -> None:
        self._strips.clear()
        self._update_virtual_size()
        self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        self._prefetch()
        # Once a frame, not once a row: the style walks the DOM, the region asks the scrollbars.
        region = self.scrollable_content_region
        self._frame = (self.rich_style, self.scroll_offset, region.width, region.height)
        self._wrapped_rows = self._wrap_rows() if self.wrap else None
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None
            self._wrapped_rows = None

    def _wrap_rows(self) -> list[Strip]:
        """The rows on screen with long lines wrapped: from the top line down, or, following,
        from the last line up (so that it ends on the last row)."""
        base = self.rich_style
        region = self.scrollable_content_region
        width, height = max(2, region.width), region.height
        top = round(self.scroll_y)
        if self._following:
            pieces: list[Strip] = []
            live_row = self._live is not None and self._filter is None
            row = self.row_count - 1 + live_row
            while row >= 0 and len(pieces) < height:
                pieces[:0] = self._wrap_line(row, base, width)
                row -= 1
            return pieces[-height:] if len(pieces) > height else pieces
        pieces = []
        row = top
        while len(pieces) < height and row <= self.row_count:
            pieces.extend(self._wrap_line(row, base, width))
            row += 1
        return pieces[:height]

    def _wrap_line(self, row: int, base: Style, width: int) -> list[Strip]:
        """Row ``row``'s line cut into rows of ``width`` cells; the stderr bar on each."""
        number = self.number_at(row)
        line = self._line(number) if number is not None else None
        live = self._live if self._filter is None else None
        if number is None and live is not None and row == self.row_count:
            number, line = 0, live
        if number is None or line is None:
            return []
        is_pointer = number == self.pointer
        strip = self._line_strip(number, line, base, is_pointer)
        fill = base + self.get_component_rich_style("log-view--pointer") if is_pointer else base
        head, body = Strip([]), strip
        if self._marks:
            head, body = strip.crop(0, 1), strip.crop(1)
        room = width - head.cell_length
        if body.cell_length <= room:
            return [Strip.join([head, body]).crop_extend(0, width, fill)]
        cuts = [*range(room, body.cell_length, room), body.cell_length]
        return [
            Strip.join([head, piece]).crop_extend(0, width, fill) for piece in body.divide(cuts)
        ]

    def render_line(self, y: int) -> Strip:
        if self._frame is None:
            region = self.scrollable_content_region
            base, (scroll_x, scroll_y), width, height = (
                self.rich_style,
                self.scroll_offset,
                region.width,
                region.height,
            )
        else:
            base, (scroll_x, scroll_y), width, height = self._frame
        if base != self._strips_style:  # focus tint or theme changed under the cache
            self._strips.clear()
            self._row_styles.clear()
            self._strips_style = base
        if not self._following and self._new_below and y == height - 1:
            return self._follow_bar(width)
        if self.wrap:
            rows = self._wrapped_rows if self._wrapped_rows is not None else self._wrap_rows()
            return rows[y] if y < len(rows) else Strip.blank(width, base)
        number = self.number_at(scroll_y + y)
        line = self._line(number) if number is not None else None
        live = self._live if self._filter is None else None
        if number is None and live is not None and scroll_y + y == self.row_count:
            number, line = 0, live  # the live row: key 0, which no line has
        if number is None or line is None:
            return Strip.blank(width, base)
        is_pointer = number == self.pointer
        strip = self._line_strip(number, line, base, is_pointer)
        fill = base + self.get_component_rich_style("log-view--pointer") if is_pointer else base
        return strip.crop_extend(scroll_x, scroll_x + width, fill)

    def _follow_bar(self, width: int) -> Strip:
        count = self._new_below
        noun = "line" if count == 1 else "lines"
        label = f" {count:,} new {noun} below — press f to follow "
        style = self.get_component_rich_style("log-view--follow-bar")
        text = Text(label.center(width) if len(label) < width else label)
        text.stylize(style)  # a Text without spans renders unstyled, whatever its style
        return Strip(text.render(self.app.console)).crop_extend(0, width, style)

    def _line_strip(self, key_number: int, line: LogLine, base: Style, is_pointer: bool) -> Strip:
        key = (key_number, is_pointer)
        cached = self._strips.get(key)
        if cached is not None:
            return cached
        raw = line.text
        if len(raw) > MAX_LINE_CELLS + _MARKER_ROOM:
            raw = raw[:MAX_LINE_CELLS] + cut_marker(len(raw), "chars")
        plain = raw if raw.isprintable() else printable(raw)
        styles = line.styles if len(plain) == len(line.text) else ()
        if (
            not (is_pointer or self._gutter or styles or "… [cut: " in plain)
            and (line.stream is not Stream.STDERR or self._marks)
            and (self._pattern is None or self._pattern.search(plain) is None)
        ):
            # The common row in a flood: one style, one segment, no Text to build and render.
            width = len(plain) if plain.isascii() else cell_len(plain)
            strip = Strip([Segment(plain, self._row_style(line.stream, base))], width)
            return self._keep_strip(key, self._mark(strip, line, base) if self._marks else strip)
        text = Text(plain, no_wrap=True, end="")
        text.stylize(base)  # a Text without spans renders unstyled, whatever its style
        if is_pointer:
            text.stylize(self.get_component_rich_style("log-view--pointer"))
        if line.stream is Stream.STDERR:
            text.stylize(component_style(self, "log-view--stderr"))
        elif line.stream is Stream.SYSTEM:
            text.stylize(component_style(self, "log-view--system"))
        for start, end, sgr in styles:  # the agent's own colours, over the stream's
            text.stylize(sgr_style(sgr), start, end)
        marker = _CUT_MARKER.search(plain)
        if marker is not None:
            cut_style = component_style(self, "log-view--cut")
            text.stylize(cut_style, marker.start())
            if is_pointer:
                text.append(" Enter opens it whole", cut_style)
        if self._pattern is not None:
            match_style = self.get_component_rich_style("log-view--match")
            for m in self._pattern.finditer(plain):
                if m.end() > m.start():
                    text.stylize(match_style, m.start(), m.end())
        if self._gutter:
            gutter = Text(str(line.number).rjust(self._gutter - 1) + " ", end="")
            gutter.stylize(base + component_style(self, "log-view--line-number"))
            text = Text.assemble(gutter, text, end="", no_wrap=True)
        strip = Strip(text.render(self.app.console), text.cell_len)
        if line.stream is Stream.STDERR and not self._marks:  # read back from the spool
            self._show_marks()
        return self._keep_strip(key, self._mark(strip, line, base) if self._marks else strip)

    def _show_marks(self) -> None:
        """Give stderr lines their bar: a column of one cell left of every line, from now on."""
        self._marks = 1
        self._strips.clear()
        if self.is_mounted:
            self.call_later(self._update_virtual_size)

    def _mark(self, strip: Strip, line: LogLine, base: Style) -> Strip:
        """``strip`` with the stream's column before it: a bar for stderr, blank for the rest."""
        if line.stream is Stream.STDERR:
            segment = Segment("▌", base + component_style(self, "log-view--stderr-mark"))
        else:
            segment = Segment(" ", base)
        return Strip([segment, *strip], strip.cell_length + 1)

    def _row_style(self, stream: Stream, base: Style) -> Style:
        """The style of a plain row of ``stream`` (cached with the strips)."""
        style = self._row_styles.get(stream)
        if style is None:
            style = base
            if stream is Stream.STDERR:
                style = base + component_style(self, "log-view--stderr")
            elif stream is Stream.SYSTEM:
                style = base + component_style(self, "log-view--system")
            self._row_styles[stream] = style
        return style

    def _keep_strip(self, key: tuple[int, bool], strip: Strip) -> Strip:
        if not (self._following and self._new_rows_each_frame):
            # Following a flood, each row is drawn once and gone: caching it would only keep it
            # alive long enough to burden the garbage collector.
            self._strips[key] = strip
        width = strip.cell_length
        if width > self._width + self._gutter + self._marks and self._history is not None:
            # Lines read back from the spool widen the view as they are first shown.
            self._width = min(width, MAX_LINE_CELLS + _MARKER_ROOM)
            self.call_later(self._update_virtual_size)
        return strip
