"""The scores pane: validation scores the agent reports about itself (never a grade)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Label, Sparkline

from mletui.events import Score
from mletui.tui.widgets.log_view import printable

BEST_MARK = "★"

_LOWER = frozenset({"lower", "min", "minimize", "minimise"})


def lower_is_better(direction: str) -> bool:
    """True when ``direction`` (as the agent reported it) means lower is better."""
    return direction.strip().lower() in _LOWER


@dataclass
class _Best:
    value: float
    row_key: str


class ScoresPane(Vertical):
    """A table of every reported score, the best per metric starred, and a sparkline.

    The sparkline and the title follow the first metric reported (the agent's main one).
    """

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
        & > #scores-summary {
            width: 1fr;
            padding: 0 1;
            color: $foreground-muted;
        }
        & > Sparkline {
            height: 2;
            margin: 0 1;
        }
        &.-lower-better > Sparkline > .sparkline--max-color {
            color: $primary 30%;
        }
        &.-lower-better > Sparkline > .sparkline--min-color {
            color: $primary;
        }
        & > DataTable {
            height: 1fr;
            background: $surface;
        }
    }
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._scores: list[Score] = []
        self._best: dict[str, _Best] = {}
        self._primary: str | None = None
        self._primary_lower = False

    def compose(self) -> ComposeResult:
        yield Label(self._title(), id="scores-title")
        yield Label(Text("no scores reported yet"), id="scores-summary")
        yield Sparkline([], id="scores-spark")
        table: DataTable[Text] = DataTable(id="scores-table", cursor_type="row", zebra_stripes=True)
        yield table

    def on_mount(self) -> None:
        table = self._table()
        table.add_column(Text("step"), key="step")
        table.add_column(Text("name"), key="name")
        table.add_column(Text("value"), key="value")
        table.add_column(Text("time"), key="time")
        table.add_column(Text("best"), key="best")
        pending, self._scores, self._best, self._primary = self._scores, [], {}, None
        for score in pending:
            self.add_score(score)

    # -- public API ------------------------------------------------------------------------

    @property
    def scores(self) -> tuple[Score, ...]:
        """Every score added, in arrival order."""
        return tuple(self._scores)

    def best(self, name: str) -> float | None:
        """The best value reported for metric ``name`` so far."""
        best = self._best.get(name)
        return None if best is None else best.value

    def add_score(self, score: Score) -> None:
        """Add one reported score as a row; re-star the best if it improved."""
        self._scores.append(score)
        if not self.is_mounted:
            return
        if self._primary is None:
            self._primary = score.name
            self._primary_lower = lower_is_better(score.direction)
            self.set_class(self._primary_lower, "-lower-better")
            self.query_one("#scores-title", Label).update(self._title())
        table = self._table()
        at_end = table.cursor_row >= table.row_count - 1
        row_key = str(len(self._scores) - 1)
        name = score.name if score.kind == "validation" else f"{score.name} ({score.kind})"
        table.add_row(
            Text(str(score.step), justify="right"),
            Text(printable(name)),
            Text(f"{score.value:.6g}", justify="right"),
            Text(time.strftime("%H:%M:%S", time.localtime(score.ts))),
            Text(""),
            key=row_key,
        )
        if self._improves(score):
            previous = self._best.get(score.name)
            if previous is not None:
                table.update_cell(previous.row_key, "best", Text(""))
            self._best[score.name] = _Best(score.value, row_key)
            table.update_cell(row_key, "best", Text(BEST_MARK, style="bold"))
        if at_end:
            table.move_cursor(row=table.row_count - 1)
        if score.name == self._primary:
            self._refresh_primary()

    # -- internals -------------------------------------------------------------------------

    def _table(self) -> DataTable[Text]:
        return self.query_one("#scores-table", DataTable)

    def _improves(self, score: Score) -> bool:
        if not math.isfinite(score.value):
            return False  # an agent reporting nan or inf is not a best
        best = self._best.get(score.name)
        if best is None:
            return True
        if lower_is_better(score.direction):
            return score.value < best.value
        return score.value > best.value

    def _title(self) -> Text:
        title = Text("validation (reported by the agent)")
        if self._primary is not None:
            title.append(" · lower is better" if self._primary_lower else " · higher is better")
        return title

    def _refresh_primary(self) -> None:
        assert self._primary is not None
        series = [
            s.value for s in self._scores if s.name == self._primary and math.isfinite(s.value)
        ]
        self.query_one("#scores-spark", Sparkline).data = series
        best = self._best.get(self._primary)
        summary = Text(printable(self._primary))
        summary.append(f" · {len(series)} reported")
        if best is not None:
            step = self._scores[int(best.row_key)].step
            summary.append(f" · best {best.value:.6g} {BEST_MARK} at step {step}")
            summary.append(f" · latest {series[-1]:.6g}" if series else "")
        self.query_one("#scores-summary", Label).update(summary)
