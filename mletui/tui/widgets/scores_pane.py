"""The scores pane: validation scores (the agent's own) and grades (held-out, mletui's), apart.

Both series are drawn over run time in a :class:`ScoreChart` (the best so far marked, the
leaderboard's medal lines, the direction in the title) and listed in a table of steps. Choosing a
row or a point posts :class:`ScoresPane.ScoreChosen` with the workspace snapshot behind it, so the
screen can show that code.

The leakage guard: a grade's value and medal stay hidden ("graded, hidden") until
:meth:`ScoresPane.reveal_grades` (the screen journals the reveal first) or the run has ended.
Whether a submission is valid, and why not, is always shown: it says nothing about the answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.widgets import DataTable, Label

from mletui.core.clock import short_duration, wall_clock
from mletui.core.events import Grade, GradingInfo, Score
from mletui.tui.format import component_style, printable
from mletui.tui.widgets.score_chart import (
    BEST_MARKS,
    BEST_SO_FAR,
    GRADE,
    HIDDEN_GRADE,
    LINE_CHARS,
    MARKS,
    VALIDATION,
    ChartPoint,
    ScoreChart,
)

BEST_MARK = "★"
GRADE_BEST_MARK = "❖"
HIDDEN = "hidden"
MEDAL_MARKS = {"gold": "gold", "silver": "silver", "bronze": "bronze"}

_LOWER = frozenset({"lower", "min", "minimize", "minimise"})


def lower_is_better(direction: str) -> bool:
    """True when ``direction`` (as the agent reported it) means lower is better."""
    return direction.strip().lower() in _LOWER


@dataclass
class _Best:
    value: float
    row_key: str


@dataclass(frozen=True)
class _Row:
    """One table row: a validation score or a grade."""

    key: str
    ts: float
    kind: str  # VALIDATION or GRADE
    snapshot_seq: int | None
    score: Score | None = None
    grade: Grade | None = None


class ScoresTable(DataTable[Text]):
    """The table of scores: while its cursor is on the newest row, that row stays in view,
    however late the rows are measured (a row added before the table's first layout too)."""

    def watch_virtual_size(self, size: Size) -> None:
        # A column that grew (a long metric name) must not keep lines drawn at its old width.
        self._clear_caches()
        self.refresh()
        if self.row_count and self.cursor_row >= self.row_count - 1:
            self.scroll_end(animate=False, immediate=True)


class ScoresPane(Vertical):
    """Validation scores and grades: a title, two summary lines, a chart, a table of steps."""

    DEFAULT_CSS = """
    ScoresPane {
        height: 1fr;
        & > #scores-title {
            width: 1fr;
            padding: 0 1;
            background: $panel;
            color: $foreground;
            text-style: bold;
        }
        & > .scores-line {
            width: 1fr;
            height: 1;
            padding: 0 1;
            color: $foreground-muted;
            text-wrap: nowrap;
            text-overflow: ellipsis;
        }
        & > #scores-grade.-hidden-grade { color: $text-warning; }
        & > ScoreChart { margin: 0 0 0 1; }
        &.-maximized > ScoreChart { height: 2fr; }
        & > DataTable {
            height: 1fr;
            min-height: 3;
            background: $surface;
        }
    }
    """

    HELP_TITLE = "Scores"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "z",
            "toggle_zoom",
            "Zoom scores",
            show=False,
            tooltip="the pane, full screen (again, or Esc: back)",
        ),
    ]
    ALLOW_MAXIMIZE = True

    class ScoreChosen(Message):
        """The operator chose a score or a grade: show the code behind it."""

        def __init__(
            self, pane: ScoresPane, key: str, kind: str, snapshot_seq: int | None, ts: float
        ) -> None:
            super().__init__()
            self.pane = pane
            self.key = key
            self.kind = kind
            self.snapshot_seq = snapshot_seq  # None: not recorded (an older journal)
            self.ts = ts

        @property
        def control(self) -> ScoresPane:
            return self.pane

    def __init__(
        self,
        *,
        grades_shown: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._scores: list[Score] = []
        self._grades: list[Grade] = []
        self._rows: dict[str, _Row] = {}
        self._best: dict[tuple[str, str], _Best] = {}
        self._primary: str | None = None
        self._grading: GradingInfo | None = None
        self._grades_shown = grades_shown
        self._origin: float | None = None
        self._span = 0.0
        self._pending: list[Score | Grade | GradingInfo] = []

    def compose(self) -> ComposeResult:
        yield Label(self._title(), id="scores-title")
        yield Label(self._validation_line(), id="scores-validation", classes="scores-line")
        yield Label(self._grade_line(), id="scores-grade", classes="scores-line")
        yield ScoreChart(id="scores-chart")
        yield Label(self._legend(), id="scores-legend", classes="scores-line")
        table: DataTable[Text] = ScoresTable(
            id="scores-table", cursor_type="row", zebra_stripes=True
        )
        yield table

    def on_mount(self) -> None:
        table = self._table()
        for key in ("time", "kind", "name", "value", "best", "step", "code", "note"):
            table.add_column(Text(key), key=key)
        pending, self._pending = self._pending, []
        for item in pending:
            self._add(item)
        self._refresh_all()

    # -- public API ------------------------------------------------------------------------

    @property
    def scores(self) -> tuple[Score, ...]:
        """Every validation score added, in arrival order."""
        return tuple(self._scores)

    @property
    def grades(self) -> tuple[Grade, ...]:
        """Every grade added, in arrival order."""
        return tuple(self._grades)

    @property
    def grades_shown(self) -> bool:
        """Grade values are on screen (revealed, shown openly, or the run has ended)."""
        return self._grades_shown

    def best(self, name: str) -> float | None:
        """The best validation value reported for metric ``name`` so far."""
        best = self._best.get((VALIDATION, name))
        return None if best is None else best.value

    def add_score(self, score: Score) -> None:
        """Add one validation score; re-star the best if it improved."""
        self._add(score)

    def add_grade(self, grade: Grade) -> None:
        """Add mletui's grade of one submission (its value hidden unless grades are shown)."""
        self._add(grade)

    def set_grading(self, info: GradingInfo) -> None:
        """How the run is graded: the metric, the direction, the medal lines."""
        self._add(info)

    def set_origin(self, ts: float | None) -> None:
        """When the run began: the chart's time axis starts there."""
        self._origin = ts
        if self.is_mounted:
            self._refresh_chart()

    def set_span(self, seconds: float) -> None:
        """How long the run has gone on: the chart's time axis reaches that far."""
        if abs(seconds - self._span) >= 1.0 or seconds < self._span:
            self._span = seconds
            if self.is_mounted:
                self._refresh_chart()

    def reveal_grades(self) -> None:
        """Show the grades' values and medals (the caller has journaled the reveal)."""
        if self._grades_shown:
            return
        self._grades_shown = True
        if not self.is_mounted:
            return
        table = self._table()
        for row in self._rows.values():
            if row.grade is not None:
                value, note = self._grade_cells(row.grade)
                # The hidden value was narrower: make room, whenever the reveal comes.
                table.update_cell(row.key, "value", value, update_width=True)
                table.update_cell(row.key, "note", note, update_width=True)
        best = self._best.get((GRADE, self._grade_metric()))
        if best is not None:
            table.update_cell(best.row_key, "best", Text(GRADE_BEST_MARK, style="bold"))
        self._refresh_all()

    def choose(self, key: str) -> None:
        """Choose a row by key, as the operator does with Enter: posts :class:`ScoreChosen`."""
        row = self._rows.get(key)
        if row is None:
            return
        self._sync_selection(key)
        self.post_message(self.ScoreChosen(self, key, row.kind, row.snapshot_seq, row.ts))

    def show_step(self, step: int) -> bool:
        """Select the score the agent reported for ``step`` (its main metric's, if it reported
        several), without choosing it; False when that step has no score here."""
        rows = [r for r in self._rows.values() if r.score is not None and r.score.step == step]
        if not rows:
            return False
        main = [r for r in rows if r.score is not None and r.score.name == self._primary]
        self._sync_selection((main or rows)[-1].key)
        return True

    @property
    def selected_score(self) -> Score | None:
        """The validation score selected in the chart and the table, if one is."""
        row = self._rows.get(self.query_one(ScoreChart).selected or "")
        return row.score if row is not None else None

    def action_toggle_zoom(self) -> None:
        """Fill the screen with the pane, or give the room back (also Esc)."""
        screen = self.screen
        if screen.maximized is self:
            screen.minimize()
        else:
            screen.maximize(self, container=False)

    # -- adding ----------------------------------------------------------------------------

    def _add(self, item: Score | Grade | GradingInfo) -> None:
        if not self.is_mounted:
            self._pending.append(item)
            return
        if isinstance(item, GradingInfo):
            self._grading = item
            self._refresh_all()
        elif isinstance(item, Score):
            self._add_score(item)
        else:
            self._add_grade(item)

    def _add_score(self, score: Score) -> None:
        self._scores.append(score)
        if self._primary is None:
            self._primary = score.name
        key = f"v{len(self._scores) - 1}"
        self._add_row(
            _Row(key, score.ts, VALIDATION, score.snapshot_seq, score=score),
            name=score.name,
            value=Text(f"{score.value:.6g}", justify="right"),
            step=str(score.step),
            note=Text("log line" if score.source == "log" else "", style="dim"),
        )
        if self._improves(VALIDATION, score.name, score.value, score.direction):
            self._star(VALIDATION, score.name, score.value, key, show=True)
        self._refresh_all()

    def _add_grade(self, grade: Grade) -> None:
        self._grades.append(grade)
        key = f"g{len(self._grades) - 1}"
        value, note = self._grade_cells(grade)
        self._add_row(
            _Row(key, grade.ts, GRADE, grade.snapshot_seq, grade=grade),
            name=grade.metric,
            value=value,
            step=f"sub {grade.submission}",
            note=note,
        )
        if (
            grade.valid
            and grade.score is not None
            and self._improves(GRADE, grade.metric, grade.score, grade.direction)
        ):
            self._star(GRADE, grade.metric, grade.score, key, show=self._grades_shown)
        self._refresh_all()

    def _add_row(self, row: _Row, *, name: str, value: Text, step: str, note: Text) -> None:
        self._rows[row.key] = row
        table = self._table()
        at_end = table.cursor_row >= table.row_count - 1
        kind = Text(row.kind, style="bold" if row.kind == GRADE else "")
        code = "-" if row.snapshot_seq is None else f"#{row.snapshot_seq}"
        table.add_row(
            Text(self._clock(row.ts)),
            kind,
            Text(printable(name)),
            value,
            Text(""),
            Text(step, justify="right"),
            Text(code, justify="right"),
            note,
            key=row.key,
        )
        if at_end:
            table.move_cursor(row=table.row_count - 1)

    def _grade_cells(self, grade: Grade) -> tuple[Text, Text]:
        if grade.valid and grade.score is None:  # a grading server's word: valid, no score
            return Text("valid", justify="right"), Text(f"{grade.checked_by}: no score")
        if not grade.valid or grade.score is None:
            reason = printable(grade.reason or "invalid submission")
            return Text("invalid", style="bold", justify="right"), Text(reason)
        if not self._grades_shown:
            return Text(HIDDEN, style="italic", justify="right"), Text("graded, hidden")
        note = grade.medal or ("above median" if grade.above_median else "")
        return Text(f"{grade.score:.6g}", justify="right"), Text(note, style="bold")

    def _improves(self, kind: str, name: str, value: float, direction: str) -> bool:
        if not math.isfinite(value):
            return False  # an agent reporting nan or inf is not a best
        best = self._best.get((kind, name))
        if best is None:
            return True
        if lower_is_better(direction):
            return value < best.value
        return value > best.value

    def _star(self, kind: str, name: str, value: float, key: str, *, show: bool) -> None:
        table = self._table()
        previous = self._best.get((kind, name))
        if previous is not None:
            table.update_cell(previous.row_key, "best", Text(""))
        self._best[(kind, name)] = _Best(value, key)
        if show:
            mark = BEST_MARK if kind == VALIDATION else GRADE_BEST_MARK
            table.update_cell(key, "best", Text(mark, style="bold"))

    # -- choosing --------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#scores-table")
    def _on_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.choose(event.row_key.value)

    @on(DataTable.RowHighlighted, "#scores-table")
    def _on_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        key = event.row_key.value
        chart = self.query_one(ScoreChart)
        if key is not None and any(p.key == key for p in chart.points):
            chart.select(key)

    @on(ScoreChart.PointChosen)
    def _on_point_chosen(self, event: ScoreChart.PointChosen) -> None:
        event.stop()
        self.choose(event.key)

    def _sync_selection(self, key: str) -> None:
        table = self._table()
        try:
            index = table.get_row_index(key)
        except Exception:  # RowDoesNotExist: nothing to sync
            return
        if table.cursor_row != index:
            table.move_cursor(row=index)
        self.query_one(ScoreChart).select(key)

    # -- rendering -------------------------------------------------------------------------

    def _table(self) -> DataTable[Text]:
        return self.query_one("#scores-table", DataTable)

    def _clock(self, ts: float) -> str:
        if self._origin is None:
            return wall_clock(ts)
        return short_duration(ts - self._origin)

    def _metric(self) -> str | None:
        if self._grading is not None and self._grading.metric:
            return self._grading.metric
        return self._primary

    def _direction(self) -> str | None:
        if self._grading is not None and self._grading.metric:
            return self._grading.direction
        if self._scores:
            return "lower" if lower_is_better(self._scores[0].direction) else "higher"
        return None

    def _plotted_validation(self) -> str | None:
        """The validation metric drawn: the one named as the task's metric, else the first."""
        names = {s.name for s in self._scores}
        metric = self._metric()
        return metric if metric in names else self._primary

    def _grade_metric(self) -> str:
        if self._grades:
            return self._grades[-1].metric
        return self._grading.metric if self._grading is not None else ""

    def _title(self) -> Text:
        title = Text("Scores")
        metric = self._metric()
        if metric:
            title.append(f" · {printable(metric)}")
        direction = self._direction()
        if direction == "lower":
            title.append(" · lower is better ↓")
        elif direction == "higher":
            title.append(" · higher is better ↑")
        return title

    def _validation_line(self) -> Text:
        line = Text("validation", style="bold", no_wrap=True, overflow="ellipsis")
        line.append(" · the agent's own split · ")
        name = self._plotted_validation()
        series = [s for s in self._scores if s.name == name and math.isfinite(s.value)]
        if not series:
            line.append("none reported yet")
            return line
        best = self._best.get((VALIDATION, name or ""))
        if best is not None:
            step = self._rows[best.row_key].score
            line.append(f"best {best.value:.5g} {BEST_MARK}")
            if step is not None:
                line.append(f" step {step.step}")
        line.append(f" · latest {series[-1].value:.5g} · {len(series)} reported")
        if len({s.name for s in self._scores}) > 1:
            line.append(f" ({printable(name or '')}; other metrics in the table)")
        return line

    def _grade_line(self) -> Text:
        info = self._grading
        line = Text("grade", style="bold", no_wrap=True, overflow="ellipsis")
        line.append(f" · held-out, by {printable(info.grader if info else 'mletui')} · ")
        if info is not None and not info.available and not self._grades:
            line.append(printable(info.note or "submissions are not graded"))
            return line
        if not self._grades:
            line.append("no submission yet")
            return line
        latest = self._grades[-1]
        scored = info is None or info.available
        count = f"{len(self._grades)} {'graded' if scored else 'checked'}"
        if not latest.valid:
            line.append(f"{count} · latest submission invalid: ")
            line.append(printable(latest.reason or "unknown reason"))
            return line
        if latest.score is None:
            line.append(f"{count} · latest submission valid ({printable(latest.checked_by)})")
            if info is not None and not info.available:
                line.append(f" · {printable(info.note)}")
            return line
        if not self._grades_shown:
            line.append(f"{count}, hidden · R reveals (journaled)")
            return line
        assert latest.score is not None
        line.append(f"latest {latest.score:.6g}")
        if latest.medal:
            line.append(f" {latest.medal}", style="bold")
        best = self._best.get((GRADE, latest.metric))
        if best is not None:
            line.append(f" · best {best.value:.6g} {GRADE_BEST_MARK}")
        line.append(f" · {count}")
        return line

    def _legend(self) -> Text:
        chart = self.query_one(ScoreChart) if self.is_mounted else None

        def style(component: str) -> Style:
            return Style() if chart is None else component_style(chart, component)

        legend = Text(no_wrap=True, overflow="ellipsis")
        for series in (VALIDATION, GRADE):
            legend.append(MARKS[series], style(f"score-chart--{series}"))
            legend.append(BEST_MARKS[series], style(f"score-chart--{series}"))
            legend.append(f" {series}  ")
        if self._grades and not self._grades_shown:
            legend.append(HIDDEN_GRADE, style("score-chart--grade"))
            legend.append(" hidden  ")
        legend.append(BEST_SO_FAR, style("score-chart--best-so-far"))
        legend.append(" best so far  ")
        info = self._grading
        if info is None or not info.thresholds:
            legend.append("no leaderboard, no medal lines  ", style="dim")
        else:
            teams = f"{info.teams} on the leaderboard" if info.teams else "leaderboard"
            legend.append(f"{teams}:", style="dim")
            for label, value in info.thresholds:
                legend.append(" ")
                legend.append(LINE_CHARS.get(label, "╌"), style(f"score-chart--{label}"))
                legend.append(f" {label} {value:.4g}")
            legend.append("  ")
        legend.append("z zooms", style="dim")
        return legend

    def _refresh_all(self) -> None:
        if not self.is_mounted:
            return
        self.query_one("#scores-title", Label).update(self._title())
        self.query_one("#scores-validation", Label).update(self._validation_line())
        grade_label = self.query_one("#scores-grade", Label)
        grade_label.update(self._grade_line())
        latest = self._grades[-1] if self._grades else None
        hidden = latest is not None and not self._grades_shown and latest.score is not None
        grade_label.set_class(hidden, "-hidden-grade")
        self.query_one("#scores-legend", Label).update(self._legend())
        self._refresh_chart()

    def _refresh_chart(self) -> None:
        origin = self._origin
        if origin is None:
            stamps = [s.ts for s in self._scores] + [g.ts for g in self._grades]
            origin = min(stamps) if stamps else 0.0
        name = self._plotted_validation()
        points: list[ChartPoint] = []
        for key, row in self._rows.items():
            if row.score is not None and row.score.name == name:
                if not math.isfinite(row.score.value):
                    continue
                best = self._best.get((VALIDATION, row.score.name))
                is_best = best is not None and best.row_key == key
                points.append(
                    ChartPoint(key, row.ts - origin, row.score.value, VALIDATION, is_best)
                )
            elif row.grade is not None and row.grade.valid and row.grade.score is not None:
                if not self._grades_shown:
                    continue
                best = self._best.get((GRADE, row.grade.metric))
                is_best = best is not None and best.row_key == key
                points.append(ChartPoint(key, row.ts - origin, row.grade.score, GRADE, is_best))
        hidden = (
            []
            if self._grades_shown
            else [g.ts - origin for g in self._grades if g.valid and g.score is not None]
        )
        lines = self._grading.thresholds if self._grading is not None else ()
        direction = self._direction() or "higher"
        self.query_one(ScoreChart).set_data(
            points,
            lines,
            hidden,
            span=self._span,
            lower_is_better=direction == "lower",
        )
