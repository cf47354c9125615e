"""The real app through run_test() and Pilot, against a real running baseline agent."""

from __future__ import annotations

import pytest
from textual.binding import Binding
from textual.dom import DOMNode
from textual.widgets import Static

from mletui import protocol
from mletui.core.events import RunState
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.runtimes.local import group_pids
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder
from mletui.tui.app import MletuiApp
from mletui.tui.dialogs import HelpScreen
from mletui.tui.screens.watch import WatchScreen
from mletui.tui.widgets.log_view import LogView
from mletui.tui.widgets.score_chart import ScoreChart
from mletui.tui.widgets.scores_pane import ScoresPane
from mletui.watch.livestate import read_status
from tests.conftest import until
from tests.fixed_run import RUN_ID, write_fixed_run
from tests.test_widgets import plain

SIZE = (160, 48)


def slow_baseline(delay: float = 1.5) -> RunFolder:
    return start_run(
        resolve_task("digits"),
        agent="baseline",
        time_limit_s=600,
        extra_env={"MLETUI_BASELINE_STEP_DELAY": str(delay)},
    )


def acks(folder: RunFolder) -> list[dict[str, object]]:
    return protocol.read_jsonl(folder.control / protocol.ACKS)


def watch_screen(app: MletuiApp) -> WatchScreen:
    screen = app.screen
    assert isinstance(screen, WatchScreen)
    return screen


async def test_pause_hint_and_kill_from_the_keyboard() -> None:
    folder = slow_baseline()
    app = MletuiApp(run_id=folder.id, operator="pilot")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: (s := watch_screen(app).status) and not s.observe_only)

        await pilot.press("p")
        await until(pilot, lambda: any(a.get("status") == "paused" for a in acks(folder)))
        await until(pilot, lambda: watch_screen(app).status.state is RunState.PAUSED)  # type: ignore[union-attr]
        await pilot.press("p")
        await until(pilot, lambda: any(a.get("status") == "resumed" for a in acks(folder)))

        await pilot.press("h")
        await pilot.press(*"use gradient boosting")
        await pilot.press("enter")
        await until(
            pilot,
            lambda: any(a.get("status") == "used" for a in acks(folder)),
        )
        answer = next(a for a in acks(folder) if a.get("status") == "used")
        assert "boost" in str(answer["message"]).lower()
        # The next step trained gradient boosting.
        await until(
            pilot,
            lambda: "HistGradientBoosting" in (folder.workspace / "solution.py").read_text(),
            timeout=90,
        )

        await pilot.press("K")
        await pilot.press("y")
        await until(pilot, lambda: read_status(folder).state.ended, timeout=30)
        pgid = folder.read().agent_pid
        assert pgid is not None and group_pids(pgid) == ()
        assert folder.read().state == "killed"
        await until(pilot, lambda: watch_screen(app).status.state is RunState.KILLED)  # type: ignore[union-attr]

    actions = [e for e in read_journal(folder.journal_path).entries if e["kind"] == "action"]
    # The watcher took the driver lock at its first action and gave it back when it quit.
    assert [a["action"] for a in actions] == [
        "drive",
        "pause",
        "resume",
        "hint",
        "kill",
        "release-driver",
    ]
    assert {a["operator"] for a in actions} == {"pilot"}


async def test_quitting_leaves_the_run_running() -> None:
    folder = slow_baseline()
    app = MletuiApp(run_id=folder.id)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: watch_screen(app).query_one(LogView).line_count > 0)
        await pilot.press("q")
    pgid = folder.read().agent_pid
    assert pgid is not None and group_pids(pgid)
    assert read_status(folder).state is RunState.RUNNING
    assert not [e for e in read_journal(folder.journal_path).entries if e["kind"] == "action"]
    assert any("goes on" in line for line in app.farewell())


async def test_greyed_out_keys_say_why() -> None:
    folder = start_run(resolve_task("digits"), agent_cmd="sleep 30")
    app = MletuiApp(run_id=folder.id)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: watch_screen(app).status is not None)
        await pilot.press("p")
        await pilot.pause(0.2)
        messages = [n.message for n in app._notifications]
        assert any("observe-only" in m for m in messages), messages
        assert not (folder.control / protocol.PAUSE).exists()


async def test_the_help_lists_every_key_of_the_watch_screen_and_of_each_pane(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_fixed_run(monkeypatch)
    app = MletuiApp(run_id=RUN_ID)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: watch_screen(app).status is not None)
        screen = watch_screen(app)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        listed = plain(app.screen.query_one("#help-keys", Static))
        owners: list[DOMNode] = [screen, *screen.query(LogView), *screen.query(ScoresPane)]
        owners += [*screen.query(ScoreChart)]
        for owner in owners:
            for cls in type(owner).__mro__:
                if owner is not screen and not cls.__module__.startswith("mletui."):
                    continue  # a pane's help is its own keys; Textual's scrolling is not listed
                for binding in Binding.make_bindings(vars(cls).get("BINDINGS", ())):
                    if not binding.description:
                        continue
                    if owner is screen and screen.check_action(binding.action, ()) is False:
                        # a key of another source (an Inspect sample's limits): not this run's
                        assert f"{binding.description}:" not in listed, (cls.__name__, binding)
                        continue
                    key = app.get_key_display(binding)
                    assert binding.description in listed, (cls.__name__, binding)
                    assert key in listed, (cls.__name__, binding)
        for missing_before in ("z", "G", "Show its code", "Zoom scores", "Earlier"):
            assert missing_before in listed
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
