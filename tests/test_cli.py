"""The command line itself: every command listed, options after the command, usage errors as one
sentence, and the shell's completion of run ids."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest

from mletui.cli import main
from mletui.cli.lookup import complete_run_id
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store.runs import RunFolder, create_run_folder, make_record, runs_root

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_commands() -> set[str]:
    """Every command the README's Commands table documents."""
    text = README.read_text(encoding="utf-8")
    table = text.split("## Commands", 1)[1].split("\n\n", 2)[1]
    return set(re.findall(r"`mletui ([a-z]+)", table))


def test_help_lists_every_command_of_the_readme(capsys: pytest.CaptureFixture[str]) -> None:
    commands = _readme_commands()
    assert {"demo", "run", "watch", "grade", "kill", "replay", "serve", "gpu"} <= commands
    assert main(["--help"]) == 0
    listed = re.findall(r"^  ([a-z]+) ", capsys.readouterr().out, re.M)
    assert commands <= set(listed), commands - set(listed)
    assert main([]) == 0  # no command: the same help
    assert set(re.findall(r"^  ([a-z]+) ", capsys.readouterr().out, re.M)) == set(listed)


def test_a_global_option_after_the_command_is_taken(
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = start_run(resolve_task("digits"), agent_cmd="sleep 120")
    assert main(["ls", "--theme", "mletui-light"]) == 0
    assert main(["kill", folder.id[:5], "--yes", "--grace", "1", "--operator", "eve"]) == 0
    capsys.readouterr()
    assert main(["audit", folder.id, "--json", "--theme", "mletui-light"]) == 0
    entries = json.loads(capsys.readouterr().out)["operator_entries"]
    assert [(e["action"], e["operator"]) for e in entries] == [("kill", "eve")]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["show"], "Missing argument 'RUN_ID'"),
        (["ls", "--jsn"], "--json"),
        (["replay", "x", "--speed", "fast"], "'fast' is not a valid float"),
        (["export", "--all"], "Missing option '--out'"),
        (["image"], "Missing command"),
        (["lss"], "No such command 'lss'"),
    ],
)
def test_a_command_line_that_does_not_parse_is_one_sentence(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("mletui: ") and line.endswith(" --help`.") and named in line


def _runs(*ids: str) -> list[RunFolder]:
    """Run folders with these ids (the rest of run.json as a launcher writes it)."""
    folders = []
    for run_id in ids:
        record = make_record("digits", "/tmp/digits", "cmd", ["true"], "local", 60)
        record.id = run_id
        folders.append(create_run_folder(record))
    return folders


def _completions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], line: str
) -> list[tuple[str, str]]:
    """What bash is told when Tab is pressed at the end of ``line``."""
    words = line.split(" ")
    monkeypatch.setenv("_MLETUI_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", line)
    monkeypatch.setenv("COMP_CWORD", str(len(words) - 1))
    assert main([]) == 0
    out = capsys.readouterr().out
    return [(kind, value) for kind, _, value in (row.partition(",") for row in out.splitlines())]


def test_run_ids_complete_from_the_runs_folder_by_prefix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _runs("ab12cd34", "ab99ef00", "cd000000")
    (runs_root() / "ab-stray.txt").write_text("not a run\n")
    (runs_root() / "ab\x1b[31m").mkdir()  # a name that would write to the terminal
    assert _completions(monkeypatch, capsys, "mletui show ab") == [
        ("plain", "ab12cd34"),
        ("plain", "ab99ef00"),
    ]
    assert _completions(monkeypatch, capsys, "mletui kill --yes ab9") == [("plain", "ab99ef00")]
    assert _completions(monkeypatch, capsys, "mletui watch --theme mletui-light c") == [
        ("plain", "cd000000")
    ]
    # a pack file may be replayed too: the shell completes file names beside the ids
    assert _completions(monkeypatch, capsys, "mletui replay cd") == [
        ("plain", "cd000000"),
        ("file", "cd"),
    ]
    assert ("plain", "show") in _completions(monkeypatch, capsys, "mletui sh")


def test_the_run_id_callback_lists_only_ids_with_the_prefix() -> None:
    _runs("0f0f0f0f", "0f1e2d3c", "ffffffff")
    ctx = click.Context(click.Command("show"))
    param = click.Argument(["run_id"])
    assert [c.value for c in complete_run_id(ctx, param, "0f")] == ["0f0f0f0f", "0f1e2d3c"]
    assert [c.value for c in complete_run_id(ctx, param, "")] == [
        "0f0f0f0f",
        "0f1e2d3c",
        "ffffffff",
    ]
    assert complete_run_id(ctx, param, "9") == []
