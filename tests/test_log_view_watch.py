"""The log pane in the real watch screen, on a real run that floods it."""

from __future__ import annotations

from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store.spool import LogHistory
from mletui.tui.app import MletuiApp
from mletui.tui.widgets.log_search import LogPrompt
from mletui.tui.widgets.log_view import LogView
from tests.conftest import wait_ended
from tests.test_tui import SIZE, until, watch_screen

N = 200_000


async def test_a_flood_is_all_there_and_searchable_from_the_watch_screen() -> None:
    folder = start_run(resolve_task("digits"), agent_cmd=f"seq 1 {N}; echo done-$((6 * 7)) >&2")
    wait_ended(folder, 120)
    app = MletuiApp(run_id=folder.id)
    async with app.run_test(size=SIZE) as pilot:
        screen = watch_screen(app)
        log = screen.query_one(LogView)
        assert isinstance(log.history, LogHistory), "the pane reads the run's spool"
        await until(pilot, lambda: log.line_count >= N + 2)
        await pilot.pause()
        assert len(log.lines) < 2_000, "the history stays on disk"
        assert log.following

        await pilot.press("g")
        await pilot.pause()
        top = [log.text_at(y).rstrip() for y in range(3)]
        # One column left of every line for the stderr bar (the run wrote to stderr once).
        assert top[0].startswith(" [mletui] agent started") and top[1:] == [" 1", " 2"]

        await pilot.press("slash")
        assert isinstance(app.screen, LogPrompt)
        await pilot.press(*"done-42", "enter")  # not in line 1, the command, as it was typed
        await until(pilot, lambda: (log.pointer or 0) > N // 2)
        assert log.pointer is not None
        line = log.history.line(log.pointer)
        assert line is not None and line.text == "done-42"
        await pilot.press("escape", "escape", "ampersand", *"^1234.$", "ctrl+r", "enter")
        await until(pilot, lambda: log.row_count == 10 and log.filter_query is not None)
        await pilot.pause()
        assert [log.text_at(y).rstrip() for y in range(10)] == [f" 1234{d}" for d in range(10)]

        # G is the watch screen's (it reveals the grade); End follows the log.
        await pilot.press("escape", "end")
        await pilot.pause()
        assert log.following
