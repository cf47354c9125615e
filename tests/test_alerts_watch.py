"""Alerts in the watch screen: A lists this run's first; Enter on another run's alert opens it
when the app was started on the overview, else says so."""

from __future__ import annotations

import sys

from textual.pilot import Pilot
from textual.widgets import DataTable

from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store.runs import RunFolder, config_dir
from mletui.tui.app import MletuiApp
from mletui.tui.screens.alerts_list import AlertsScreen
from mletui.tui.screens.overview import OverviewScreen
from mletui.tui.screens.watch import WatchScreen
from tests.conftest import until, wait_ended
from tests.test_overview_actions import alerts_journaled

ASKER = (
    "from mletui import protocol; import time; protocol.hello('asker');"
    "protocol.ask('which split?'); time.sleep(600)"
)


def alerts_toml(extra: str = "") -> None:
    path = config_dir() / "alerts.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"[alerts]\npoll_seconds = 0.2\n{extra}", encoding="utf-8")


def two_runs() -> tuple[RunFolder, RunFolder]:
    """A crashed run, then a live one that asked for help (the newer alert)."""
    crashed = start_run(resolve_task("digits"), agent_cmd="exit 5")
    wait_ended(crashed)
    asker = start_run(resolve_task("digits"), agent_cmd=f'{sys.executable} -c "{ASKER}"')
    return crashed, asker


async def show_alerts(pilot: Pilot[None], app: MletuiApp, count: int) -> AlertsScreen:
    await pilot.press("A")
    await until(pilot, lambda: isinstance(app.screen, AlertsScreen))
    listing = app.screen
    assert isinstance(listing, AlertsScreen)
    await until(pilot, lambda: len(listing.alerts) == count)
    return listing


async def test_the_watch_screen_lists_its_runs_alerts_first() -> None:
    alerts_toml()
    crashed, asker = two_runs()
    # Watching the crashed run alone: its alert first though older; another run's is not opened.
    app = MletuiApp(run_id=crashed.id, alerts=True, operator="pilot")
    async with app.run_test() as pilot:
        await until(pilot, lambda: alerts_journaled(crashed) and alerts_journaled(asker))
        await until(pilot, lambda: isinstance(app.screen, WatchScreen))
        listing = await show_alerts(pilot, app, 2)
        assert [(a.run_id, a.kind.value) for a in listing.alerts] == [
            (crashed.id, "crashed"),
            (asker.id, "ask"),
        ]
        assert crashed.id in str(listing.query_one("#alerts-title").render())
        table = listing.query_one(DataTable)
        assert [table.get_row_at(i)[1].plain for i in range(2)] == [crashed.id, asker.id]
        await pilot.press("down", "enter")
        await until(pilot, lambda: isinstance(app.screen, WatchScreen))
        watch = app.screen
        assert isinstance(watch, WatchScreen) and watch.session.record.id == crashed.id
        said = f"Run {asker.id} is not opened from here: watch it with mletui watch {asker.id}."
        await until(pilot, lambda: any(n.message == said for n in app._notifications))
        await show_alerts(pilot, app, 2)
        await pilot.press("enter")  # its own alert: back to the same watch screen
        await until(pilot, lambda: app.screen is watch)
    # Started on the overview: Enter on another run's alert opens that run, the overview below.
    app = MletuiApp(alerts=True, operator="pilot")
    async with app.run_test() as pilot:
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen))
        app.open_run(asker.id)
        await until(pilot, lambda: isinstance(app.screen, WatchScreen))
        listing = await show_alerts(pilot, app, 2)
        assert [a.run_id for a in listing.alerts] == [asker.id, crashed.id]
        await pilot.press("down", "enter")
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, WatchScreen) and app.screen.session.record.id == crashed.id
            ),
        )
        assert [type(s) for s in app.screen_stack[1:]] == [OverviewScreen, WatchScreen]
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen))
