"""Small things mletui says: a blank --agent-cmd, a file that is not a pack, the tasks table,
counts and sizes in words, and GPU readings a device cannot give."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from textual.widgets import Static

from mletui.agents._common import steps_text
from mletui.cli import main
from mletui.core.clock import wall_clock
from mletui.core.events import FileChange, ResourceSample, Snapshot
from mletui.core.words import counted, file_size, noun_for
from mletui.gpu.nvml import memory_text
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store.runs import runs_root
from mletui.tui.app import MletuiApp
from mletui.tui.format import percent, used_of
from mletui.tui.widgets import CodePane, ResourcesPane
from mletui.tui.widgets.gpu_view import GpuDevicesView
from tests.conftest import wait_ended
from tests.test_gpu_tui import T0, GiB, Host, gpu, plain, rendered, until
from tests.test_widgets import Host as WidgetHost
from tests.test_widgets import diff_text, fake_diffs, settle, snapshot


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    [line] = captured.err.splitlines()
    assert captured.out == "" and line.startswith("mletui: ") and line.endswith(".")
    return line


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_a_blank_agent_cmd_is_a_sentence_not_the_baseline_agent(
    blank: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "digits", "--agent-cmd", blank, "--detach"]) == 1
    assert one_line(capsys).startswith("mletui: --agent-cmd is blank")
    assert not runs_root().exists() or not any(runs_root().iterdir())


def test_counts_and_sizes_in_words() -> None:
    assert [counted(n, "step") for n in (0, 1, 2)] == ["0 steps", "1 step", "2 steps"]
    assert counted(1, "entry", "entries") == "1 entry"
    assert counted(5, "entry", "entries") == "5 entries"
    assert [steps_text(n) for n in (1, 2)] == ["1 step", "2 steps"]  # the agents' own
    assert [file_size(n) for n in (1, 999, 1000, 840_400, 999_499, 12_345_678)] == [
        "1 byte",
        "999 bytes",
        "1 KB",
        "840 KB",
        "999 KB",
        "12.3 MB",
    ]


def test_a_small_pack_is_said_in_kb(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = start_run(resolve_task("digits"), agent_cmd="echo done")
    wait_ended(folder)
    assert main(["pack", folder.id, "--out", str(tmp_path / "run.tar.gz")]) == 0
    assert re.search(r"\(\d+ KB\)", capsys.readouterr().out)


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda d: d / "notes.txt", "is not a pack that mletui can read"),
        (lambda d: d, "is a folder, not a pack"),
        (lambda d: d / "missing.tar.gz", "is no file"),
    ],
)
def test_replay_of_what_is_not_a_pack_is_one_sentence(
    make: object, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("not a pack\n")
    assert callable(make)
    assert main(["replay", str(make(tmp_path))]) == 1
    assert said in one_line(capsys)


def test_the_tasks_table_lines_up(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["TASK", "METRIC", "BETTER", "NAME"]
    for column in ("METRIC", "BETTER", "NAME"):
        start = lines[0].index(column)
        for line in lines[1:]:
            assert line[start - 2 : start] == "  " and line[start] != " ", (column, line)


async def test_gpu_readings_the_device_cannot_give_are_n_a_alone() -> None:
    assert percent(None) == "n/a" and percent(91.4) == "91%"
    assert used_of(91, None, "W") == "91 W" and used_of(91, 300, "W") == "91/300 W"
    assert used_of(None, 300, "W") == "n/a"
    assert memory_text(None, 80 * GiB) == "n/a" and memory_text(6 * GiB, None) == "6.0 GiB"
    pane = ResourcesPane()
    async with Host(pane).run_test(size=(100, 20)) as pilot:
        device = dataclasses.replace(
            gpu(0, 80.0, 20 * GiB, 60.0, 12 * GiB), power_limit_w=None, utilization=None
        )
        pane.update_sample(ResourceSample(T0, 90.0, GiB, 3, "GPU0 ...", gpus=(device,)))
        await pilot.pause()
        (view,) = pane.query_one(GpuDevicesView).views.values()
        text = rendered(view)
        assert " · 512 W · " in text and " util   n/a " in text
        assert "n/a%" not in text and "/n/a" not in text


async def test_resources_of_an_ended_run_are_its_last_reading_with_its_time() -> None:
    pane = ResourcesPane()
    async with Host(pane).run_test(size=(100, 20)) as pilot:
        pane.update_sample(ResourceSample(T0, 90.0, GiB, 3, "no NVIDIA GPU"))
        await pilot.pause()
        ended = pane.query_one("#resources-ended", Static)
        assert not ended.display
        pane.set_run_ended(True)
        await pilot.pause()
        assert ended.display
        assert plain(ended) == f"last reading {wall_clock(T0)}, run ended"
        pane.update_sample(ResourceSample(T0 + 2, 0.0, GiB, 0, "no NVIDIA GPU"))
        await pilot.pause()
        assert plain(ended) == f"last reading {wall_clock(T0 + 2)}, run ended"


async def test_the_watch_screen_says_an_ended_runs_resources_are_its_last() -> None:
    folder = start_run(resolve_task("digits"), agent_cmd="sleep 4")
    wait_ended(folder)
    app = MletuiApp(run_id=folder.id)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: plain(app.screen.query_one("#resources-ended", Static)) != "")
        said = plain(app.screen.query_one("#resources-ended", Static))
        assert said.endswith(", run ended") and said.startswith(("last reading ", "no reading"))


def test_noun_for_a_count() -> None:
    assert [noun_for(n, "column") for n in (1, 2)] == ["column", "columns"]
    assert [noun_for(n, "differs", "differ") for n in (1, 3)] == ["differs", "differ"]


async def test_the_code_pane_counts_files_in_words() -> None:
    def pair_diffs(old: Snapshot, new: Snapshot) -> list[tuple[str, str, str]]:
        return [(c.path, c.status, "") for c in new.changes] * (new.seq - old.seq)

    pane = CodePane(fake_diffs, pair_diff=pair_diffs)
    app = WidgetHost(pane)
    two = (FileChange("a.py", "added", None, "a"), FileChange("b.py", "added", None, "b"))
    async with app.run_test(size=(100, 30)) as pilot:
        pane.add_snapshot(snapshot(1))
        pane.add_snapshot(snapshot(2, *two))
        pane.add_snapshot(snapshot(3))
        pane.select_seq(1)
        await settle(app, pilot)
        assert "· 1 file changed" in diff_text(pane)
        pane.select_seq(2)
        await settle(app, pilot)
        assert "· 2 files changed" in diff_text(pane)
        pane.action_mark()  # #2 marked: the others are diffed against it
        pane.select_seq(3)
        await settle(app, pilot)
        assert "(marked: #2) · 1 file differs" in diff_text(pane)
        pane.select_seq(1)
        await settle(app, pilot)
        assert "(marked: #2) · 2 files differ" in diff_text(pane)
