"""The overview's table: a DataTable whose columns have the widths the overview fitted, and whose
rendered cells outlive an update elsewhere in the table."""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

SegmentLines = list[list[Segment]]
CELLS_KEPT = 20000  # a screenful of rows times columns, many times over


class RunsTable(DataTable[Text]):
    """With every column of a set width, new rows' cells are not measured: refilling 2,000 rows
    after a filter keystroke was mostly measuring cells whose width was already decided.

    DataTable forgets every rendered cell when any cell changes (its caches are keyed by an update
    count); a live run's elapsed time changes each second, so every row on screen was rendered
    again each second. Cells are kept here by what they show and where, across updates."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        # Not cleared with DataTable's caches (a filter's refill clears them): the key says it all.
        self._kept_cells: LRUCache[Hashable, SegmentLines] = LRUCache(CELLS_KEPT)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

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

    # Private in Textual 8.2 too, guarded by tests/test_runs_table.py.
    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        if row_index < 0 or column_index < 0:  # the header and labels: DataTable's own cache
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None or row_key not in self.rows:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row = self.rows[row_key]
        cell = self._data[row_key].get(column_key)
        if not isinstance(cell, Text) or row.auto_height:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        # Everything the rendered cell is made of; the row index is in it (its mouse meta).
        key = (
            row_key,
            column_key,
            row_index,
            row.height,
            width,
            base_style,
            cursor,
            hover,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority,
            self.cursor_background_priority,
            self._pseudo_class_state,
            self.app.theme,
            self.fixed_rows,
            self.fixed_columns,
            self.cell_padding,
            cell.plain,
            cell.style,
            tuple(cell.spans),
            cell.justify,
            cell.no_wrap,
            cell.overflow,
            cell.end,
        )
        lines = self._kept_cells.get(key)
        if lines is None:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            self._kept_cells[key] = lines
        return lines

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._kept_cells.clear()
