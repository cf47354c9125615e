"""The log pane as people read it, driven through Pilot: less's search counter and wrap-around,
every n counted however fast, stderr marked and filtered, wrap and horizontal scroll."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from mletui.core.events import Stream
from mletui.store.log_search import LogQuery
from mletui.store.spool import LogHistory, LogSpool
from mletui.tui.widgets.log_view import LogView

T0 = 1_700_000_000.0


class Host(App[None]):
    def __init__(self, log: LogView) -> None:
        super().__init__()
        self.log_view = log

    def compose(self) -> ComposeResult:
        yield self.log_view

    def on_mount(self) -> None:
        self.log_view.focus()


def write(path: Path, lines: list[tuple[Stream, bytes]]) -> None:
    with LogSpool(path) as spool:
        for n, (stream, text) in enumerate(lines):
            spool.write(stream, text, ts=T0 + n)


def rows(log: LogView) -> list[str]:
    return [log.text_at(y).rstrip() for y in range(log.scrollable_content_region.height)]


async def until(pilot: Pilot[None], predicate: Callable[[], object], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await pilot.pause(0.02)


def messages(app: App[None]) -> list[str]:
    return [n.message for n in app._notifications]


async def test_n_pressed_thirty_times_fast_moves_thirty_matches(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    write(
        path,
        [(Stream.STDOUT, b"epoch %d loss" % n if n % 100 == 0 else b"x") for n in range(1_100)],
    )
    history = LogHistory(path)
    log = LogView(history)
    app = Host(log)
    async with app.run_test(size=(60, 12)) as pilot:
        log.add_lines(history.poll())
        log.search(LogQuery("loss"))
        await until(pilot, lambda: log.pointer == 1_001 and log.match_count == (11, True))
        assert "/ loss 11/11" in str(log.border_subtitle)
        await pilot.press(*["n"] * 30)  # round the end twice: 40 % 11 = 7, the 8th match
        assert log.pointer == 701
        assert "/ loss 8/11" in str(log.border_subtitle)
        await pilot.press(*["N"] * 8)
        assert log.pointer == 1_001 and "11/11 · search hit top" in str(log.border_subtitle)
        assert not any("No line matches" in m for m in messages(app))


async def test_no_match_is_said_only_when_there_is_none() -> None:
    log = LogView()
    app = Host(log)
    from mletui.core.events import LogLine

    async with app.run_test(size=(60, 12)) as pilot:
        log.add_lines([LogLine(T0, Stream.STDOUT, f"line {n}", n) for n in range(1, 40)])
        log.search(LogQuery("line 7"))
        await until(pilot, lambda: log.pointer == 7)
        await pilot.press("n", "n")
        assert log.pointer == 7, "one match: n goes round to it again"
        assert "1/1 · search hit bottom" in str(log.border_subtitle)
        assert not any("No line matches" in m for m in messages(app))
        log.search(LogQuery("nowhere"))
        await pilot.pause(0.2)
        assert any("No line matches nowhere" in m for m in messages(app))
        await pilot.press("n")
        assert "0 matches" in str(log.border_subtitle)
        # A line arriving later that matches is found by the next n.
        log.add_lines([LogLine(T0, Stream.STDOUT, "found nowhere now", 40)])
        await pilot.press("n")
        assert log.pointer == 40 and "1/1" in str(log.border_subtitle)


async def test_stderr_lines_have_a_bar_and_e_cycles_the_streams(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    lines = [
        (Stream.STDERR if n % 3 == 0 else Stream.STDOUT, b"line %d" % n) for n in range(1, 3_001)
    ]
    write(path, lines)
    history = LogHistory(path)
    log = LogView(history)
    log.border_title = "logs"
    app = Host(log)
    async with app.run_test(size=(60, 12)) as pilot:
        log.add_lines(history.poll())
        await pilot.pause()
        shown = rows(log)
        assert shown[-3:] == [" line 2998", " line 2999", "▌line 3000"]
        bar = log.get_component_rich_style("log-view--stderr-mark")
        for y, text in enumerate(shown):
            first = next(iter(log.render_line(y)))
            number = int(text.split()[-1])
            if number % 3 == 0:
                assert first.text == "▌" and first.style is not None
                assert first.style.color == bar.color, "the bar is the theme's error colour"
            else:
                assert first.text == " "
        await pilot.press("e")
        await until(pilot, lambda: log._filter is not None and log._filter.caught_up)
        await pilot.pause()
        assert log.stream_filter is Stream.STDOUT and log.row_count == 2_000
        assert str(log.border_title) == "logs · stdout only"
        assert all(int(r.split()[-1]) % 3 for r in rows(log) if r)
        await pilot.press("e")
        await until(pilot, lambda: log._filter is not None and log._filter.caught_up)
        await pilot.pause()
        assert log.stream_filter is Stream.STDERR and log.row_count == 1_000
        assert str(log.border_title) == "logs · stderr only"
        assert [r for r in rows(log) if r][-1] == "▌line 3000"
        # A text filter on top of the stream: stderr lines with "99" in them.
        log.set_filter(LogQuery("99"))
        await until(pilot, lambda: log._filter is not None and log._filter.caught_up)
        assert log.row_count == len([n for n in range(3, 3_001, 3) if "99" in str(n)])
        assert "& 99, stderr only:" in str(log.border_subtitle)
        await pilot.press("e")
        await until(pilot, lambda: log._filter is not None and log._filter.caught_up)
        assert log.stream_filter is None and str(log.border_title) == "logs"
        assert log.row_count == len([n for n in range(1, 3_001) if "99" in str(n)])


async def test_a_stdout_only_log_has_no_bar_column() -> None:
    from mletui.core.events import LogLine

    log = LogView()
    app = Host(log)
    async with app.run_test(size=(60, 12)) as pilot:
        log.add_lines([LogLine(T0, Stream.STDOUT, f"line {n}", n) for n in range(1, 20)])
        await pilot.pause()
        assert rows(log)[-1] == "line 19"
        log.add_lines([LogLine(T0, Stream.STDERR, "Traceback", 20)])
        await pilot.pause()
        assert rows(log)[-2:] == [" line 19", "▌Traceback"]
        await pilot.press("e", "e")
        assert [r for r in rows(log) if r] == ["▌Traceback"]


async def test_w_wraps_long_lines_and_arrows_scroll_cut_ones() -> None:
    from mletui.core.events import LogLine

    log = LogView()
    app = Host(log)
    long = "".join(f"{n:02d}" + "-" * 8 for n in range(12))  # 120 cells, numbered every 10
    async with app.run_test(size=(42, 8)) as pilot:
        log.add_lines([LogLine(T0, Stream.STDOUT, f"line {n}", n) for n in range(1, 10)])
        log.add_lines([LogLine(T0, Stream.STDERR, long, 10)])
        await pilot.pause()
        width = log.scrollable_content_region.width
        assert rows(log)[-1] == "▌" + long[: width - 1], "cut at the pane's edge"
        await pilot.press("right")
        assert rows(log)[-1].startswith(long[7:15])
        await pilot.press("dollar_sign")
        assert rows(log)[-1].endswith(long[-10:])
        await pilot.press("0")
        assert rows(log)[-1].startswith("▌00--")
        await pilot.press("w")
        await pilot.pause()
        assert log.wrap and log.virtual_size.width == width
        room = width - 1
        pieces = [long[i : i + room] for i in range(0, len(long), room)]
        shown = rows(log)
        assert shown[-len(pieces) :] == ["▌" + p for p in pieces], "each piece keeps the bar"
        assert shown[-len(pieces) - 1] == " line 9", "the last line ends on the last row"
        await pilot.press("right")
        assert log.scroll_x == 0, "nothing to scroll sideways when wrapped"
        await pilot.press("w")
        await pilot.pause()
        assert not log.wrap and rows(log)[-1] == "▌" + long[: width - 1]


@pytest.mark.parametrize("on_spool", [True, False], ids=["spool", "memory"])
async def test_the_search_counter_counts_only_the_lines_a_filter_shows(
    tmp_path: Path, on_spool: bool
) -> None:
    from mletui.core.events import LogLine

    # "loss" on 8 lines: 7 on stderr (1 of them also saying "nan"), 1 on stdout.
    def record(n: int) -> tuple[Stream, bytes]:
        if n == 50:
            return Stream.STDOUT, b"step 50 loss 0.1"
        if n % 10 == 0:
            return Stream.STDERR, b"step %d loss %s" % (n, b"nan" if n == 40 else b"0.2")
        return Stream.STDOUT, b"line %d" % n

    numbered = [record(n) for n in range(1, 81)]
    path = tmp_path / "output.log"
    write(path, numbered)
    history = LogHistory(path)
    log = LogView(history) if on_spool else LogView()
    app = Host(log)
    async with app.run_test(size=(60, 12)) as pilot:
        if on_spool:
            log.add_lines(history.poll())
        else:
            log.add_lines([LogLine(T0, s, t.decode(), n) for n, (s, t) in enumerate(numbered, 1)])
        log.search(LogQuery("loss"))
        await until(pilot, lambda: log.match_count == (8, True) and log.pointer == 80)
        assert "/ loss 8/8" in str(log.border_subtitle)
        await pilot.press("e", "e")  # stderr only
        await until(pilot, lambda: log.match_count == (7, True))
        assert log.pointer == 80 and "/ loss 7/7" in str(log.border_subtitle)
        await pilot.press("n", "n")  # round the end: 10, then 20
        assert log.pointer == 20 and "/ loss 2/7" in str(log.border_subtitle)
        log.set_filter(LogQuery("nan"))  # a text filter on top of the stream
        await until(pilot, lambda: log.match_count == (1, True))
        await pilot.press("n")
        assert log.pointer == 40 and "/ loss 1/1" in str(log.border_subtitle)
        await pilot.press("e")  # every stream, the text filter alone
        await until(pilot, lambda: log.match_count == (1, True))
        log.set_filter(None)
        await until(pilot, lambda: log.match_count == (8, True))
        await pilot.press("n")
        assert log.pointer == 50 and "/ loss 5/8" in str(log.border_subtitle)
        assert not any("No line matches" in m for m in messages(app))
