"""Hints to an Inspect sample as operator messages through Inspect's ACP server: a real eval,
offline (as in test_inspect), whose react() agent takes them and whose scripted model says the last
one it was given, so the hint is seen in the model's input; refused with a sentence where the eval
runs no ACP server or its agent takes no operator messages."""

from __future__ import annotations

import pytest

from mletui.core.events import HintsUpdate
from mletui.integrations.inspect.acp import AcpClient, acp_socket
from mletui.integrations.inspect.session import NO_ACP, NOT_INTERACTIVE, InspectSession
from mletui.store.journal import read_journal
from mletui.tui.app import MletuiApp
from mletui.tui.dialogs import HintDialog
from mletui.tui.screens.watch import WatchScreen
from mletui.tui.widgets.hints_pane import HintsPane
from mletui.tui.widgets.log_view import LogView
from mletui.watch.control import ActionError
from mletui.watch.session import Capability
from tests.conftest import until
from tests.test_inspect import Eval, start_eval  # noqa: F401  (the fixture)
from tests.test_tui import SIZE

pytestmark = pytest.mark.usefixtures("inspect_ai_installed")

HINT = "try [bold]lightgbm[/] next"


async def test_a_hint_reaches_the_models_input_and_shows_as_sent(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = request.getfixturevalue("start_eval")
    ev: Eval = start("--steps", "400", "--sleep", "0.2", "--react", "--acp-server")
    ev.watched(monkeypatch)
    process = ev.process()
    (row,) = ev.rows(process, 1)
    assert acp_socket(process.pid) is not None

    app = MletuiApp(run_id=row.id)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.screen
        assert isinstance(screen, WatchScreen)
        session = screen.session
        assert isinstance(session, InspectSession)
        log = screen.query_one(LogView)
        await until(pilot, lambda: Capability.HINTS in session.capabilities, 30)
        await until(pilot, lambda: screen.check_action("hint", ()) is True, 30)

        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, HintDialog), 10)
        await pilot.press(*HINT, "enter")
        await until(pilot, lambda: "Hint sent." in [n.message for n in app._notifications], 10)

        # The model's next call had it in its input: the scripted model says what it heard.
        def heard() -> bool:
            return any(f"heard: {HINT}" in line.text for line in log.lines)

        await until(pilot, heard, 30)
        pane = screen.query_one(HintsPane)
        await until(pilot, lambda: [h.text for h in pane.hints] == [HINT], 10)
        assert pane.hints[0].status == "sent"
        await pilot.press("q")

    # Journaled before it was sent, with its id, as mletui's own hints are.
    entries = read_journal(session.folder.journal_path).entries
    (hint,) = [e for e in entries if e["kind"] == "action" and e["action"] == "hint"]
    assert hint["detail"] == HINT and hint["hint_id"].startswith("h-")
    assert not [e for e in entries if e["kind"] == "notice" and "not applied" in e["text"]]


def test_hints_are_refused_without_an_acp_server_or_an_agent_that_takes_them(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = request.getfixturevalue("start_eval")
    # react() but no ACP server; and an ACP server over generate(), which has no turn loop.
    no_server = start("--steps", "400", "--sleep", "0.2", "--react")
    no_loop = start("--steps", "400", "--sleep", "0.2", "--acp-server")
    for ev, why in ((no_server, NO_ACP), (no_loop, NOT_INTERACTIVE)):
        monkeypatch.setenv("MLETUI_INSPECT_CONTROL_DIR", str(ev.control))
        process = ev.process()
        (row,) = ev.rows(process, 1)
        session = InspectSession(row, process, cache=ev.data / "record")
        updates = [e for e in session.poll() if isinstance(e, HintsUpdate)]
        assert not updates
        assert Capability.HINTS not in session.capabilities
        assert session.unavailable(Capability.HINTS, None) == why
        with pytest.raises(ActionError) as refused:
            session.hint("use xgboost")
        if why is NO_ACP:
            assert "runs no ACP server" in str(refused.value)
        else:
            socket_path = acp_socket(process.pid)
            assert socket_path is not None
            listing = AcpClient(socket_path).session(row.task, row.sample_id, row.epoch)
            assert listing is not None and listing["interactive"] is False
            assert "not interactive" in str(refused.value)
        # The attempt was journaled first, and that it was not applied after.
        entries = read_journal(session.folder.journal_path).entries
        kinds = [(e["kind"], e.get("action")) for e in entries]
        if why is NO_ACP:
            assert ("action", "hint") not in kinds  # nothing to send it through: not attempted
        else:
            assert kinds[-2:] == [("action", "hint"), ("notice", None)]
        session.close()
