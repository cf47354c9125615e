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
