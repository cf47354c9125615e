"""The scores pane and its chart, hosted in a tiny app and driven through Pilot (no runs)."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Label

from mletui.core.events import Grade, GradingInfo, Score
from mletui.tui.widgets.score_chart import ScoreChart
from mletui.tui.widgets.scores_pane import ScoresPane

T0 = 1_700_000_000.0
LINES = (("gold", 0.98), ("silver", 0.97), ("bronze", 0.95), ("median", 0.9))


class Host(App[None]):
    def __init__(self, pane: ScoresPane) -> None:
        super().__init__()
        self.pane = pane
        self.chosen: list[ScoresPane.ScoreChosen] = []

    def compose(self) -> ComposeResult:
        yield self.pane

    def on_scores_pane_score_chosen(self, message: ScoresPane.ScoreChosen) -> None:
        self.chosen.append(message)


def grade(n: int, score: float | None, medal: str | None = None, seq: int = 1) -> Grade:
    return Grade(
        ts=T0 + 10 * n,
        submission=n,
        valid=score is not None,
        score=score,
        reason=None if score is not None else "Submission submission.csv is empty (0 bytes).",
        metric="accuracy",
        direction="higher",
        medal=medal,
        above_median=score is not None and score > 0.9,
        snapshot_seq=seq,
    )


def text_of(pane: ScoresPane, selector: str) -> str:
    content = pane.query_one(selector, Label).content
    return content.plain if isinstance(content, Text) else str(content)


def chart_rows(chart: ScoreChart) -> list[str]:
    return chart.render().plain.split("\n")


async def test_the_chart_draws_both_series_medal_lines_and_hidden_grades() -> None:
    pane = ScoresPane()
    app = Host(pane)
    async with app.run_test(size=(90, 30)) as pilot:
        pane.set_origin(T0)
        pane.set_grading(GradingInfo(T0, "accuracy", "higher", True, "graded", LINES, 41))
        for step, value in enumerate([0.91, 0.96, 0.93], start=1):
            pane.add_score(
                Score(T0 + 10 * step, step, "accuracy", value, "higher", snapshot_seq=step)
            )
        pane.add_grade(grade(1, 0.955, "bronze", seq=2))
        await pilot.pause()
        chart = pane.query_one(ScoreChart)
        rows = chart_rows(chart)
        assert [row.rstrip().rsplit(" ", 1)[-1] for row in rows if "╌" in row] == [
            "gold",
            "silver",
            "bronze",
        ]
        assert any(row.rstrip().endswith("median") for row in rows)
        body = "\n".join(rows)
        assert body.count("★") == 1 and body.count("•") == 2  # the best, and the others
        assert "◆" not in body and "❖" not in body and "◇" in rows[-1]  # hidden: a mark only
        assert "─" in body  # the best so far, between points
        assert "higher is better ↑" in text_of(pane, "#scores-title")
        assert "1 graded, hidden" in text_of(pane, "#scores-grade")
        assert "41 on the leaderboard" in text_of(pane, "#scores-legend")

        pane.reveal_grades()
        await pilot.pause()
        body = "\n".join(chart_rows(chart))
        assert "❖" in body and "◇" not in body
        table = pane.query_one("#scores-table", DataTable)
        assert [str(c) for c in table.get_row("g0")[3:5]] == ["0.955", "❖"]
        assert "latest 0.955 bronze" in text_of(pane, "#scores-grade")


async def test_clicking_a_point_chooses_its_score() -> None:
    pane = ScoresPane()
    app = Host(pane)
    async with app.run_test(size=(90, 30)) as pilot:
        pane.set_origin(T0)
        pane.add_score(Score(T0 + 10, 1, "loss", 0.9, "lower", snapshot_seq=4))
        pane.add_score(Score(T0 + 100, 2, "loss", 0.2, "lower", snapshot_seq=7))
        await pilot.pause()
        chart = pane.query_one(ScoreChart)
        rows = chart_rows(chart)
        (y,) = [n for n, row in enumerate(rows) if "•" in row]
        x = rows[y].index("•")
        await pilot.click(ScoreChart, offset=(x, y))
        await pilot.pause()
        assert [(m.key, m.snapshot_seq) for m in app.chosen] == [("v0", 4)]
        assert pane.query_one("#scores-table", DataTable).cursor_row == 0
        assert "lower is better ↓" in text_of(pane, "#scores-title")


async def test_an_invalid_grade_shows_its_reason_even_while_hidden() -> None:
    pane = ScoresPane()
    app = Host(pane)
    async with app.run_test(size=(120, 30)) as pilot:
        pane.add_grade(grade(1, None))
        await pilot.pause()
        row = pane.query_one("#scores-table", DataTable).get_row("g0")
        assert str(row[3]) == "invalid" and "is empty (0 bytes)" in str(row[7])
        assert "latest submission invalid: Submission submission.csv is empty" in text_of(
            pane, "#scores-grade"
        )


async def test_agent_text_is_never_markup() -> None:
    pane = ScoresPane()
    app = Host(pane)
    async with app.run_test(size=(120, 30)) as pilot:
        pane.add_score(Score(T0, 1, "[bold red]x[/]\x1b[2J", 0.5, "higher"))
        await pilot.pause()
        name = str(pane.query_one("#scores-table", DataTable).get_row("v0")[2])
        assert name.startswith("[bold red]x[/]") and "\x1b" not in name


async def test_z_zooms_the_pane_and_back() -> None:
    pane = ScoresPane()
    app = Host(pane)
    async with app.run_test(size=(90, 30)) as pilot:
        pane.query_one("#scores-table", DataTable).focus()
        await pilot.press("z")
        assert app.screen.maximized is pane
        await pilot.press("z")
        assert app.screen.maximized is None


async def test_a_grading_server_s_word_is_valid_without_a_score() -> None:
    """An MLE-bench run's submission checked by its container's grading server only."""
    from dataclasses import replace

    server = "the container's grading server"
    pane = ScoresPane()
    app = Host(pane)
    async with app.run_test(size=(160, 30)) as pilot:
        note = "no private answers at /data/x: the container's grading server checks validity only"
        pane.set_grading(GradingInfo(T0, "score", "higher", False, note, grader=server))
        await pilot.pause()
        assert note in text_of(pane, "#scores-grade")
        pane.add_grade(replace(grade(1, None), valid=True, reason=None, checked_by=server))
        await pilot.pause()
        row = pane.query_one("#scores-table", DataTable).get_row("g0")
        assert str(row[3]) == "valid" and str(row[7]) == f"{server}: no score"
        line = text_of(pane, "#scores-grade")
        assert f"held-out, by {server}" in line and "1 checked · latest submission valid" in line
        assert "hidden" not in line  # nothing to hide: there is no score
