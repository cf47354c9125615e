"""The log pane over a real spool, driven through Pilot: tail, scroll-back, follow, search,
filter, time jump, and a cut line opened whole."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.message import Message
from textual.pilot import Pilot

from mletui.core.events import LogLine, Stream
from mletui.store.spool import LogHistory, LogSpool
from mletui.tui.widgets.log_line import LogLineScreen, WrappedText
from mletui.tui.widgets.log_search import LogPrompt
from mletui.tui.widgets.log_view import HISTORY_TAIL_LINES, LogView

T0 = 1_700_000_000.0
N = 50_000


class Host(App[None]):
    def __init__(self, log: LogView) -> None:
        super().__init__()
        self.log_view = log
        self.posted: list[Message] = []

    def compose(self) -> ComposeResult:
        yield self.log_view

    def on_mount(self) -> None:
        self.log_view.focus()

    def on_log_view_follow_changed(self, message: LogView.FollowChanged) -> None:
        self.posted.append(message)

    def on_log_view_moved(self, message: LogView.Moved) -> None:
        self.posted.append(message)


def append(path: Path, first: int, count: int, text: bytes = b"n %d") -> None:
    with LogSpool(path) as spool:
        for n in range(first, first + count):
            spool.write(Stream.STDOUT, text % n if b"%d" in text else text, ts=T0 + n)


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    path = tmp_path / "output.log"
    with LogSpool(path) as spool:
        for start in range(1, N + 1, 10_000):
            for n in range(start, start + 10_000):
                spool.write_many(Stream.STDOUT, [b"n %d" % n], ts=T0 + n)
    return path


def attach(path: Path) -> tuple[LogView, LogHistory]:
    history = LogHistory(path)
    return LogView(history), history


def rows(log: LogView) -> list[str]:
    return [log.text_at(y).rstrip() for y in range(log.scrollable_content_region.height)]


async def until(pilot: Pilot[None], predicate: Callable[[], object], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await pilot.pause(0.02)


async def test_attach_paints_the_tail_and_scrolls_back_to_line_one(spool: Path) -> None:
    log, history = attach(spool)
    app = Host(log)
    async with app.run_test(size=(60, 12)) as pilot:
        log.add_lines(history.poll())
        await pilot.pause()
        assert len(log.lines) <= HISTORY_TAIL_LINES, "only the newest lines are held in memory"
        assert log.line_count == N and log.following
        assert rows(log)[-1] == f"n {N}"
        await pilot.press("g")
        await pilot.pause()
        assert rows(log)[:2] == ["n 1", "n 2"] and not log.following
        assert log.pointer == 1
        assert "line 1 ·" in str(log.border_subtitle)
        await pilot.press("pagedown", "down")
        assert log.pointer == 2, "with a line selected, the arrows move it"
        await pilot.press("G")
        await pilot.pause()
        assert log.following and log.pointer is None
        assert rows(log)[-1] == f"n {N}"


async def test_follow_unfollow_and_the_new_lines_count(spool: Path) -> None:
    log, history = attach(spool)
    app = Host(log)
    async with app.run_test(size=(60, 12)) as pilot:
        log.add_lines(history.poll())
        await pilot.pause()
        await pilot.press("pageup", "pageup")
        await pilot.pause()
        assert not log.following
        top = rows(log)[0]
        append(spool, N + 1, 30)
        log.add_lines(history.poll())
        await pilot.pause()
        assert rows(log)[0] == top, "new lines must not move what the operator reads"
        assert log.new_lines_below == 30
        assert "30 new lines below — press f to follow" in rows(log)[-1]
        append(spool, N + 31, 5_000)  # more than the session hands over at once
        log.add_lines(history.poll())
        await pilot.pause()
        assert log.new_lines_below == 5_030
        assert rows(log)[0] == top
        await pilot.press("f")
        await pilot.pause()
        assert log.following and log.new_lines_below == 0
        assert rows(log)[-1] == f"n {N + 5_030}"
        # The lines between the two batches come from the spool.
        log.go_to(N + 100)
        await pilot.pause()
        assert f"n {N + 100}" in rows(log)
        follows = [m.following for m in app.posted if isinstance(m, LogView.FollowChanged)]
        assert follows == [False, True, False]


async def test_search_highlights_and_steps_through_matches(spool: Path) -> None:
    log, history = attach(spool)
    app = Host(log)
    async with app.run_test(size=(60, 12)) as pilot:
        log.add_lines(history.poll())
        await pilot.pause()
        await pilot.press("slash")
        assert isinstance(app.screen, LogPrompt)
        await pilot.press(*"n 1234", "enter")
        await until(pilot, lambda: log.pointer is not None)
        assert log.pointer == 12_349, "the nearest match above the bottom"
        assert "n 12349" in rows(log)
        await until(pilot, lambda: log.match_count == (11, True))
        assert "/ n 1234 11/11 · line 12,349" in str(log.border_subtitle), "like less: 11/11"
        row = rows(log).index("n 12349")
        match = log.get_component_rich_style("log-view--match")
        styled = [seg for seg in log.render_line(row) if seg.text == "n 1234"]
        assert styled and styled[0].style is not None
        assert styled[0].style.bgcolor == match.bgcolor
        await pilot.press("N")
        await until(pilot, lambda: log.pointer == 12_348)
        await pilot.press("n")
        await until(pilot, lambda: log.pointer == 12_349)
        await until(pilot, lambda: log.match_count == (11, True))
        assert "/ n 1234 11/11 · line 12,349" in str(log.border_subtitle)
        await pilot.press("n")
        await until(pilot, lambda: log.pointer == 1_234)
        assert "/ n 1234 1/11 · search hit bottom, continuing at top" in str(log.border_subtitle)
        assert any("Search hit bottom" in n.message for n in app._notifications)
        assert not any("No line matches" in n.message for n in app._notifications)
        await pilot.press("N")
        assert log.pointer == 12_349
        assert "11/11 · search hit top, continuing at bottom" in str(log.border_subtitle)
        moved = [m.reason for m in app.posted if isinstance(m, LogView.Moved)]
        assert moved == ["search"] * 5
        # A regular expression (Ctrl+R in the prompt) that only the first line matches.
        await pilot.press("slash", "ctrl+a", "ctrl+k", *"^n [1]$", "ctrl+r", "enter")
        await until(pilot, lambda: log.pointer == 1)
        assert log.search_query is not None and log.search_query.regex
        await pilot.press("escape", "escape")
        assert log.pointer is None and log.search_query is None


async def test_a_bad_regex_is_refused_in_the_prompt(spool: Path) -> None:
    log, history = attach(spool)
    app = Host(log)
    async with app.run_test(size=(60, 12)) as pilot:
        log.add_lines(history.poll())
        await pilot.press("slash", "ctrl+r", *"n (", "enter")
        await pilot.pause()
        assert isinstance(app.screen, LogPrompt), "the prompt stays open to fix it"
        assert any("Not a valid regular expression" in n.message for n in app._notifications)
        await pilot.press("escape")
        assert not isinstance(app.screen, LogPrompt) and log.search_query is None


async def test_filter_shows_only_matching_lines_and_follows_them(spool: Path) -> None:
    log, history = attach(spool)
    app = Host(log)
    async with app.run_test(size=(60, 16)) as pilot:
        log.add_lines(history.poll())
        await pilot.pause()
        await pilot.press("ampersand", *"n 4999", "enter")
        await until(pilot, lambda: log.row_count == 11 and log._filter and log._filter.caught_up)
        await pilot.pause()
        expected = ["n 4999", *(f"n {n}" for n in range(49_990, 50_000))]
        assert [r for r in rows(log) if r] == expected
        assert log.following
        assert "& n 4999: 11 lines" in str(log.border_subtitle)
        append(spool, N + 1, 3, b"n 4999 again %d")
        append(spool, N + 4, 100)
        log.add_lines(history.poll())
        await until(pilot, lambda: log.row_count == 14)
        await pilot.pause()
        assert [r for r in rows(log) if r][-1] == f"n 4999 again {N + 3}"
        # Searching in a filter steps through the filtered lines.
        log.search(log.filter_query.__class__("n 49991"))  # type: ignore[union-attr]
        await until(pilot, lambda: log.pointer == 49_991)
        await pilot.press("escape", "escape", "escape")  # pointer, search, filter
        await pilot.pause()
        assert log.filter_query is None and log.row_count == N + 103


async def test_time_jump_on_the_run_clock(spool: Path) -> None:
    log, history = attach(spool)
    log.run_started = T0
    app = Host(log)
    async with app.run_test(size=(60, 12)) as pilot:
        log.add_lines(history.poll())
        await pilot.press("t", *"+1:00:00", "enter")
        await until(pilot, lambda: log.pointer == 3_600)
        assert "n 3600" in rows(log)
        assert "+1:00:00" in str(log.border_subtitle)
        await pilot.press("t", *"-100s", "enter")
        await until(pilot, lambda: log.pointer == N - 100)
        await pilot.press("t", *"whenever", "enter")
        await pilot.pause()
        assert any("Give a wall-clock time" in n.message for n in app._notifications)
        assert log.pointer == N - 100


async def test_a_cut_line_opens_whole(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    big = b"start " + b"x" * 1_048_576 + b" END"
    append(path, 1, 3)
    append(path, 4, 1, big)
    append(path, 5, 3)
    log, history = attach(path)
    app = Host(log)
    async with app.run_test(size=(80, 12)) as pilot:
        log.add_lines(history.poll())
        await pilot.pause()
        assert log.virtual_size.width < 2_100
        assert "[cut: 1,048,586 bytes]" in log._line(4).text  # type: ignore[union-attr]
        await pilot.press("g", "down", "down", "down")
        assert log.pointer == 4
        assert (
            "Enter opens it whole"
            in log.render_line(3).text
            + log._line_strip(
                4,
                log._line(4),  # type: ignore[arg-type]
                log.rich_style,
                True,
            ).text
        )
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, LogLineScreen))
        screen = app.screen
        assert isinstance(screen, LogLineScreen)
        assert screen.text == big.decode()
        body = screen.query_one(WrappedText)
        await pilot.pause()
        assert body.virtual_size.height > 1_048_576 // 80
        await pilot.press("end")
        await pilot.pause()
        last = body.render_line(body.scrollable_content_region.height - 1).text
        assert "END" in last
        await pilot.press("escape")
        assert not isinstance(app.screen, LogLineScreen)


async def test_without_a_history_it_works_over_the_lines_in_memory() -> None:
    log = LogView(max_lines=300)
    app = Host(log)
    lines = [LogLine(T0 + n, Stream.STDOUT, f"line {n}", n) for n in range(1, 501)]
    async with app.run_test(size=(60, 12)) as pilot:
        log.add_lines(lines)
        log.add_lines([LogLine(T0 + 600, Stream.SYSTEM, "[replay] skipped 1:00", 0)])
        await pilot.pause()
        assert log.line_count == 300 and rows(log)[-1] == "[replay] skipped 1:00"
        log.search(log_query("line 250"))
        await until(pilot, lambda: log.pointer is not None)
        assert log.pointer is not None and log._line(log.pointer).text == "line 250"  # type: ignore[union-attr]
        log.set_filter(log_query("line 49"))
        await pilot.pause()
        assert [r for r in rows(log) if r] == [f"line {n}" for n in range(490, 500)]
        log.add_lines([LogLine(T0, Stream.STDOUT, "line 49 again", 501)])
        await pilot.pause()
        assert log.row_count == 11
        log.set_filter(None)
        await pilot.pause()
        assert log.row_count == 300


def log_query(text: str) -> object:
    from mletui.store.log_search import LogQuery

    return LogQuery(text)


async def test_a_spool_without_checkpoints_says_it_is_being_read(spool: Path) -> None:
    from mletui.store.spool import LineIndex, checkpoint_path

    checkpoint_path(spool).unlink()
    history = LogHistory(spool, index=LineIndex(spool, chunk_size=16 * 1024))
    log = LogView(history)
    app = Host(log)
    async with app.run_test(size=(60, 12)) as pilot:
        assert history.poll(max_bytes=64 * 1024) == []
        await until(pilot, lambda: "reading the log" in str(log.border_subtitle))
        while not (lines := history.poll(max_bytes=1 << 20)):
            pass
        log.add_lines(lines)
        await until(pilot, lambda: "reading the log" not in str(log.border_subtitle))
        await pilot.pause()
        assert rows(log)[-1] == f"n {N}"
