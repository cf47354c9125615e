"""The GPU in the TUI: the resources pane's devices and run share, the stall badges in the
header, the GPU screen (`mletui gpu`) on replayed NVML readings, and the overview's GPU and flags
columns."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Static

from mletui.core.events import GpuDevice, ResourceSample, RunState, StallFlag, StatusUpdate
from mletui.gpu.nvml import ReplayNvml
from mletui.run.stalls import GPU_IDLE, LOG_SILENT
from mletui.store.journal import Journal
from mletui.store.runs import RunFolder, create_run_folder, make_record
from mletui.tui.app import MletuiApp
from mletui.tui.screens.gpu import GpuScreen
from mletui.tui.screens.overview import OverviewScreen
from mletui.tui.widgets import ResourcesPane, RunHeader
from mletui.tui.widgets.gpu_view import GpuDevicesView, spark
from tests.conftest import wait_for

DATA = Path(__file__).parent / "data"
GiB = 2**30
T0 = 1_700_000_000.0


class Host(App[None]):
    def __init__(self, widget: Widget) -> None:
        super().__init__()
        self.widget = widget

    def compose(self) -> ComposeResult:
        yield self.widget


def plain(widget: Static) -> str:
    content = widget.content
    return content.plain if isinstance(content, Text) else str(content)


def rendered(view: Widget) -> str:
    result = view.render()
    assert isinstance(result, Text)
    return result.plain


async def until(pilot: Pilot[None], predicate: object, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out")


def test_spark_has_a_time_axis_and_a_fixed_scale() -> None:
    points = [(T0 - 290, 100.0), (T0 - 150, 50.0), (T0, 0.0), (T0 - 5000, 100.0)]
    line = spark(points, now=T0, width=30, top=100.0)
    assert len(line) == 30
    assert line[0] == "█" and line[14] == "▅" and line[-1] == "▁"  # oldest left, newest right
    assert line[1:14].strip() == "" and line[15:29].strip() == ""  # no reading: blank
    assert spark([(T0, None)], now=T0, width=5, top=100.0) == "     "


def gpu(index: int, util: float, used: int, run_util: float, run_mem: int) -> GpuDevice:
    return GpuDevice(
        index=index,
        name="NVIDIA H100 80GB HBM3",
        utilization=util,
        memory_used=used,
        memory_total=80 * GiB,
        power_w=512.0,
        power_limit_w=700.0,
        temperature_c=58.0,
        sm_clock_mhz=1980,
        memory_clock_mhz=None,
        run_utilization=run_util,
        run_memory=run_mem,
    )


async def test_resources_pane_shows_each_gpu_with_the_runs_share() -> None:
    pane = ResourcesPane()
    async with Host(pane).run_test(size=(100, 20)) as pilot:
        for n in range(20):
            device = gpu(0, 80.0 + n, 20 * GiB, 60.0, 12 * GiB)
            pane.update_sample(ResourceSample(T0 + 2 * n, 90.0, GiB, 3, "GPU0 ...", gpus=(device,)))
        await pilot.pause()
        assert not pane.query_one("#resources-gpu").display  # the devices say it all
        (view,) = pane.query_one(GpuDevicesView).views.values()
        text = rendered(view).splitlines()
        assert text[0].startswith("GPU0 NVIDIA H100 80GB HBM3 · 58 °C · 512/700 W")
        assert text[0].rstrip().endswith("mem n/a")  # what the device cannot tell: "n/a" alone
        assert text[1].startswith(" util   99%") and text[2].startswith("  run   60%")
        assert text[3].startswith(" mem 20.0/80.0 GiB") and text[4].startswith("  run 12.0 GiB")
        assert text[1].rstrip().endswith("█") and text[2].rstrip().endswith("▅")
        assert view.size.height == 5

        pane.update_sample(ResourceSample(T0 + 60, 5.0, GiB, 1, "no NVIDIA GPU (no driver)"))
        await pilot.pause()
        assert pane.query_one("#resources-gpu").display
        assert "no NVIDIA GPU (no driver)" in plain(pane.query_one("#resources-gpu", Static))
        assert pane.query_one(GpuDevicesView).views == {}


async def test_many_gpus_fold_the_ones_the_run_does_not_use() -> None:
    view = GpuDevicesView(show_run=True)
    async with Host(view).run_test(size=(100, 30)) as pilot:
        devices = [gpu(0, 90, 30 * GiB, 85, 29 * GiB)] + [
            gpu(i, 0, GiB // 2, 0, 0) for i in range(1, 4)
        ]
        view.update_devices(T0, devices)
        lost = GpuDevice(index=3, name="NVIDIA H100 80GB HBM3", lost="GPU is lost")
        view.update_devices(T0 + 2, [*devices[:3], lost])
        await pilot.pause()
        views = view.views
        assert views[0].size.height == 5 and not views[0].compact
        assert views[1].compact and views[1].size.height == 1
        assert rendered(views[1]).endswith("0% · 0.5/80.0 GiB · not used by this run")
        assert rendered(views[3]) == "GPU3 NVIDIA H100 80GB HBM3  stopped answering: GPU is lost"


def status(state: RunState) -> StatusUpdate:
    return StatusUpdate(state, 100.0, 90.0, None, None, None, False, None)


async def test_the_header_shows_raised_stall_flags_until_they_clear() -> None:
    header = RunHeader()
    async with Host(header).run_test(size=(180, 3)) as pilot:
        header.set_run("3f2a9c", "digits", "baseline", "local")
        header.update_status(status(RunState.RUNNING))
        now = time.time()
        header.update_stall(StallFlag(now, GPU_IDLE, True, "GPU idle for 10 min", now - 840))
        header.update_stall(StallFlag(now, LOG_SILENT, True, "no log line for 10 min", now - 600))
        await pilot.pause()
        text = header.render().plain
        assert "⚠ GPU idle 14 min" in text and "⚠ no log 10 min" in text
        header.update_stall(StallFlag(now, GPU_IDLE, False, "the GPU is busy again", now - 840))
        await pilot.pause()
        text = header.render().plain
        assert "GPU idle" not in text and "no log 10 min" in text
        header.update_status(status(RunState.EXITED))
        assert "no log" not in header.render().plain


@pytest.fixture
def local_run() -> Iterator[tuple[RunFolder, int]]:
    """A run folder whose agent is a real process (its own process group), no supervisor."""
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    record = make_record("digits", "/tasks/digits", "cmd", ["sleep", "300"], "local", None)
    folder = create_run_folder(record)
    with folder.updating() as rec:
        rec.state = "running"
        rec.agent_pid = proc.pid
        rec.started = time.time()
    yield folder, proc.pid
    proc.kill()
    proc.wait()


class GpuHost(App[None]):
    def __init__(self, screen: GpuScreen) -> None:
        super().__init__()
        self.gpu_screen = screen

    def on_mount(self) -> None:
        self.push_screen(self.gpu_screen)


async def test_gpu_screen_shows_all_gpus_and_which_run_each_process_belongs_to(
    local_run: tuple[RunFolder, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mletui.tui.screens.gpu.RUNS_EVERY_S", 0.1)
    folder, pid = local_run
    Journal(folder.journal_path).append(
        "stall", {"flag": GPU_IDLE, "state": "start", "text": "x", "since": time.time() - 120}
    )
    Journal(folder.journal_path).append("resources", {"cpu": 150.0, "rss": 2 * GiB, "procs": 2})
    # Not a run's process, and it names itself with markup and an escape sequence.
    evil = (
        "import ctypes, time; ctypes.CDLL(None).prctl(15, b'[b]x\\x1b[2J', 0, 0, 0);"
        " time.sleep(300)"
    )
    stranger = subprocess.Popen([sys.executable, "-c", evil])
    try:
        wait_for(lambda: "[b]x" in Path(f"/proc/{stranger.pid}/comm").read_text(), 10, "comm")
        nvml = ReplayNvml.from_file(
            DATA / "nvml_h100x2.json", pids={"agent": pid, "other": stranger.pid}
        )
        nvml.frames = nvml.frames[:3]  # it stays on the third: the run's agent trains on GPU0
        screen = GpuScreen(nvml=nvml, interval_s=0.05)
        app = GpuHost(screen)
        async with app.run_test(size=(160, 50)) as pilot:
            runs = screen.query_one("#gpu-runs", DataTable)
            await until(pilot, lambda: runs.row_count == 1 and runs.get_row_at(0)[3] == "90%")
            row = runs.get_row_at(0)
            assert row[0] == folder.id and row[4] == "8.0 GiB"
            assert row[5] == "150%" and row[6] == "2 GiB"
            assert "GPU idle 2 min" in str(row[7])
            processes = screen.query_one("#gpu-processes", DataTable)
            assert processes.row_count == 2  # the loader's pid is not a real one: not listed
            rows = {processes.get_row_at(i)[1]: processes.get_row_at(i) for i in range(2)}
            assert rows[str(pid)][0] == "GPU0" and rows[str(pid)][3] == folder.id
            assert str(rows[str(pid)][2]) == "sleep" and rows[str(pid)][4] == "8.0 GiB"
            assert rows[str(pid)][5] == "90%"
            assert rows[str(stranger.pid)][0] == "GPU1" and rows[str(stranger.pid)][3] == "—"
            name = rows[str(stranger.pid)][2]
            assert isinstance(name, Text) and name.plain.startswith("[b]x")  # shown, not parsed
            assert "\x1b" not in name.plain
            devices = screen.query_one(GpuDevicesView).views
            assert len(devices) == 2 and not screen.query_one("#gpu-problem").display
            # No run rows under a device: every run is in the runs table.
            await until(pilot, lambda: devices[0].size.height == 3)
            assert rendered(devices[0]).splitlines()[1].startswith(" util   93%")
    finally:
        stranger.kill()
        stranger.wait()


async def test_gpu_screen_without_a_driver_is_one_plain_line() -> None:
    nvml = ReplayNvml.from_file(DATA / "nvml_no_driver.json")
    screen = GpuScreen(nvml=nvml, interval_s=0.05)
    async with GpuHost(screen).run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: screen.last_reading is not None)
        await pilot.pause(0.3)
        problem = screen.query_one("#gpu-problem", Static)
        assert plain(problem) == (
            "no NVIDIA GPU (no NVIDIA driver: NVML's library is not on this machine)"
        )
        assert screen.query_one(GpuDevicesView).views == {}
        assert nvml.reads["init"] == 1, "not retried at every sample"


async def test_mletui_gpu_opens_the_gpu_screen_alone_and_q_quits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLETUI_NVML_REPLAY", str(DATA / "nvml_a100_mig.json"))
    app = MletuiApp(gpu_interval_s=0.1)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, GpuScreen))
        screen = app.screen
        assert isinstance(screen, GpuScreen)
        await until(pilot, lambda: screen.query_one(GpuDevicesView).views != {})
        (view,) = screen.query_one(GpuDevicesView).views.values()
        assert " util   n/a " in rendered(view)  # MIG: the device cannot tell, "n/a" alone
        assert "n/a%" not in rendered(view) and "/n/a" not in rendered(view)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_overview_has_a_gpu_column_and_the_stall_flags(
    local_run: tuple[RunFolder, int],
) -> None:
    folder, _ = local_run
    journal = Journal(folder.journal_path)
    device = {"i": 0, "name": "L4", "util": 97.0, "run_util": 63.0, "run_mem": 12 * GiB}
    journal.append("resources", {"cpu": 1.0, "rss": 1, "procs": 1, "gpu": "", "gpus": [device]})
    since = time.time() - 720
    journal.append("stall", {"flag": LOG_SILENT, "state": "start", "text": "x", "since": since})
    app = MletuiApp()
    async with app.run_test(size=(180, 20)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen))
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 1)
        assert str(table.get_cell(folder.id, "gpu")) == "63% 12.0G"  # every cell is inert Text
        # its supervisor is gone
        assert str(table.get_cell(folder.id, "flags")) == "no log 12 min · lost"
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, GpuScreen))
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen))
