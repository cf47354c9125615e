"""The overview's table: a DataTable whose columns have the widths the overview fitted."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey


class RunsTable(DataTable[Text]):
    """With every column of a set width, new rows' cells are not measured: refilling 2,000 rows
    after a filter keystroke was mostly measuring cells whose width was already decided."""

    # Private in Textual 8.2 (no public call skips measuring); tests/test_runs_table.py guards it.
    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        if any(column.auto_width for column in self.columns.values()):
            super()._update_dimensions(new_rows)
            return
        rows = self.rows
        measured = [
            key
            for key in new_rows
            if key in rows and (rows[key].auto_height or rows[key].label is not None)
        ]
        super()._update_dimensions(measured)  # the virtual size, rows of automatic height, labels
