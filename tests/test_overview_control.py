"""The overview as the control room, driven through Pilot against real runs: sort, filter, invert,
select, act on the selection (journaled per run), the kill confirm, Esc back with state kept,
columns fitted to 80 cells, and only changed cells rewritten."""

from __future__ import annotations

import sys
from typing import Any

from textual.widgets import DataTable

from mletui.core.events import ActionRecord
from mletui.core.records import decode
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder
from mletui.tui.app import MletuiApp
from mletui.tui.screens.overview import ConfirmKillManyDialog, OverviewScreen
from mletui.tui.screens.watch import WatchScreen
from tests.conftest import until, wait_ended, wait_for

SIZE = (160, 40)


def idle_agent() -> RunFolder:
    """A run whose agent says hello and idles at checkpoints: it takes pause and hints."""
    script = (
        "from mletui import protocol; import time; protocol.hello('idle');"
        "[(protocol.checkpoint(), time.sleep(0.1)) for _ in range(900)]"
    )
    folder = start_run(resolve_task("digits"), agent_cmd=f'{sys.executable} -c "{script}"')
    wait_for(lambda: (folder.control / "hello.json").exists(), 30, "hello")
    return folder


def short_agent() -> RunFolder:
    folder = start_run(resolve_task("digits"), agent_cmd=f'{sys.executable} -c "print(1)"')
    wait_ended(folder)
    return folder


def overview(app: MletuiApp) -> OverviewScreen:
    screen = app.screen
    assert isinstance(screen, OverviewScreen)
    return screen


def shown(app: MletuiApp) -> list[str]:
    """The row keys in the table, top to bottom."""
    return [row.key.value or "" for row in overview(app).query_one(DataTable).ordered_rows]


def actions(folder: RunFolder, action: str) -> list[ActionRecord]:
    records = (decode(entry) for entry in read_journal(folder.journal_path).entries)
    return [r for r in records if isinstance(r, ActionRecord) and r.action == action]


def notices(app: MletuiApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_sort_filter_select_and_act_on_many() -> None:
    runs = [idle_agent(), idle_agent()]
    ended = short_agent()
    ids = sorted(f.id for f in [*runs, ended])
    app = MletuiApp(operator="pilot")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen) and len(shown(app)) == 3)
        screen = overview(app)

        await pilot.press("s")  # by id
        await until(pilot, lambda: shown(app) == ids)
        assert screen.query_one(DataTable).columns["id"].label.plain == "id ▲"
        await pilot.press("S")
        await until(pilot, lambda: shown(app) == ids[::-1])

        await pilot.press("slash", *ended.id[:6])  # filter as you type
        await until(pilot, lambda: shown(app) == [ended.id])
        await pilot.press("enter", "exclamation_mark")  # back to the table; invert
        await until(pilot, lambda: sorted(shown(app)) == sorted(f.id for f in runs))
        await pilot.press("escape")
        await until(pilot, lambda: len(shown(app)) == 3)
        await pilot.press("slash", *"exited", "enter")  # a state matches too
        await until(pilot, lambda: shown(app) == [ended.id])
        await pilot.press("escape")
        await until(pilot, lambda: len(shown(app)) == 3)

        await pilot.press("a")  # every run shown
        assert screen.selected == set(ids)
        mark = screen.query_one(DataTable).get_cell(ended.id, "mark")
        assert mark.plain == "●"
        await pilot.press("p")  # pause all: the ended run cannot, and is named
        for folder in runs:
            await until(pilot, lambda f=folder: actions(f, "pause"))  # type: ignore[misc]
            assert [a.operator for a in actions(folder, "pause")] == ["pilot"]
        await until(pilot, lambda: any(ended.id in n and "ended" in n for n in notices(app)))
        assert not actions(ended, "pause")

        await pilot.press("r")
        for folder in runs:
            await until(pilot, lambda f=folder: actions(f, "resume"))  # type: ignore[misc]

        await pilot.press("a")  # again: none
        assert screen.selected == set()
        table = screen.query_one(DataTable)
        for folder in runs:  # one run, then the other
            table.move_cursor(row=shown(app).index(folder.id))
            await pilot.pause()
            await pilot.press("space")
        assert screen.selected == {f.id for f in runs}
        await pilot.press("h")
        await pilot.press(*"use the trees", "enter")
        for folder in runs:
            await until(pilot, lambda f=folder: actions(f, "hint"))  # type: ignore[misc]
            assert actions(folder, "hint")[0].detail == "use the trees"

        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, ConfirmKillManyDialog))
        dialog = app.screen
        body = " ".join(str(widget.render()) for widget in dialog.query("Static"))
        title = str(dialog.query_one(".dialog-title").render())
        assert "Kill 2 runs?" in title
        assert all(f.id in body for f in runs) and ended.id not in body
        await pilot.press("y")
        for folder in runs:
            await until(pilot, lambda f=folder: actions(f, "kill"))  # type: ignore[misc]
        for folder in runs:
            wait_ended(folder)


async def test_esc_from_a_run_keeps_selection_sort_and_filter() -> None:
    first, second = short_agent(), short_agent()
    app = MletuiApp(operator="pilot")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen) and len(shown(app)) == 2)
        screen = overview(app)
        await pilot.press("s", "S")
        await pilot.press("slash", *first.id, "enter")
        await until(pilot, lambda: shown(app) == [first.id])
        await pilot.press("space")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, WatchScreen))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        assert screen.selected == {first.id}
        assert (screen.sort_column, screen.reverse, screen.filter) == ("id", True, first.id)
        await until(pilot, lambda: shown(app) == [first.id])
        assert second.id not in shown(app)


async def test_columns_fit_80_cells_with_ids_whole() -> None:
    folder = short_agent()
    app = MletuiApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen) and shown(app))
        table = overview(app).query_one(DataTable)
        await pilot.pause(0.3)
        widths = [c.get_render_width(table) for c in table.columns.values()]
        assert sum(widths) <= 80
        keys = [c.key.value for c in table.columns.values()]
        assert keys[:2] == ["mark", "id"] and "state" in keys
        assert len(keys) < 13  # some columns gave way, the id did not
        assert table.get_cell(folder.id, "id").plain == folder.id
    wide = MletuiApp()
    async with wide.run_test(size=(200, 40)) as pilot:
        await until(pilot, lambda: isinstance(wide.screen, OverviewScreen) and shown(wide))
        await pilot.pause(0.3)
        assert len(overview(wide).query_one(DataTable).columns) == 13


async def test_only_changed_cells_are_written() -> None:
    short_agent()
    live = idle_agent()
    app = MletuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen) and len(shown(app)) == 2)
        table = overview(app).query_one(DataTable)
        await pilot.pause(1.5)
        written: list[tuple[Any, Any]] = []
        update = table.update_cell

        def counted(row: Any, column: Any, value: Any, **kw: Any) -> None:
            written.append((row, column))
            update(row, column, value, **kw)

        table.update_cell = counted  # type: ignore[method-assign]
        await pilot.pause(3.5)  # three refreshes or more
        assert written, "the live run's clock cells were not updated"
        assert {row for row, _ in written} == {live.id}  # the ended run: never rewritten
        assert {column for _, column in written} <= {"elapsed", "active", "gpu", "state", "flags"}
