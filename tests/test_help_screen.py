"""The help screen on a narrow terminal: nearly the whole width, descriptions in a column."""

from __future__ import annotations

import re

import pytest

from mletui.tui.app import MletuiApp
from mletui.tui.dialogs import HelpScreen, help_sections
from tests.conftest import until
from tests.fixed_run import RUN_ID
from tests.test_layout import ready, screen_text


@pytest.mark.usefixtures("fixed_run")
async def test_help_at_80x24_is_wide_and_wrapped_descriptions_stay_in_their_column() -> None:
    app = MletuiApp(run_id=RUN_ID)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ready(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.2)
        box = app.screen.query_one("#help-keys")
        assert box.region.width >= 72  # nearly the 80 columns, not a box inside a margin
        titles = {section.title for section in help_sections(screen)}
        shown = app.screen.query_one("#help-scroll").region  # the rows in view
        rows = screen_text(app).splitlines()[shown.y : shown.bottom]
        cells = [row[box.region.x : box.region.right].rstrip() for row in rows]
        pause = next(cell for cell in cells if re.match(r"\s*p  Pause/Resume", cell))
        column = pause.index("Pause/Resume")  # where every description starts
        continued = 0
        for cell in cells:
            if not cell or cell.strip() in titles:
                continue
            keys, text = cell[: column - 2], cell[column - 2 :]
            assert text.startswith("  ") and text[2] != " ", f"not in the column: {cell!r}"
            continued += not keys.strip()
        assert continued, "at 80x24 some descriptions wrap, under their column"
