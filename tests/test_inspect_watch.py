"""Inspect samples in mletui's own commands and watch screen: a real Inspect eval, offline (as in
test_inspect), listed by `mletui ls`, shown, watched, paused and cancelled from the screen."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from textual.widgets import Input

from mletui.cli import main
from mletui.integrations.inspect.client import ControlClient
from mletui.integrations.inspect.session import InspectSession
from mletui.tui.app import MletuiApp
from mletui.tui.dialogs import KillChoiceDialog
from mletui.tui.limits_dialog import LimitsDialog
from mletui.tui.pause_dialog import PauseScopeDialog
from mletui.tui.screens.watch import WatchScreen
from mletui.tui.widgets.log_view import LogView
from mletui.watch.session import Capability, Control, Session
from tests.conftest import until
from tests.test_inspect import Eval, start_eval  # noqa: F401  (the fixture)
from tests.test_tui import SIZE

pytestmark = pytest.mark.usefixtures("inspect_ai_installed")


@pytest.fixture
def watched(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Eval:
    start = request.getfixturevalue("start_eval")  # test_inspect's: stopped after the test
    ev: Eval = start("--steps", "400", "--sleep", "0.2", "--samples", "1", "--tolerate-errors")
    ev.watched(monkeypatch)
    return ev


def texts(app: MletuiApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_ls_show_watch_pause_and_cancel_a_sample(
    watched: Eval, capsys: pytest.CaptureFixture[str]
) -> None:
    process = watched.process()
    (row,) = watched.rows(process, 1)

    # `mletui ls` lists the sample, with the keys every source's rows have.
    capsys.readouterr()
    assert main(["ls", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["id"] == row.id and listed["source"] == "inspect"
    assert {"source", "id", "task", "agent", "runtime", "state"} <= set(listed)
    assert (listed["task"], listed["agent"], listed["state"]) == (
        "slow_loop",
        "scripted/model",
        "running",
    )
    assert (listed["sample_id"], listed["epoch"]) == ("s1", 1)
    assert main(["ls"]) == 0
    table = capsys.readouterr().out
    assert "Inspect samples" in table and row.id in table  # the id whole, on 80 columns
    assert main(["show", row.id[:6]]) == 0
    shown = capsys.readouterr().out
    assert f"live: Inspect process {process.pid}" in shown and "operator actions  none" in shown

    client = ControlClient(process.socket_path)
    app = MletuiApp(run_id=row.id)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.screen
        assert isinstance(screen, WatchScreen)
        session = screen.session
        assert isinstance(session, InspectSession) and isinstance(session, Session)
        assert isinstance(session.control, Control)
        assert Capability.HINTS not in session.capabilities
        assert Capability.FREEZE not in session.capabilities
        log = screen.query_one(LogView)

        def shown(text: str) -> bool:
            return any(text in line.text for line in log.lines)

        # The transcript in the log pane: the model's text as characters, the tool's output.
        await until(pilot, lambda: shown("step 1 output"), 60)
        said = [line.text for line in log.lines if line.text.startswith("[model scripted/model]")]
        assert "step 0: [bold red]running[/] the next command" in said[0]
        assert "\x1b" not in said[0]
        assert shown("[tool bash] sleep 0.2; echo step 0 output")

        # p asks which scope; t: a soft pause of the task, as Inspect's own GET /tasks says.
        await until(pilot, lambda: screen.status is not None, 10)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PauseScopeDialog), 10)
        await pilot.press("t")
        await until(pilot, lambda: client.tasks()[0]["paused"] == ["task"], 10)
        assert client.tasks()[0]["paused_now"] is None
        await until(pilot, lambda: session.paused_scopes() == ("task",), 10)
        # r in the same dialog lifts it.
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PauseScopeDialog), 10)
        await pilot.press("r")
        await until(pilot, lambda: client.tasks()[0]["paused"] is None, 10)
        # A hard pause of the whole eval (E): in-flight samples held at their next model call.
        await until(pilot, lambda: session.paused_scopes() == (), 10)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PauseScopeDialog), 10)
        await pilot.press("E")
        await until(pilot, lambda: client.tasks()[0]["process_paused_now"] is True, 10)
        await until(pilot, lambda: client.tasks()[0]["held"] == 1, 30)
        await until(
            pilot, lambda: screen.status is not None and screen.status.state.value == "paused", 30
        )
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PauseScopeDialog), 10)
        await pilot.press("r")
        await until(pilot, lambda: client.tasks()[0]["process_paused"] is False, 10)

        # Hints and freeze are absent, each with its sentence.
        await pilot.press("h")
        await pilot.pause(0.2)
        assert any("runs no ACP server" in t for t in texts(app))

        # K: cancel, scored on what it has (the kill choice's first).
        await until(pilot, lambda: screen.check_action("kill", ()) is True, 30)
        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, KillChoiceDialog), 10)
        await pilot.press("a")
        await until(pilot, lambda: any(t.startswith("Cancel sent") for t in texts(app)), 30)
        await pilot.press("q")
    watched.wait()

    # Inspect's log says the operator cancelled it, and it was scored.
    from inspect_ai.log import read_eval_log

    (path,) = watched.logs.glob("*.eval")
    (sample,) = read_eval_log(str(path)).samples or []
    assert sample.limit is not None and sample.limit.type == "operator" and sample.scores

    # After the eval: ls reads the sample from the log; show and audit read its journal.
    assert main(["ls", "--json"]) == 0
    (ended,) = json.loads(capsys.readouterr().out)
    assert ended["id"] == row.id and ended["pid"] is None and ended["path"] == str(path)
    assert main(["show", row.id]) == 0
    shown_after = capsys.readouterr().out
    assert "operator actions  pause 2, resume 2, kill 1" in shown_after
    assert main(["audit", row.id, "--json"]) == 0
    audit = json.loads(capsys.readouterr().out)
    assert audit["intact"] is True
    assert [e["action"] for e in audit["operator_entries"]] == [
        "pause",
        "resume",
        "pause",
        "resume",
        "kill",
    ]


def test_an_unknown_control_api_version_is_a_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    control = tmp_path / "control"
    control.mkdir()
    me = os.getpid()
    (control / f"{me}.json").write_text(
        json.dumps({"pid": me, "socket_path": str(tmp_path / "x.sock"), "api_version": 99})
    )
    monkeypatch.setenv("MLETUI_INSPECT_CONTROL_DIR", str(control))
    assert main(["ls"]) == 0
    err = capsys.readouterr().err
    assert "control API version 99" in err and "3 to 8" in err and "Traceback" not in err
    assert main(["watch", "abc"]) == 1
    err = capsys.readouterr().err
    assert "control API version 99" in err and "3 to 8" in err and "Traceback" not in err


async def test_limits_tool_call_cancel_and_kill_twice_from_the_screen(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = request.getfixturevalue("start_eval")  # test_inspect's: stopped after the test
    ev: Eval = start("--steps", "400", "--sleep", "5", "--samples", "2", "--tolerate-errors")
    ev.watched(monkeypatch)
    process = ev.process()
    s1, _ = ev.rows(process, 2)
    client = ControlClient(process.socket_path)
    app = MletuiApp(run_id=s1.id)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.screen
        assert isinstance(screen, WatchScreen)
        session = screen.session
        assert isinstance(session, InspectSession)
        log = screen.query_one(LogView)

        def shown(text: str) -> bool:
            return any(line.text.startswith(text) for line in log.lines)

        # C while the agent's bash call sleeps: Inspect cancels it, the model sees an error.
        await until(pilot, lambda: shown("[tool bash] sleep 5"), 60)
        await until(pilot, lambda: screen.check_action("cancel_tool_call", ()) is True, 10)
        await pilot.press("C")
        await until(pilot, lambda: "Cancel of the running tool call sent." in texts(app), 10)
        await until(pilot, lambda: shown("[tool bash error]"), 30)

        # L: the limits, as Inspect's own task config then has them.
        await pilot.press("L")
        await until(pilot, lambda: isinstance(app.screen, LimitsDialog), 10)
        await pilot.press(*"token_limit=nope")
        await pilot.press("enter")
        assert isinstance(app.screen, LimitsDialog)  # refused with its sentence, still open
        app.screen.query_one(Input).value = "token_limit=1000000 time_limit=600"
        await pilot.press("enter")
        await until(pilot, lambda: any(t.startswith("Limits set") for t in texts(app)), 10)
        limits = client.task_config(s1.task_id)["limits"]
        assert (limits["token_limit"], limits["time_limit"]) == (1_000_000, 600)

        # K: cancel the sample; K again: the dialog offers the eval's process, a: SIGTERM.
        await until(pilot, lambda: screen.check_action("kill", ()) is True, 10)
        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, KillChoiceDialog), 10)
        await pilot.press("a")
        await until(pilot, lambda: any(t.startswith("Cancel sent") for t in texts(app)), 30)
        await until(pilot, lambda: screen.check_action("kill", ()) is True, 30)
        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, KillChoiceDialog), 10)
        assert "end the whole eval" in session.notes.kill_title
        await pilot.press("a")
        await until(pilot, lambda: any("SIGTERM sent" in t for t in texts(app)), 30)
        await pilot.press("q")
    ev.wait(60)

    from mletui.store.journal import read_journal

    entries = read_journal(session.folder.journal_path).entries
    actions = [(e["action"], e.get("pid")) for e in entries if e["kind"] == "action"]
    assert actions == [
        ("cancel-tool-call", None),
        ("limits", None),
        ("kill", None),
        ("kill-process", process.pid),
    ]
