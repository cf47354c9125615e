"""The watch screen's widgets, each hosted in a tiny app and driven through Pilot."""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Sequence

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.color import Color
from textual.containers import VerticalScroll
from textual.geometry import Region
from textual.message import Message
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Label, OptionList, Static
from textual.worker import WorkerCancelled

from mletui.core.events import (
    ActionRecord,
    FileChange,
    HintStatus,
    HintsUpdate,
    LogLine,
    ResourceSample,
    RunState,
    Score,
    Snapshot,
    StatusUpdate,
    Stream,
)
from mletui.tui.dialogs import ConfirmKillDialog, HelpScreen, HintDialog
from mletui.tui.grade_guard import RevealGradeDialog
from mletui.tui.widgets import (
    CodePane,
    HintsPane,
    LogView,
    ResourcesPane,
    RunHeader,
    ScoresPane,
)
from mletui.tui.widgets.scores_pane import BEST_MARK

T0 = 1_700_000_000.0


class Host(App[None]):
    """Hosts one widget and records the messages it posts."""

    def __init__(self, widget: Widget) -> None:
        super().__init__()
        self.widget = widget
        self.posted: list[Message] = []

    def compose(self) -> ComposeResult:
        yield self.widget

    def on_log_view_follow_changed(self, message: LogView.FollowChanged) -> None:
        self.posted.append(message)

    def on_code_pane_snapshot_selected(self, message: CodePane.SnapshotSelected) -> None:
        self.posted.append(message)


def lines(start: int, count: int, stream: Stream = Stream.STDOUT) -> list[LogLine]:
    return [
        LogLine(ts=T0 + n, stream=stream, text=f"line {n}", number=n + 1)
        for n in range(start, start + count)
    ]


def screen_rows(log: LogView) -> list[str]:
    return [log.text_at(y).rstrip() for y in range(log.scrollable_content_region.height)]


