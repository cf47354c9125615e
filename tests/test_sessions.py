"""One Session protocol for every source: live, replay and MLE-bench sessions satisfy it, the
registry opens any id, and a key whose capability a session lacks says the session's sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from mletui.grading.tasks import resolve_task
from mletui.integrations.mlebench.runs import read_run
from mletui.integrations.mlebench.session import MlebenchSession
from mletui.integrations.mlebench.source import MlebenchSource
from mletui.run.launcher import start_run
from mletui.store.runs import RunFolder
from mletui.tui.app import MletuiApp
from mletui.tui.screens.watch import WatchScreen
from mletui.watch.live import WatchSession
from mletui.watch.replay import ReplaySession
from mletui.watch.session import Capability, Control, Session
from mletui.watch.sources import OpenRequest, ReplayOptions, SourceError, registry
from tests.conftest import until, wait_ended
from tests.test_mlebench import finished_run
from tests.test_tui import SIZE


def ended_run() -> RunFolder:
    folder = start_run(resolve_task("digits"), agent_cmd="true")
    wait_ended(folder, 60)
    return folder


def test_every_source_opens_a_session_of_the_one_protocol(tmp_path: Path) -> None:
    folder = ended_run()
    mle = finished_run(tmp_path / "runs")
    sources = registry().add(MlebenchSource(tmp_path / "runs"))
    sessions: list[Session] = [
        sources.open(folder.id[:4]),
        sources.open(folder.id, OpenRequest(replay=ReplayOptions(speed=100))),
        sources.open(mle.name[:12]),
    ]
    try:
        assert [type(s) for s in sessions] == [WatchSession, ReplaySession, MlebenchSession]
        for session in sessions:
            assert isinstance(session, Session) and isinstance(session.control, Control)
        live, replay, mlebench = sessions
        assert live.record.id == replay.record.id == folder.id
        assert mlebench.record.id == mle.name and mlebench.record.runtime == "mle-bench"
        assert Capability.DRIVE in live.capabilities
        assert not replay.capabilities & Capability.acting()
        assert Capability.PLAYBACK in replay.capabilities
        assert Capability.KILL_CONTAINER in mlebench.capabilities
        assert Capability.HINTS not in mlebench.capabilities
    finally:
        for session in sessions:
            session.close()

    with pytest.raises(SourceError) as lookup:
        sources.open("zzzz")
    assert str(lookup.value) == "No run matches 'zzzz'. `mletui ls` lists them."
    with pytest.raises(SourceError, match="only mletui's own runs replay"):
        sources.open(mle.name, OpenRequest(replay=ReplayOptions()))
    listed = {(r.source, r.id) for r in sources.listings().runs}
    assert listed == {("mletui", folder.id), ("mle-bench", mle.name)}


async def test_a_key_whose_capability_is_missing_says_the_sessions_sentence(
    tmp_path: Path,
) -> None:
    mle = finished_run(tmp_path / "runs")
    app = MletuiApp(
        run_id=read_run(mle).id, sources=registry().add(MlebenchSource(mle.parent.parent))
    )
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.screen
        assert isinstance(screen, WatchScreen)
        await until(pilot, lambda: screen.status is not None, 10)
        assert screen.check_action("hint", ()) is False  # not in the footer at all
        await pilot.press("h")
        await pilot.pause(0.2)
        messages = [n.message for n in app._notifications]
        assert "Not now: hints unavailable: MLE-bench's agents are observe-only." in messages
        await pilot.press("q")

    folder = ended_run()
    replay = MletuiApp(replay_id=folder.id, speed=500)
    async with replay.run_test(size=SIZE, notifications=True) as pilot:
        screen = replay.screen
        assert isinstance(screen, WatchScreen)
        assert screen.check_action("toggle_freeze", ()) is False
        await pilot.press("F")
        await pilot.pause(0.2)
        messages = [n.message for n in replay._notifications]
        assert "Not now: this is a replay: keys that act on the run are disabled." in messages, (
            messages
        )
