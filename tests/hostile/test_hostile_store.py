"""Hostile run store, packs, exports, panes and serve: what anyone (an agent, a broken disk, a
pack from elsewhere) leaves in mletui's way is refused or shown inert, and nothing else breaks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store.runs import RunFolder, create_run_folder, make_record, runs_root
from mletui.tui.app import MletuiApp
from tests.conftest import until, wait_ended, wait_for
from tests.test_tui import SIZE

# --- the run store ----------------------------------------------------------------------------


def _good_run() -> RunFolder:
    record = make_record("digits", "/tmp/digits", "baseline", ["true"], "local", 60)
    return create_run_folder(record)


def _broken_folders() -> tuple[RunFolder, dict[str, str]]:
    """A good run, and every kind of broken, partial or foreign entry in the runs folder beside
    it: each entry's name, then the reason it is skipped with."""
    root = runs_root()
    good_run = _good_run()
    good = json.loads(good_run.run_json.read_text())
    good_text = json.dumps(good)

    def folder(name: str | bytes, run_json: str | None = None) -> Path:
        path = Path(os.fsdecode(root / os.fsdecode(name)))
        path.mkdir()
        if run_json is not None:
            (path / "run.json").write_text(run_json)
        return path

    folder("cut", good_text[: len(good_text) // 2])
    folder("notjson", "hello, world")
    folder("alist", "[1, 2, 3]")
    folder("missing", json.dumps({"id": "missing", "task": "digits"}))
    folder("wrongtype", json.dumps({**good, "id": "wrongtype", "created": "x"}))
    folder("wrongcmd", json.dumps({**good, "id": "wrongcmd", "command": "rm -rf /"}))
    folder("foreign", json.dumps({**good, "id": "someoneelse"}))
    folder("empty", "")
    (folder("symlinked") / "run.json").symlink_to(root / good["id"] / "run.json")
    (folder("isadir") / "run.json").mkdir()
    folder("norunjson")
    (root / "stray.txt").write_text("not a run")
    folder(b"bad\xff\x1b[31mname", json.dumps({**good, "id": "bad"}))
    return good_run, {
        "cut": "run.json is cut short or not JSON",
        "notjson": "run.json is cut short or not JSON",
        "alist": "run.json is not a run record: it holds a JSON list, not an object",
        "missing": "run.json is not a run record: it has no 'task_path'",
        "wrongtype": "run.json is not a run record: its 'created' is the string \"x\", not float",
        "wrongcmd": "run.json is not a run record: its 'command' is the string \"rm -rf /\", "
        "not list[str]",
        "foreign": "its run.json is the record of run 'someoneelse'",
        "empty": "run.json is empty",
        "symlinked": "run.json is a symbolic link",
        "isadir": "run.json is a folder",
        "norunjson": "it has no run.json",
        "stray.txt": "it is a file, not a run folder",
        "bad\\xffname": "its name is not UTF-8",
    }


def _mletui(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mletui", *args],
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
        env={**os.environ, "COLUMNS": "200"},  # ids whole in the table
    )


def _assert_skip_lines(stderr: str, expected: dict[str, str]) -> None:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("mletui: skipped ")]
    assert len(lines) == len(expected), stderr
    root = runs_root()
    for name, reason in expected.items():
        said = [line for line in lines if line.startswith(f"mletui: skipped {root}/{name}: ")]
        assert len(said) == 1, (name, stderr)
        assert reason in said[0], (name, said[0])
    assert "\x1b" not in stderr


def test_broken_run_folders_are_skipped_by_name_in_every_command(tmp_path: Path) -> None:
    live = start_run(resolve_task("digits"), agent_cmd="echo started; sleep 120")
    ended = start_run(resolve_task("digits"), agent_cmd="echo hello")
    wait_ended(ended, 60)
    wait_for(lambda: live.read().state == "running", 30, "running")
    good, expected = _broken_folders()

    ls = _mletui("ls")
    assert ls.returncode == 0
    _assert_skip_lines(ls.stderr, expected)
    assert live.id in ls.stdout and ended.id in ls.stdout

    ls_json = _mletui("ls", "--json")
    assert ls_json.returncode == 0
    _assert_skip_lines(ls_json.stderr, expected)
    assert {r["id"] for r in json.loads(ls_json.stdout)} >= {live.id, ended.id}

    show = _mletui("show", ended.id)
    assert show.returncode == 0 and re.search(rf"^id +{ended.id}$", show.stdout, re.M)
    _assert_skip_lines(show.stderr, expected)

    audit = _mletui("audit", ended.id)
    assert f"Run {ended.id}" in audit.stdout
    _assert_skip_lines(audit.stderr, expected)

    grade = _mletui("grade", ended.id)
    assert ended.id in grade.stdout
    _assert_skip_lines(grade.stderr, expected)

    export = _mletui("export", "--all", "--format", "json", "--out", str(tmp_path / "x"))
    assert export.returncode == 0
    _assert_skip_lines(export.stderr, expected)
    exported = json.loads((tmp_path / "x" / "runs.json").read_text())
    assert sorted(r["run_id"] for r in exported) == sorted([live.id, ended.id, good.id])

    # Naming a broken folder exactly says what is wrong with it, in one sentence.
    broken = _mletui("show", "wrongtype")
    assert broken.returncode == 1
    assert broken.stderr.splitlines()[-1] == (
        f"mletui: Run folder {runs_root()}/wrongtype is not usable: run.json is not a run "
        "record: its 'created' is the string \"x\", not float."
    )

    kill = _mletui("kill", "--yes", live.id)
    assert kill.returncode == 0, kill.stderr
    _assert_skip_lines(kill.stderr, expected)
    wait_ended(live, 30)
    assert live.read().state == "killed"


async def test_the_overview_lists_good_runs_and_notices_each_broken_folder() -> None:
    good, expected = _broken_folders()
    app = MletuiApp()
    async with app.run_test(size=SIZE) as pilot:
        from textual.widgets import DataTable

        await until(pilot, lambda: app.screen.query_one(DataTable).row_count >= 1)
        await until(pilot, lambda: len(app._notifications) >= len(expected))
        await pilot.pause(1.5)  # another refresh: each folder is noticed once, not every second
        notices = [n.message for n in app._notifications]
        assert len(notices) == len(expected)
        for name, reason in expected.items():
            said = [n for n in notices if n.startswith(f"skipped {runs_root()}/{name}: ")]
            assert len(said) == 1 and reason in said[0], (name, notices)
        table = app.screen.query_one(DataTable)
        assert good.id in [k.value for k in table.rows]