def plain(widget: Static) -> str:
    content = widget.content
    if isinstance(content, Text):
        return content.plain
    if isinstance(content, str):
        return content
    # Another renderable (a grid), as it reads at the widget's width.
    console = Console(width=widget.content_size.width or 120, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


# -- LogView -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_log_view_shows_the_tail_of_ten_thousand_lines() -> None:
    log = LogView()
    app = Host(log)
    async with app.run_test(size=(80, 20)) as pilot:
        log.add_lines(lines(0, 10_000))
        await pilot.pause()
        rows = screen_rows(log)
        assert rows[-1] == "line 9999"
        assert rows[0] == f"line {10_000 - len(rows)}"
        assert log.following
        assert log.line_count == 10_000


@pytest.mark.asyncio
async def test_log_view_stops_following_when_scrolled_up_and_f_follows() -> None:
    log = LogView()
    app = Host(log)
    async with app.run_test(size=(80, 20)) as pilot:
        log.add_lines(lines(0, 1_000))
        await pilot.pause()
        log.focus()
        await pilot.press("pageup")
        await pilot.pause()
        assert not log.following
        top = screen_rows(log)[0]

        log.add_lines(lines(1_000, 25))
        await pilot.pause()
        rows = screen_rows(log)
        assert rows[0] == top, "new lines must not move what the operator is reading"
        assert "25 new lines below — press f to follow" in rows[-1]
        assert log.new_lines_below == 25

        await pilot.press("f")
        await pilot.pause()
        assert log.following
        assert log.new_lines_below == 0
        assert screen_rows(log)[-1] == "line 1024"
        follows = [m.following for m in app.posted if isinstance(m, LogView.FollowChanged)]
        assert follows == [False, True]


@pytest.mark.asyncio
async def test_log_view_end_follows_and_scrolling_to_the_bottom_follows() -> None:
    log = LogView()
    app = Host(log)
    async with app.run_test(size=(80, 20)) as pilot:
        log.add_lines(lines(0, 500))
        await pilot.pause()
        log.focus()
        await pilot.press("home")
        await pilot.pause()
        assert not log.following
        await pilot.press("end")
        await pilot.pause()
        assert log.following
        log.scroll_to(y=log.max_scroll_y - 3, animate=False)
        await pilot.pause()
        assert not log.following
        log.scroll_to(y=log.max_scroll_y, animate=False)
        await pilot.pause()
        assert log.following


@pytest.mark.asyncio
async def test_log_view_shows_hostile_text_verbatim() -> None:
    log = LogView()
    app = Host(log)
    hostile = [
        LogLine(T0, Stream.STDOUT, "[bold]x[/]", 1),
        LogLine(T0, Stream.STDERR, "[red]not red[/red] \x1b[31mansi\x07", 2),
        LogLine(T0, Stream.SYSTEM, "[link=http://evil]click[/link]", 3),
    ]
    async with app.run_test(size=(80, 10)) as pilot:
        log.add_lines(hostile)
        await pilot.pause()
        rows = screen_rows(log)
        # Each row after the stream's column: the stderr bar, blank beside the other streams.
        assert rows[0] == " [bold]x[/]"
        assert rows[1] == "▌[red]not red[/red] \ufffd[31mansi\ufffd"
        assert rows[2] == " [link=http://evil]click[/link]"
        assert all("\x1b" not in segment.text for segment in log.render_line(1))


@pytest.mark.asyncio
async def test_log_view_styles_stderr_and_system_lines() -> None:
    log = LogView()
    app = Host(log)
    async with app.run_test(size=(60, 10)) as pilot:
        log.add_lines(
            [
                LogLine(T0, Stream.STDOUT, "out", 1),
                LogLine(T0, Stream.STDERR, "err", 2),
                LogLine(T0, Stream.SYSTEM, "note", 3),
            ]
        )
        await pilot.pause()
        # Each row: the stream's column (the stderr bar, else a blank), then the line's text.
        (out_col, out_seg), (err_col, err_seg), (note_col, note_seg) = (
            list(log.render_line(y))[:2] for y in range(3)
        )
        assert (out_col.text, err_col.text, note_col.text) == (" ", "▌", " ")
        assert (out_seg.text, err_seg.text, note_seg.text) == ("out", "err", "note")
        out, err, note, bar = out_seg.style, err_seg.style, note_seg.style, err_col.style
        assert out is not None and err is not None and note is not None and bar is not None
        warning = Color.parse(app.theme_variables["text-warning"]).rich_color
        assert err.color == warning
        assert out.color != warning
        assert note.italic and not out.italic
        assert bar.color == Color.parse(app.theme_variables["error"]).rich_color
        assert out.bgcolor == err.bgcolor == bar.bgcolor == log.rich_style.bgcolor


@pytest.mark.asyncio
async def test_log_view_keeps_only_the_newest_lines_and_cuts_long_ones() -> None:
    log = LogView(max_lines=100)
    app = Host(log)
    async with app.run_test(size=(60, 10)) as pilot:
        log.add_lines(lines(0, 250))
        log.add_lines([LogLine(T0, Stream.STDOUT, "y" * 1_000_000, 251)])
        await pilot.pause()
        assert log.line_count == 100
        assert log.lines[0].number == 152
        assert log.virtual_size.width < 3_000
        assert screen_rows(log)[-1] == "y" * (log.scrollable_content_region.width)


@pytest.mark.asyncio
async def test_log_view_keeps_the_operators_place_while_old_lines_are_dropped() -> None:
    log = LogView(max_lines=100)
    app = Host(log)
    async with app.run_test(size=(60, 10)) as pilot:
        log.add_lines(lines(0, 100))
        await pilot.pause()
        log.focus()
        await pilot.press("pageup")
        await pilot.pause()
        top = screen_rows(log)[0]
        log.add_lines(lines(100, 30))
        await pilot.pause()
        assert log.lines[0].number == 31
        assert screen_rows(log)[0] == top
        assert not log.following


@pytest.mark.asyncio
async def test_log_view_line_numbers() -> None:
    log = LogView()
    log.show_line_numbers = True
    app = Host(log)
    async with app.run_test(size=(60, 10)) as pilot:
        log.add_lines(lines(0, 12))
        await pilot.pause()
        assert screen_rows(log)[-1] == "12 line 11"


# -- CodePane ------------------------------------------------------------------------------


def snapshot(seq: int, *changes: FileChange) -> Snapshot:
    if not changes:
        changes = (FileChange("train.py", "modified", f"h{seq - 1}", f"h{seq}"),)
    return Snapshot(seq=seq, ts=T0 + seq, changes=changes)


def fake_diffs(snap: Snapshot) -> list[tuple[str, str, str]]:
    """A data source standing in for the snapshot store: one diff per snapshot."""
    return [
        (
            change.path,
            change.status,
            f"--- a/{change.path}\n+++ b/{change.path}\n@@ -1 +1 @@\n"
            f"-old line {snap.seq}\n+[bold]new line {snap.seq}[/]",
        )
        for change in snap.changes
        if change.recorded
    ]


async def settle(app: App[None], pilot: Pilot[None]) -> None:
    """Wait for the diff workers (a superseded one ends cancelled) and their messages."""
    for worker in list(app.workers):
        with contextlib.suppress(WorkerCancelled):
            await worker.wait()
    await pilot.pause()
    await pilot.pause()


def diff_text(pane: CodePane) -> str:
    return plain(pane.query_one("#code-diff", Static))


@pytest.mark.asyncio
async def test_code_pane_shows_the_newest_diff_and_steps_back() -> None:
    pane = CodePane(fake_diffs)
    app = Host(pane)
    async with app.run_test(size=(80, 30)) as pilot:
        for seq in (1, 2, 3):
            pane.add_snapshot(snapshot(seq))
        await settle(app, pilot)
        assert pane.selected_seq == 3
        assert "+[bold]new line 3[/]" in diff_text(pane)

        pane.select_previous()
        await settle(app, pilot)
        assert pane.selected_seq == 2
        assert "-old line 2" in diff_text(pane)

        # Stepped back: a new snapshot is listed but does not steal the view.
        pane.add_snapshot(snapshot(4))
        await settle(app, pilot)
        assert pane.selected_seq == 2
        assert "new line 2" in diff_text(pane)

        pane.select_next()
        pane.select_next()
        await settle(app, pilot)
        assert pane.selected_seq == 4
        pane.add_snapshot(snapshot(5))
        await settle(app, pilot)
        assert pane.selected_seq == 5
        assert "new line 5" in diff_text(pane)
        selected = [m.seq for m in app.posted if isinstance(m, CodePane.SnapshotSelected)]
        assert selected == [1, 2, 3, 2, 3, 4, 5]

        pane.select_seq(1)
        await settle(app, pilot)
        assert "new line 1" in diff_text(pane)


@pytest.mark.asyncio
async def test_code_pane_lists_newest_first_and_notes_data_files() -> None:
    pane = CodePane(fake_diffs)
    app = Host(pane)
    big = FileChange("data/train.csv", "added", None, "abc", size=1_572_864, recorded=False)
    async with app.run_test(size=(80, 30)) as pilot:
        pane.add_snapshot(snapshot(1))
        pane.add_snapshot(snapshot(2, big))
        await settle(app, pilot)
        options = pane.query_one(OptionList)
        prompts = [str(options.get_option_at_index(i).prompt) for i in range(2)]
        assert prompts[0].startswith("#2") and "data/train.csv (added)" in prompts[0]
        assert prompts[1].startswith("#1")
        assert "(data file, size 1.5 MiB, not recorded)" in diff_text(pane)


@pytest.mark.asyncio
async def test_code_pane_reports_a_failing_diff_provider() -> None:
    def broken(snap: Snapshot) -> list[tuple[str, str, str]]:
        raise OSError("snapshot store unreadable")

    pane = CodePane(broken)
    app = Host(pane)
    async with app.run_test(size=(80, 30)) as pilot:
        pane.add_snapshot(snapshot(1))
        await settle(app, pilot)
        assert "Could not compute the diff (OSError: snapshot store unreadable)" in diff_text(pane)


@pytest.mark.asyncio
async def test_code_pane_wrapped_diff_lines_keep_their_gutter_and_reflow_on_resize() -> None:
    added = "+model = build(" + ", ".join(f"layer_{n}=数据{n}" for n in range(30)) + ")"
    removed = "-model = build(" + "x" * 170 + ")"
    context = " return " + "y" * 120

    def long_lines(snap: Snapshot) -> list[tuple[str, str, str]]:
        more = "".join(f"\n+step_{n}()" for n in range(20))
        body = (
            f"--- a/train.py\n+++ b/train.py\n@@ -1,2 +1,22 @@\n{removed}\n{added}\n{context}{more}"
        )
        return [("train.py", "modified", body)]

    def screen_rows(pane: CodePane) -> list[str]:
        body = pane.query_one("#code-diff", Static)
        region = Region(0, 0, body.size.width, body.size.height)
        return [strip.text.rstrip() for strip in body.render_lines(region)]

    def rows_of(rows: list[str], line: str) -> list[str]:
        """The rows ``line`` was cut into: from its start, each row after its gutter."""
        start = next(n for n, row in enumerate(rows) if row and line.startswith(row))
        taken, rest = [rows[start]], line[len(rows[start]) :]
        for row in rows[start + 1 :]:
            if not rest:
                break
            assert row[0] == line[0], f"a wrapped piece lost its gutter: {row!r}"
            assert rest.startswith(row[1:])
            taken.append(row)
            rest = rest[len(row) - 1 :]
        assert not rest, f"{line[:20]!r} is not all on screen"
        return taken

    pane = CodePane(long_lines)
    app = Host(pane)
    async with app.run_test(size=(80, 24)) as pilot:
        pane.add_snapshot(snapshot(1))
        await settle(app, pilot)
        width = pane.query_one("#code-diff", Static).size.width
        rows = screen_rows(pane)
        assert all(cell_len(row) <= width for row in rows)
        assert len(rows_of(rows, removed)) == 3
        assert len(rows_of(rows, added)) >= 5  # wide characters: fewer per row
        assert len(rows_of(rows, context)) == 2
        assert "+++ b/train.py" in rows and "@@ -1,2 +1,22 @@" in rows

        scroll = pane.query_one("#code-diff-scroll", VerticalScroll)
        scroll.scroll_to(y=2, animate=False)
        await pilot.pause()
        assert scroll.scroll_y == 2
        await pilot.resize_terminal(50, 24)
        await pilot.pause()
        await pilot.pause()
        narrower = pane.query_one("#code-diff", Static).size.width
        assert narrower < width
        rows = screen_rows(pane)
        assert all(cell_len(row) <= narrower for row in rows)
        assert len(rows_of(rows, removed)) > 3
        assert len(rows_of(rows, added)) > 5
        assert len(rows_of(rows, context)) == 3
        assert scroll.scroll_y == 2, "a re-flow keeps the operator's place"


# -- ScoresPane ----------------------------------------------------------------------------


def starred(pane: ScoresPane) -> list[int]:
    table: DataTable[Text] = pane.query_one(DataTable)
    return [
        row
        for row in range(table.row_count)
        if str(table.get_cell_at((row, 4))) == BEST_MARK  # type: ignore[arg-type]
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("direction", "values", "best_row", "label"),
    [
        ("higher", [0.5, 0.7, math.nan, 0.6], 1, "higher is better"),
        ("lower", [0.5, 0.3, math.nan, 0.4], 1, "lower is better"),
    ],
)
async def test_scores_pane_marks_the_best(
    direction: str, values: list[float], best_row: int, label: str
) -> None:
    pane = ScoresPane()
    app = Host(pane)
    async with app.run_test(size=(80, 20)) as pilot:
        for step, value in enumerate(values):
            pane.add_score(Score(T0 + step, step, "val_auc", value, direction))
        await pilot.pause()
        assert starred(pane) == [best_row]
        assert pane.best("val_auc") == values[best_row]
        assert label in plain(pane.query_one("#scores-title", Label))
        line = plain(pane.query_one("#scores-validation", Label))
        assert line.startswith("validation · the agent's own split · best")
        assert "no submission yet" in plain(pane.query_one("#scores-grade", Label))


@pytest.mark.asyncio
async def test_scores_pane_moves_the_star_when_the_score_improves() -> None:
    pane = ScoresPane()
    app = Host(pane)
    async with app.run_test(size=(80, 20)) as pilot:
        pane.add_score(Score(T0, 1, "loss", 0.9, "lower"))
        pane.add_score(Score(T0, 2, "loss", 0.4, "lower"))
        await pilot.pause()
        assert starred(pane) == [1]
        pane.add_score(Score(T0, 3, "loss", 0.2, "lower"))
        await pilot.pause()
        assert starred(pane) == [2]


# -- ResourcesPane -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_resources_pane_shows_usage_and_the_gpu_line() -> None:
    pane = ResourcesPane()
    app = Host(pane)
    async with app.run_test(size=(80, 10)) as pilot:
        for n in range(5):
            pane.update_sample(
                ResourceSample(T0 + n, 150.0 + n, 3 * 1024**3, 7, "no NVIDIA GPU (NVML missing)")
            )
        pane.update_sample(ResourceSample(T0 + 1000, 20.0, 512 * 1024**2, 1, "no NVIDIA GPU"))
        await pilot.pause()
        assert "20%" in plain(pane.query_one("#resources-cpu", Label))
        assert "512 MiB" in plain(pane.query_one("#resources-memory", Label))
        assert plain(pane.query_one("#resources-processes", Static)) == "1 process"
        assert "no NVIDIA GPU" in plain(pane.query_one("#resources-gpu", Static))
        assert len(pane.samples) == 1, "samples older than the window are dropped"


# -- RunHeader -----------------------------------------------------------------------------


def status(state: RunState, **changes: object) -> StatusUpdate:
    fields: dict[str, object] = {
        "state": state,
        "wall_s": 3723.0,
        "active_s": 3600.0,
        "time_left_s": 7200.0,
        "exit_code": None,
        "end_reason": None,
        "observe_only": False,
        "agent_name": None,
    }
    fields.update(changes)
    return StatusUpdate(**fields)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_run_header_renders_the_state_pill() -> None:
    header = RunHeader()
    app = Host(header)
    async with app.run_test(size=(140, 3)) as pilot:
        header.set_run("3f2a9c", "spaceship-titanic", "baseline", "local")
        header.update_status(status(RunState.RUNNING))
        await pilot.pause()
        text = header.render().plain
        assert text.startswith(" running ")
        for part in ("3f2a9c", "spaceship-titanic", "baseline", "1:02:03", "1:00:00", "2:00:00"):
            assert part in text
        assert "observe-only" not in text

        header.update_status(status(RunState.EXITED, exit_code=3))
        text = header.render().plain
        assert text.startswith(" exited (code 3) ")
        assert " left " not in text
        header.update_status(status(RunState.KILLED, end_reason="operator", observe_only=True))
        text = header.render().plain
        assert text.startswith(" killed (operator) ")
        assert "observe-only" in text
        header.update_status(status(RunState.PAUSED, time_left_s=None))
        assert "no limit" in header.render().plain


@pytest.mark.asyncio
async def test_run_header_redraws_only_on_change(monkeypatch: pytest.MonkeyPatch) -> None:
    header = RunHeader()
    app = Host(header)
    async with app.run_test(size=(140, 3)):
        header.update_status(status(RunState.RUNNING, wall_s=10.1))
        refreshes: list[object] = []
        monkeypatch.setattr(header, "refresh", lambda *a, **k: refreshes.append(a))
        header.update_status(status(RunState.RUNNING, wall_s=10.6))
        assert refreshes == []
        header.update_status(status(RunState.RUNNING, wall_s=11.2))
        assert len(refreshes) == 1


# -- HintsPane -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_hints_pane_shows_hint_progress_answers_and_actions() -> None:
    pane = HintsPane()
    app = Host(pane)
    async with app.run_test(size=(80, 20)) as pilot:
        pane.update_hints(
            HintsUpdate(
                (
                    HintStatus("h1", "try [bold]lightgbm[/]", T0, "used", "switched to lightgbm"),
                    HintStatus("h2", "lower the lr", T0 + 5, "sent", None),
                )
            )
        )
        pane.add_action(ActionRecord(T0, "pause", "ada", ""))
        pane.add_action(ActionRecord(T0 + 9, "kill", "ada", "grace 10 s"))
        await pilot.pause()
        hints = plain(pane.query_one("#hints-list", Static))
        assert "sent › received › used" in hints
        assert "try [bold]lightgbm[/]" in hints
        assert "↳ switched to lightgbm" in hints
        assert "sent › received › used/ignored" in hints
        actions = plain(pane.query_one("#hints-actions", Static)).splitlines()
        assert "kill" in actions[0] and "grace 10 s" in actions[0]
        assert "pause" in actions[1]


@pytest.mark.asyncio
async def test_code_pane_and_hints_pane_recolour_when_the_theme_changes() -> None:
    class Both(App[None]):
        def compose(self) -> ComposeResult:
            yield CodePane(fake_diffs)
            yield HintsPane()

    def colours(widget: Static) -> set[object]:
        content = widget.content
        assert isinstance(content, Text)
        return {span.style.color for span in content.spans if isinstance(span.style, Style)}

    app = Both()
    async with app.run_test(size=(80, 40)) as pilot:
        code, hints = app.query_one(CodePane), app.query_one(HintsPane)
        code.add_snapshot(snapshot(1))
        hints.update_hints(HintsUpdate((HintStatus("h1", "x", T0, "used", "ok"),)))
        await settle(app, pilot)
        diff, hint_list = (
            code.query_one("#code-diff", Static),
            hints.query_one("#hints-list", Static),
        )
        before = colours(diff), colours(hint_list)
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await pilot.pause()
        await pilot.pause()
        success = Color.parse(app.theme_variables["text-success"]).rich_color
        assert (colours(diff), colours(hint_list)) != before
        assert success in colours(diff) and success in colours(hint_list)


# -- dialogs -------------------------------------------------------------------------------


class DialogHost(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.results: list[object] = []

    def record(self, result: object) -> None:
        self.results.append(result)


async def open_dialog(
    app: DialogHost, pilot: Pilot[None], make: Callable[[], object], keys: Sequence[str]
) -> None:
    app.push_screen(make(), app.record)  # type: ignore[call-overload]
    await pilot.pause()
    await pilot.press(*keys)
    await pilot.pause()


@pytest.mark.asyncio
async def test_hint_dialog_returns_the_text_or_none() -> None:
    app = DialogHost()
    async with app.run_test() as pilot:
        await open_dialog(app, pilot, HintDialog, [*"use xgboost", "enter"])
        assert app.results == ["use xgboost"]

        await open_dialog(app, pilot, HintDialog, ["space", "enter"])
        assert isinstance(app.screen, HintDialog), "an empty hint is not sent"
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == ["use xgboost", None]
        assert not isinstance(app.screen, HintDialog)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("keys", "expected"),
    [(["y"], True), (["enter"], True), (["n"], False), (["escape"], False)],
)
async def test_confirm_kill_dialog(keys: list[str], expected: bool) -> None:
    app = DialogHost()
    async with app.run_test() as pilot:
        await open_dialog(app, pilot, lambda: ConfirmKillDialog("3f2a9c", grace_s=10), keys)
        assert app.results == [expected]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("keys", "expected"),
    [(["y"], True), (["enter"], False), (["tab", "enter"], True), (["escape"], False)],
)
async def test_reveal_grade_dialog_keeps_the_grade_hidden_unless_asked(
    keys: list[str], expected: bool
) -> None:
    app = DialogHost()
    async with app.run_test() as pilot:
        await open_dialog(app, pilot, lambda: RevealGradeDialog("3f2a9c"), keys)
        assert app.results == [expected]


@pytest.mark.asyncio
@pytest.mark.parametrize("key", ["escape", "q", "question_mark"])
async def test_help_screen_lists_keys_and_closes(key: str) -> None:
    app = DialogHost()
    async with app.run_test() as pilot:
        help_screen = HelpScreen([("p", "pause / resume"), ("K", "kill")])
        app.push_screen(help_screen, app.record)
        await pilot.pause()
        listed = plain(help_screen.query_one("#help-keys", Static))
        assert "p  pause / resume" in listed and "K  kill" in listed
        await pilot.press(key)
        await pilot.pause()
        assert app.results == [None]
