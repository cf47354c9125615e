"""Small things the command line says: a blank --agent-cmd, a file that is not a pack, the tasks
table, counts and sizes in words."""

from __future__ import annotations

import pytest

from mletui.cli import main
from mletui.store.runs import runs_root


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_a_blank_agent_cmd_is_a_sentence_not_the_baseline_agent(
    blank: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "digits", "--agent-cmd", blank, "--detach"]) == 1
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert captured.out == "" and line.startswith("mletui: --agent-cmd is blank")
    assert not runs_root().exists() or not any(runs_root().iterdir())
