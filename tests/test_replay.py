"""Replay and packs: a recorded run played back reaches the pane state the live run showed."""

from __future__ import annotations

import shutil
import time
from typing import Any

from mletui.core.events import ActionRecord, RunState, StatusUpdate
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store.pack import pack_run, unpack_run
from mletui.store.runs import RunFolder
from mletui.tui.app import MletuiApp
from mletui.tui.screens.replay import ReplayScreen
from mletui.tui.screens.watch import WatchScreen
from mletui.tui.widgets.code_pane import CodePane
from mletui.tui.widgets.header import RunHeader
from mletui.tui.widgets.hints_pane import HintsPane
from mletui.tui.widgets.log_view import LogView
from mletui.tui.widgets.scores_pane import ScoresPane
from mletui.watch.control import ActionJournal
from mletui.watch.livestate import read_status
from mletui.watch.replay import ReplaySession, load_bookmarks
from mletui.watch.session import ReplayClock
from tests.conftest import wait_ended, wait_for
from tests.test_tui import SIZE, until


def pane_state(screen: WatchScreen) -> dict[str, Any]:
    header = screen.query_one(RunHeader).status
    assert header is not None
    return {
        "log": [line.text for line in screen.query_one(LogView).lines],
        "snapshots": [s.seq for s in screen.query_one(CodePane).snapshots],
        "scores": [(s.step, s.value) for s in screen.query_one(ScoresPane).scores],
        "hints": [(h.id, h.status, h.answer) for h in screen.query_one(HintsPane).hints],
        "actions": [(a.action, a.detail) for a in screen.query_one(HintsPane).actions],
        "state": (header.state, header.exit_code),
    }


def recorded_run() -> RunFolder:
    folder = start_run(
        resolve_task("diabetes"),
        agent="baseline",
        extra_env={"MLETUI_BASELINE_MAX_STEPS": "3", "MLETUI_BASELINE_STEP_DELAY": "1"},
    )
    from mletui.watch.control import RunControl

    wait_for(lambda: (folder.control / "hello.json").exists(), 30, "hello")
    RunControl(folder, "tester").hint("use more trees")
    wait_ended(folder, 120)
    return folder


async def test_replay_reaches_the_live_final_state_and_seeks_back() -> None:
    folder = recorded_run()

    live = MletuiApp(run_id=folder.id)
    async with live.run_test(size=SIZE) as pilot:
        screen = live.screen
        assert isinstance(screen, WatchScreen)
        await until(pilot, lambda: screen.status is not None and screen.status.state.ended)
        await pilot.pause(1.5)  # the last journal and log lines
        live_state = pane_state(screen)

    replay = MletuiApp(replay_id=folder.id, speed=500)
    async with replay.run_test(size=SIZE) as pilot:
        screen = replay.screen
        assert isinstance(screen, ReplayScreen)
        await until(pilot, lambda: screen.replay.position >= screen.replay.duration)
        await pilot.pause(0.5)
        assert pane_state(screen) == live_state

        await pilot.press("b")  # a bookmark at the end, saved with the run
        await pilot.press("home")
        await until(pilot, lambda: screen.replay.position < 1.0)
        await pilot.pause(0.3)
        assert len(screen.query_one(ScoresPane).scores) < len(live_state["scores"])
        await pilot.press("m")  # to the bookmark: everything is back
        await until(pilot, lambda: screen.replay.position >= screen.replay.duration - 0.1)
        await pilot.pause(0.5)
        assert pane_state(screen) == live_state

        await pilot.press("p")  # acting keys are off in a replay, and say so
        await pilot.pause(0.2)
        assert any("replay" in n.message for n in replay._notifications)
    assert len(load_bookmarks(folder)) == 1
    assert read_status(folder).state.ended


async def test_a_pack_replays_on_another_machine(tmp_path: Any, monkeypatch: Any) -> None:
    folder = recorded_run()
    pack = pack_run(folder, tmp_path / "run.tar.gz")
    monkeypatch.setenv("MLETUI_HOME", str(tmp_path / "elsewhere"))
    copy = unpack_run(pack)
    assert copy.id == folder.id and copy.path != folder.path
    assert (copy.path / "journal.jsonl").read_bytes() == folder.journal_path.read_bytes()
    replay = MletuiApp(replay_id=copy.id, speed=500)
    async with replay.run_test(size=SIZE) as pilot:
        screen = replay.screen
        assert isinstance(screen, ReplayScreen)
        await until(pilot, lambda: screen.replay.position >= screen.replay.duration)
        await pilot.pause(0.5)
        assert len(screen.query_one(ScoresPane).scores) == 3
        pane = screen.query_one(CodePane)
        await until(pilot, lambda: pane.snapshots)
    shutil.rmtree(tmp_path / "elsewhere")


def test_replay_ends_where_the_run_ended_not_at_a_watchers_later_entry() -> None:
    folder = start_run(resolve_task("digits"), agent_cmd="echo trained; sleep 1")
    wait_ended(folder)
    record = folder.read()
    assert record.ended is not None and record.started is not None
    ended, started = record.ended, record.started
    wait_for(lambda: time.time() > ended + 4, 10, "time to pass after the run's end")
    ActionJournal(folder.journal_path, "watcher").record(
        "release-driver", StatusUpdate(RunState.EXITED, 1.0, 1.0, None, 0, None, False, None)
    )
    replay = ReplaySession(folder, speed=1000.0)
    events: list[object] = []
    try:
        assert replay.duration <= ended - started + 1.0  # not stretched by the watcher's entry
        deadline = time.monotonic() + 10
        while not any(isinstance(e, ReplayClock) and e.finished for e in events):
            assert time.monotonic() < deadline, "the replay never finished"
            events += replay.poll()
            time.sleep(0.02)
        events += replay.poll()
    finally:
        replay.close()
    assert replay.position == replay.duration
    # the watcher's entry is still played, at the end
    assert [e.action for e in events if isinstance(e, ActionRecord)] == ["release-driver"]
