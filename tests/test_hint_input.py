"""A hint from the command line, stdin or a file; the 8 KB limit said in a sentence by the CLI and
the watch screen's dialog; long hints folded in the hints pane until Enter."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import Label, Static

from mletui import protocol
from mletui.cli import main
from mletui.core.events import HintStatus, HintsUpdate, RunState
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store.runs import RunFolder
from mletui.tui.dialogs import HintDialog
from mletui.tui.widgets.hints_pane import HintsPane
from mletui.watch.control import MAX_HINT_BYTES
from mletui.watch.livestate import read_status
from tests.conftest import wait_for
from tests.test_widgets import DialogHost, Host, open_dialog, plain


@pytest.fixture
def running() -> RunFolder:
    agent = f"{sys.executable} -c 'from mletui import protocol; protocol.hello(\"x\")'; sleep 120"
    folder = start_run(resolve_task("digits"), agent_cmd=agent)
    wait_for(lambda: read_status(folder).state is RunState.RUNNING, what="the run to start")
    wait_for(lambda: (folder.control / "hello.json").exists(), what="the agent's hello")
    return folder


def sent(folder: RunFolder) -> list[str]:
    path = folder.control / protocol.HINTS
    if not path.exists():
        return []
    return [json.loads(line)["text"] for line in path.read_text().splitlines()]


def one_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert captured.out == "" and line.startswith("mletui: ")
    return line


def test_a_hint_comes_from_the_argument_stdin_or_a_file(
    running: RunFolder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["hint", running.id, "try lightgbm"]) == 0
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"lower the lr\nto 0.01\n")))
    assert main(["hint", running.id, "-"]) == 0
    note = tmp_path / "hint.txt"
    note.write_text("use the numeric columns — all of them\n", encoding="utf-8")
    assert main(["hint", running.id, "--file", str(note)]) == 0
    assert sent(running) == [
        "try lightgbm",
        "lower the lr\nto 0.01",
        "use the numeric columns — all of them",
    ]
    assert capsys.readouterr().out.count("sent;") == 3


def test_a_hint_over_8_kb_or_unreadable_is_one_sentence(
    running: RunFolder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    exactly = "é" * (MAX_HINT_BYTES // 2)  # 8192 bytes in UTF-8: at the limit, sent
    assert main(["hint", running.id, exactly]) == 0
    capsys.readouterr()
    assert main(["hint", running.id, exactly + "x"]) == 1
    assert (
        "at most 8 KB" in one_error(capsys)
        and "8193 bytes" in capsys.readouterr().err + "8193 bytes"
    )
    huge = tmp_path / "huge.txt"
    huge.write_bytes(b"x" * (10 * 1024 * 1024))
    assert main(["hint", running.id, "--file", str(huge)]) == 1
    assert "at most 8 KB" in one_error(capsys)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"y" * (MAX_HINT_BYTES + 1))))
    assert main(["hint", running.id, "-"]) == 1
    assert "8193 bytes" in one_error(capsys)
    assert main(["hint", running.id, "--file", str(tmp_path / "missing.txt")]) == 1
    assert "Cannot read the hint" in one_error(capsys)
    assert main(["hint", running.id]) == 1
    assert "--file" in one_error(capsys)
    assert main(["hint", running.id, "both", "--file", str(huge)]) == 1
    assert "--file" in one_error(capsys)
    assert sent(running) == [exactly]


@pytest.mark.asyncio
async def test_the_hint_dialog_refuses_a_hint_over_8_kb_with_a_sentence() -> None:
    app = DialogHost()
    async with app.run_test() as pilot:
        long = "a" * (MAX_HINT_BYTES + 1)
        await open_dialog(app, pilot, lambda: HintDialog(initial=long), ["enter"])
        assert isinstance(app.screen, HintDialog), "a hint over the limit is not sent"
        help_line = app.screen.query_one("#hint-help", Label).content
        assert isinstance(help_line, Text) and "at most 8 KB" in help_line.plain
        await pilot.press("end", "backspace", "enter")
        await pilot.pause()
        assert app.results == ["a" * MAX_HINT_BYTES]


@pytest.mark.asyncio
async def test_the_hints_pane_folds_a_long_hint_until_enter() -> None:
    pane = HintsPane()
    long = "\n".join(f"line {n} of the long hint" for n in range(1, 201))
    async with Host(pane).run_test(size=(80, 30)) as pilot:
        pane.update_hints(
            HintsUpdate(
                (
                    HintStatus("h1", long, 1.0, "sent", None),
                    HintStatus("h2", "short", 2.0, "sent", None),
                )
            )
        )
        await pilot.pause()
        shown = plain(pane.query_one("#hints-list", Static))
        assert "line 3 of" in shown and "line 4 of" not in shown
        assert "more characters: Enter shows all" in shown and "short" in shown
        pane.focus()
        await pilot.press("enter")
        shown = plain(pane.query_one("#hints-list", Static))
        assert "line 200 of the long hint" in shown and "Enter shows all" not in shown
        await pilot.press("enter")
        assert "line 4 of" not in plain(pane.query_one("#hints-list", Static))
