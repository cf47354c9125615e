"""The scores chart's selected value never covers the medal lines' labels or the axis."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from mletui.tui.widgets.score_chart import GRADE, VALIDATION, ChartPoint, ScoreChart

LINES = (("gold", 0.98), ("silver", 0.97), ("bronze", 0.95), ("median", 0.9))


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield ScoreChart()


def points(last_t: float) -> list[ChartPoint]:
    return [
        ChartPoint("v1", 5, 0.9545, VALIDATION),
        ChartPoint("g1", 10, 0.97111, GRADE),
        ChartPoint("v2", last_t, 0.9778, VALIDATION, best=True),
    ]


@pytest.mark.parametrize("width", [80, 40, 24])
@pytest.mark.parametrize("last_t", [28.0, 27.0, 25.5, 5.5])
async def test_the_selected_value_stays_inside_the_plot(width: int, last_t: float) -> None:
    app = Host()
    async with app.run_test(size=(width, 12)) as pilot:
        chart = app.query_one(ScoreChart)
        chart.set_data(points(last_t), LINES, span=28.0)
        chart.select(None)
        await pilot.pause()
        bare = chart.render().plain.split("\n")
        chart.select("v2")
        await pilot.pause()
        rows = chart.render().plain.split("\n")
        layout = chart._layout
        assert layout is not None
        start, end = layout.left, layout.left + layout.plot_width
        for before, after in zip(bare, rows, strict=True):
            # Outside the plot (the axis values, the lines' labels) nothing changed.
            assert before[:start] == after[:start]
            assert before[end:] == after[end:]
        for label, _ in LINES:
            assert any(row.rstrip().endswith(label[: width - end - 1]) for row in rows), label
        if width >= 40:
            assert "0.9778" in "\n".join(rows)  # the value shows where there is room for it
