"""The overview's table overrides DataTable's private ``_update_dimensions``: a Textual upgrade
that renames it, changes its signature or stops calling it with the new rows fails here, before
the overview silently measures every cell again or stops working."""

from __future__ import annotations

import inspect

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from mletui.tui.widgets.runs_table import RunsTable


def test_the_private_hook_is_still_there_with_its_signature() -> None:
    hook = getattr(DataTable, "_update_dimensions", None)
    assert hook is not None, "DataTable._update_dimensions is gone: RunsTable must change"
    names = list(inspect.signature(hook).parameters)
    assert names == ["self", "new_rows"], f"DataTable._update_dimensions is now {names}"
    assert RunsTable._update_dimensions is not DataTable._update_dimensions


class _Table(App[None]):
    def compose(self) -> ComposeResult:
        yield RunsTable()


async def test_it_is_called_with_the_new_rows_and_set_widths_are_kept() -> None:
    seen: list[set[object]] = []
    app = _Table()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(RunsTable)
        hook = table._update_dimensions

        def spy(new_rows):  # type: ignore[no-untyped-def]
            rows = set(new_rows)
            seen.append(rows)
            hook(rows)

        table._update_dimensions = spy  # type: ignore[method-assign]
        table.add_column("id", key="id", width=4)
        table.add_column("task", key="task", width=6)
        keys = table.add_rows([[Text("a" * 30), Text("b")], [Text("c"), Text("d" * 30)]])
        await pilot.pause()
        assert set(keys) <= set().union(*seen), "DataTable no longer hands new rows to the hook"
        assert [c.width for c in table.ordered_columns] == [4, 6]
        assert all(c.content_width < 30 for c in table.ordered_columns)  # cells not measured
        assert table.virtual_size.height == 2 + table.header_height  # rows still counted
        assert table.get_cell_at((1, 1)).plain == "d" * 30


def test_the_private_cell_renderer_is_still_there_with_its_signature() -> None:
    hook = getattr(DataTable, "_render_cell", None)
    assert hook is not None, "DataTable._render_cell is gone: RunsTable must change"
    names = list(inspect.signature(hook).parameters)
    assert names == [
        "self",
        "row_index",
        "column_index",
        "base_style",
        "width",
        "cursor",
        "hover",
    ], f"DataTable._render_cell is now {names}"


async def test_kept_cells_show_what_each_cell_holds_after_updates() -> None:
    app = _Table()
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(RunsTable)
        table.add_column("id", key="id", width=6)
        table.add_column("state", key="state", width=8)
        table.add_row(Text("r1"), Text("running"), key="r1")
        table.add_row(Text("r2"), Text("exited"), key="r2")
        await pilot.pause()

        def line(row: int) -> str:
            return "".join(s.text for s in table.render_line(row + table.header_height))

        assert "running" in line(0) and "exited" in line(1)
        table.update_cell("r1", "state", Text("paused"))  # the other row's cells are kept
        await pilot.pause()
        assert "paused" in line(0) and "running" not in line(0)
        assert "exited" in line(1)
        # Rows move: each is rendered where it now is.
        table.sort("id", key=lambda cell: cell.plain, reverse=True)
        await pilot.pause()
        assert "exited" in line(0) and "paused" in line(1)
        table.move_cursor(row=1)
        await pilot.pause()
        assert "r2" in line(0) and "r1" in line(1)
