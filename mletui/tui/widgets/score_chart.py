"""A chart of scores over run time, drawn in text cells: two series, best-so-far, medal lines.

It renders what it is given (:meth:`ScoreChart.set_data`); it does no I/O. A point can be
chosen with the keyboard (left/right, Enter) or the mouse; the chart then posts
:class:`ScoreChart.PointChosen` with the point's key.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget

from mletui.core.clock import short_duration
from mletui.tui.format import component_style

VALIDATION = "validation"
GRADE = "grade"

MARKS = {VALIDATION: "•", GRADE: "◆"}
BEST_MARKS = {VALIDATION: "★", GRADE: "❖"}
HIDDEN_GRADE = "◇"  # a grade was made here; its value is hidden
LINE_CHARS = {"gold": "╌", "silver": "╌", "bronze": "╌", "median": "┄"}
BEST_SO_FAR = "─"


_Put = Callable[[int, int, str, Style], None]


@dataclass(frozen=True)
class ChartPoint:
    key: str  # the scores table's row key
    t: float  # seconds since the run began
    value: float
    series: str  # VALIDATION or GRADE
    best: bool = False


def format_value(value: float) -> str:
    """A value in at most 7 cells: ``0.9815``, ``56.902``, ``1.2e+04``."""
    text = f"{value:.4g}"
    return text if len(text) <= 7 else f"{value:.1e}"


class ScoreChart(Widget, can_focus=True):
    """Validation and grade points over run time, with the leaderboard's medal lines."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "score-chart--validation",
        "score-chart--grade",
        "score-chart--best-so-far",
        "score-chart--gold",
        "score-chart--silver",
        "score-chart--bronze",
        "score-chart--median",
        "score-chart--axis",
        "score-chart--selected",
    }

    DEFAULT_CSS = """
    ScoreChart {
        height: 7;
        background: $surface;
        & > .score-chart--validation { color: $text-primary; text-style: bold; }
        & > .score-chart--grade { color: $text-accent; text-style: bold; }
        & > .score-chart--best-so-far { color: $primary 60%; }
        & > .score-chart--gold { color: $text-accent; }
        & > .score-chart--silver { color: $foreground-muted; }
        & > .score-chart--bronze { color: $text-warning; }
        & > .score-chart--median { color: $foreground-muted; }
        & > .score-chart--axis { color: $foreground-muted; }
        & > .score-chart--selected { color: $text; background: $accent 40%; text-style: bold; }
        &:focus > .score-chart--selected { background: $accent; }
    }
    """

    HELP_TITLE = "Score chart"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "step(-1)", "Earlier", show=False),
        Binding("right", "step(1)", "Later", show=False),
        Binding("home", "edge(-1)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
        Binding(
            "enter",
            "choose",
            "Show its code",
            show=False,
            tooltip="the snapshot before the selected score (Enter on a table row does too)",
        ),
    ]

    class PointChosen(Message):
        """The operator chose the point ``key`` (Enter or a click)."""

        def __init__(self, chart: ScoreChart, key: str) -> None:
            super().__init__()
            self.chart = chart
            self.key = key

        @property
        def control(self) -> ScoreChart:
            return self.chart

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._points: list[ChartPoint] = []
        self._lines: list[tuple[str, float]] = []
        self._hidden: list[float] = []
        self._span = 0.0
        self._lower_is_better = False
        self._selected: str | None = None
        self._layout: _Layout | None = None

    # -- public API ------------------------------------------------------------------------

    @property
    def points(self) -> Sequence[ChartPoint]:
        return self._points

    @property
    def selected(self) -> str | None:
        return self._selected

    def set_data(
        self,
        points: Sequence[ChartPoint],
        lines: Sequence[tuple[str, float]] = (),
        hidden_grades: Sequence[float] = (),
        span: float = 0.0,
        lower_is_better: bool = False,
    ) -> None:
        """Plot ``points``; ``lines``: horizontal ``(label, value)`` lines; ``hidden_grades``:
        run times of grades whose value is hidden; ``span``: the run time the x axis covers;
        ``lower_is_better``: which way the best-so-far line goes."""
        self._lower_is_better = lower_is_better
        self._points = sorted(points, key=lambda p: p.t)
        self._lines = [(label, v) for label, v in lines if math.isfinite(v)]
        self._hidden = list(hidden_grades)
        self._span = span
        if self._selected is not None and all(p.key != self._selected for p in self._points):
            self._selected = None
        self.refresh()

    def select(self, key: str | None) -> None:
        """Mark the point ``key`` (None: no mark); posts nothing."""
        self._selected = key
        self.refresh()

    # -- keys and mouse --------------------------------------------------------------------

    def action_step(self, delta: int) -> None:
        if not self._points:
            return
        keys = [p.key for p in self._points]
        if self._selected not in keys:
            index = len(keys) - 1 if delta < 0 else 0
        else:
            index = min(max(keys.index(self._selected) + delta, 0), len(keys) - 1)
        self.select(keys[index])

    def action_edge(self, direction: int) -> None:
        if self._points:
            self.select(self._points[-1 if direction > 0 else 0].key)

    def action_choose(self) -> None:
        if self._selected is not None:
            self.post_message(self.PointChosen(self, self._selected))

    def on_click(self, event: events.Click) -> None:
        layout = self._layout
        if layout is None or not self._points:
            return
        nearest = min(
            self._points,
            key=lambda p: (
                abs(layout.column(p.t) - event.x) * 2 + abs(layout.row(p.value) - event.y),
                -p.t,
            ),
        )
        self.select(nearest.key)
        self.post_message(self.PointChosen(self, nearest.key))

    # -- drawing ---------------------------------------------------------------------------

    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        if width < 20 or height < 3:
            return Text("")
        values = [p.value for p in self._points] + [v for _label, v in self._lines]
        if not self._points and not self._hidden:
            return Text("no scores yet: the chart starts with the first one", style="italic dim")
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        if high - low < 1e-12:
            pad = abs(high) * 0.05 or 1.0
            low, high = low - pad, high + pad
        label_width = max(len(format_value(high)), len(format_value(low))) + 1
        right = 7 if self._lines else 1
        t_max = max([self._span, 1.0, *(p.t for p in self._points), *self._hidden])
        layout = _Layout(label_width, width - label_width - right, height - 1, low, high, t_max)
        self._layout = layout
        grid: list[list[tuple[str, Style]]] = [[(" ", Style())] * width for _ in range(height)]

        def put(x: int, y: int, char: str, style: Style) -> None:
            if 0 <= y < height and 0 <= x < width:
                grid[y][x] = (char, style)

        axis = self._style("score-chart--axis")
        for y in range(layout.plot_height):
            put(label_width - 1, y, "│", axis)
        for text, y in ((format_value(high), 0), (format_value(low), layout.plot_height - 1)):
            for i, ch in enumerate(text.rjust(label_width - 1)):
                put(i, y, ch, axis)

        for label, value in self._lines:
            y = layout.row(value)
            style = self._style(f"score-chart--{label}") if label in LINE_CHARS else axis
            for x in range(label_width, label_width + layout.plot_width):
                put(x, y, LINE_CHARS.get(label, "╌"), style)
            for i, ch in enumerate(label[: right - 1]):
                put(label_width + layout.plot_width + 1 + i, y, ch, style)

        self._draw_best_so_far(put, layout)

        selected: ChartPoint | None = None
        for point in self._points:
            if point.key == self._selected:
                selected = point
                continue
            style = self._style(f"score-chart--{point.series}")
            mark = (BEST_MARKS if point.best else MARKS).get(point.series, "•")
            put(layout.column(point.t), layout.row(point.value), mark, style)
        if selected is not None:
            mark = (BEST_MARKS if selected.best else MARKS).get(selected.series, "•")
            x, y = layout.column(selected.t), layout.row(selected.value)
            style = self._style("score-chart--selected")
            put(x, y, mark, style)
            self._draw_value_tag(put, layout, x, y, f" {format_value(selected.value)} ", style)

        bottom = height - 1
        start, end = "0:00", short_duration(t_max)
        for i, ch in enumerate(start):
            put(label_width + i, bottom, ch, axis)
        for i, ch in enumerate(end):
            put(label_width + layout.plot_width - len(end) + i, bottom, ch, axis)
        grade_style = self._style("score-chart--grade")
        for t in self._hidden:
            put(layout.column(t), bottom, HIDDEN_GRADE, grade_style)

        out = Text(no_wrap=True, overflow="crop", end="")
        for y, row in enumerate(grid):
            if y:
                out.append("\n")
            for char, style in row:
                out.append(char, style)
        return out

    def _draw_value_tag(
        self, put: _Put, layout: _Layout, x: int, y: int, tag: str, style: Style
    ) -> None:
        """The selected point's value beside it, inside the plot: the y axis's values and the
        medal lines' labels stay readable. Right of the point, else left of it, else on the next
        row (the row above at the bottom), as far right as the plot allows."""
        start, end = layout.left, layout.left + layout.plot_width
        if x + 1 + len(tag) <= end:
            left = x + 1
        elif x - len(tag) >= start:
            left = x - len(tag)
        else:
            left = max(start, min(x - len(tag) // 2, end - len(tag)))
            y = y + 1 if y + 1 < layout.plot_height else y - 1
        for i, ch in enumerate(tag):
            if start <= left + i < end:
                put(left + i, y, ch, style)

    def _draw_best_so_far(self, put: _Put, layout: _Layout) -> None:
        """A dim step line through the validation series' best value so far."""
        series = [p for p in self._points if p.series == VALIDATION]
        if len(series) < 2:
            return
        lower = self._lower_is_better
        style = self._style("score-chart--best-so-far")
        best = series[0].value
        for point, following in itertools.pairwise(series):
            best = min(best, point.value) if lower else max(best, point.value)
            y = layout.row(best)
            for x in range(layout.column(point.t) + 1, layout.column(following.t)):
                put(x, y, BEST_SO_FAR, style)

    def _style(self, component: str) -> Style:
        return component_style(self, component)


@dataclass(frozen=True)
class _Layout:
    left: int  # first plot column
    plot_width: int
    plot_height: int
    low: float
    high: float
    t_max: float

    def column(self, t: float) -> int:
        span = max(self.plot_width - 1, 1)
        return self.left + round(min(max(t / self.t_max, 0.0), 1.0) * span)

    def row(self, value: float) -> int:
        span = max(self.plot_height - 1, 1)
        fraction = (self.high - value) / (self.high - self.low)
        return round(min(max(fraction, 0.0), 1.0) * span)
