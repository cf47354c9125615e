"""The overview's control room, the parts test_overview_control leaves: the alerts list (A,
newest first, Enter opens the run), sorting by a click on a header, freezing and thawing a
selection (every process of every run stopped, then continued), and acting on a selection that
holds another source's run (an MLE-bench run folder: it cannot take a soft pause, and is named)."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
from textual.widgets import DataTable

from mletui.grading.tasks import resolve_task
from mletui.integrations.mlebench.source import MlebenchSource
from mletui.run.launcher import start_run
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder, config_dir
from mletui.tui.app import MletuiApp
from mletui.tui.screens.alerts_list import AlertsScreen
from mletui.tui.screens.overview import OverviewScreen
from mletui.tui.screens.watch import WatchScreen
from mletui.watch.sources import registry
from tests.conftest import until, wait_ended, wait_for
from tests.test_mlebench_reading import START, make_run
from tests.test_overview_control import SIZE, actions, idle_agent, notices, overview, shown

# An agent with a child: a freeze must stop both, a thaw continue both.
PARENT = "import subprocess, time; subprocess.Popen(['sleep', '600']); time.sleep(600)"


def alerts_journaled(folder: RunFolder) -> int:
    return sum(1 for e in read_journal(folder.journal_path).entries if e.get("kind") == "alert")


def fast_alerts() -> None:
    path = config_dir() / "alerts.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[alerts]\npoll_seconds = 0.2\n", encoding="utf-8")


async def test_the_alerts_list_is_newest_first_and_enter_opens_the_run() -> None:
    fast_alerts()
    older = start_run(resolve_task("digits"), agent_cmd="exit 5")
    wait_ended(older)
    asker = (
        "from mletui import protocol; import time; protocol.hello('asker');"
        "protocol.ask('which split?'); time.sleep(600)"
    )
    newer = start_run(resolve_task("digits"), agent_cmd=f'{sys.executable} -c "{asker}"')
    app = MletuiApp(alerts=True, operator="pilot")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: alerts_journaled(older) and alerts_journaled(newer))
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, AlertsScreen))
        listing = app.screen
        assert isinstance(listing, AlertsScreen)
        await until(pilot, lambda: len(listing.alerts) == 2)
        assert [(a.run_id, a.kind.value) for a in listing.alerts] == [
            (newer.id, "ask"),
            (older.id, "crashed"),
        ]
        table = listing.query_one(DataTable)
        assert [table.get_row_at(i)[1].plain for i in range(2)] == [newer.id, older.id]
        assert table.get_row_at(0)[3].plain == "asks for help: which split? (answer with a hint)"
        await pilot.press("down", "enter")  # the older alert: its run opens
        await until(pilot, lambda: isinstance(app.screen, WatchScreen))
        watch = app.screen
        assert isinstance(watch, WatchScreen) and watch.session.record.id == older.id
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen))
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, AlertsScreen))
        await pilot.press("escape")  # back, with nothing opened
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen))


async def test_a_click_on_a_header_sorts_and_a_second_reverses() -> None:
    runs = [idle_agent(), idle_agent()]
    ids = sorted(f.id for f in runs)
    app = MletuiApp(operator="pilot")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen) and len(shown(app)) == 2)
        screen = overview(app)
        table = screen.query_one(DataTable)
        await pilot.pause(0.3)

        def header_x(key: str) -> int:
            x = 0
            for column in table.columns.values():
                if column.key.value == key:
                    return x + 1
                x += column.get_render_width(table)
            raise AssertionError(f"no column {key}")

        await pilot.click(DataTable, offset=(header_x("id"), 0))
        await until(pilot, lambda: shown(app) == ids)
        assert (screen.sort_column, screen.reverse) == ("id", False)
        assert table.columns["id"].label.plain == "id ▲"
        await pilot.click(DataTable, offset=(header_x("id"), 0))
        await until(pilot, lambda: shown(app) == ids[::-1])
        assert screen.reverse and table.columns["id"].label.plain == "id ▼"
        await pilot.click(DataTable, offset=(header_x("task"), 0))  # another column: ascending
        await until(pilot, lambda: screen.sort_column == "task" and not screen.reverse)


def tree(folder: RunFolder) -> list[psutil.Process]:
    """The agent's process and its descendants."""
    pid = folder.read().agent_pid
    if not pid:
        return []
    try:
        top = psutil.Process(pid)
        return [top, *top.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def states(folders: list[RunFolder]) -> set[str]:
    found = set()
    for folder in folders:
        for process in tree(folder):
            try:
                found.add(process.status())
            except psutil.NoSuchProcess:
                continue
    return found


async def test_freeze_then_thaw_a_selection_stops_and_continues_every_process(
    tmp_path: Path,
) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT, encoding="utf-8")
    runs = [start_run(resolve_task("digits"), agent_cmd=f"{sys.executable} {script}")]
    runs.append(start_run(resolve_task("digits"), agent_cmd=f"{sys.executable} {script}"))
    for folder in runs:
        wait_for(lambda f=folder: len(tree(f)) >= 2, 30, "the agent and its child")  # type: ignore[misc]
    app = MletuiApp(operator="pilot")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen) and len(shown(app)) == 2)
        await pilot.press("a", "f")
        for folder in runs:
            await until(pilot, lambda f=folder: actions(f, "freeze"))  # type: ignore[misc]
        await until(pilot, lambda: states(runs) == {psutil.STATUS_STOPPED})
        assert all(len(tree(f)) >= 2 for f in runs)
        table = overview(app).query_one(DataTable)
        for folder in runs:
            await until(pilot, lambda f=folder: table.get_cell(f.id, "state").plain == "frozen")  # type: ignore[misc]
        await until(pilot, lambda: "2 frozen" in str(overview(app).query_one("#summary").render()))
        await pilot.press("t")
        for folder in runs:
            await until(pilot, lambda f=folder: actions(f, "thaw"))  # type: ignore[misc]
        await until(pilot, lambda: psutil.STATUS_STOPPED not in states(runs))
        assert all(len(tree(f)) >= 2 for f in runs)  # continued, not killed
        await until(pilot, lambda: any("Thawed" in n for n in notices(app)))
        for folder in runs:
            assert [a.operator for a in actions(folder, "freeze")] == ["pilot"]
            assert [a.operator for a in actions(folder, "thaw")] == ["pilot"]


async def test_a_run_of_another_source_that_cannot_pause_is_named(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    bench = make_run(root, "spaceship-titanic", START)  # a lively run group: running
    own = idle_agent()
    app = MletuiApp(sources=registry().add(MlebenchSource(root)), operator="pilot")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen) and len(shown(app)) == 2)
        table = overview(app).query_one(DataTable)
        bench_key = next(key for key in shown(app) if key != own.id)
        assert table.get_cell(bench_key, "id").plain == bench.name
        assert table.get_cell(bench_key, "state").plain == "running"
        await pilot.press("a", "p")
        await until(pilot, lambda: actions(own, "pause"))
        await until(pilot, lambda: any(bench.name in n for n in notices(app)))
        refusal = next(n for n in notices(app) if bench.name in n)
        assert "1 of 2 not done" in refusal and "soft pause unavailable" in refusal
        assert own.id not in refusal
        assert any(n.startswith("Soft pause requested for") and own.id in n for n in notices(app))
