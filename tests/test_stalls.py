"""Stall flags: the detector on its own, then a real run whose supervisor raises and clears them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from mletui.core.events import GpuDevice, StallFlag
from mletui.core.records import decode
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.run.stalls import (
    GPU_IDLE,
    LOG_SILENT,
    StallDetector,
    StallThresholds,
    flag_label,
    minutes,
    run_gpu_use,
    track_stall,
)
from mletui.store.journal import read_journal
from mletui.tui.app import MletuiApp
from mletui.tui.widgets import RunHeader
from mletui.tui.widgets.gpu_view import GpuDevicesView
from mletui.watch.livestate import summarize
from tests.conftest import wait_ended, wait_for
from tests.nvml_recordings import IDLE, one_l4

GiB = 2**30
T = 1_700_000_000.0


def device(util: float | None, run_util: float | None, run_mem: int | None) -> GpuDevice:
    return GpuDevice(
        index=0, name="g", utilization=util, run_utilization=run_util, run_memory=run_mem
    )


def test_run_gpu_use_falls_back_to_the_device_where_processes_cannot_tell() -> None:
    assert run_gpu_use(()) is None
    assert run_gpu_use((GpuDevice(0, "g", lost="GPU is lost"),)) is None
    assert run_gpu_use((device(90, 12.0, 3 * GiB),)) == (12.0, 3 * GiB)
    # Per-process utilisation n/a: the device's, where the run holds memory (an upper bound).
    assert run_gpu_use((device(90, None, GiB),)) == (90.0, GiB)
    assert run_gpu_use((device(90, None, 0),)) == (0.0, 0)  # holds nothing there: not its load
    assert run_gpu_use((device(90, None, None),)) == (90.0, 0)


def test_gpu_idle_counts_active_time_only_and_clears_when_busy() -> None:
    detector = StallDetector(StallThresholds(gpu_idle_s=60, log_silent_s=0))
    idle = (1.0, 2 * GiB)
    assert detector.observe(T, active=True, gpu=idle, log_size=None) == []
    assert detector.observe(T + 40, active=True, gpu=idle, log_size=None) == []
    # Frozen for ten minutes: not a stall.
    assert detector.observe(T + 640, active=False, gpu=idle, log_size=None) == []
    (raised,) = detector.observe(T + 660, active=True, gpu=idle, log_size=None)
    assert raised.flag == GPU_IDLE and raised.active
    assert raised.text == "GPU idle for 1 min while the run is active (it holds 2.0 GiB)"
    assert raised.since == T + 600  # 60 s of active idling before now
    assert detector.observe(T + 700, active=True, gpu=idle, log_size=None) == []  # once
    (cleared,) = detector.observe(T + 710, active=True, gpu=(80.0, 2 * GiB), log_size=None)
    assert not cleared.active and cleared.duration_s == 110.0
    assert cleared.text == "the GPU is busy again"


def test_no_gpu_means_no_gpu_flag() -> None:
    detector = StallDetector(StallThresholds(gpu_idle_s=1, log_silent_s=0))
    for n in range(10):
        assert detector.observe(T + n * 10, active=True, gpu=None, log_size=None) == []


def test_log_silence_is_raised_and_cleared_by_the_next_line() -> None:
    detector = StallDetector(StallThresholds(gpu_idle_s=0, log_silent_s=120))
    assert detector.observe(T, active=True, gpu=None, log_size=100) == []
    assert detector.observe(T + 100, active=True, gpu=None, log_size=100) == []
    (raised,) = detector.observe(T + 130, active=True, gpu=None, log_size=100)
    assert raised.flag == LOG_SILENT and raised.text == "no log line for 2 min"
    (cleared,) = detector.observe(T + 150, active=True, gpu=None, log_size=180)
    assert (cleared.flag, cleared.active) == (LOG_SILENT, False)
    assert detector.raised == {}


def test_finish_clears_every_raised_flag() -> None:
    detector = StallDetector(StallThresholds(gpu_idle_s=1, log_silent_s=1))
    detector.observe(T, active=True, gpu=(0.0, 0), log_size=5)
    started = detector.observe(T + 5, active=True, gpu=(0.0, 0), log_size=5)
    assert {c.flag for c in started} == {GPU_IDLE, LOG_SILENT}
    assert "it has no GPU process" in next(c.text for c in started if c.flag == GPU_IDLE)
    ended = detector.finish(T + 9)
    assert {(c.flag, c.active, c.text) for c in ended} == {
        (GPU_IDLE, False, "the run ended"),
        (LOG_SILENT, False, "the run ended"),
    }


def test_thresholds_are_configurable() -> None:
    assert StallThresholds.from_env({}) == StallThresholds(600, 600, 5)
    env = {
        "MLETUI_STALL_GPU_IDLE_MIN": "2.5",
        "MLETUI_STALL_LOG_SILENT_MIN": "0",
        "MLETUI_STALL_GPU_IDLE_PERCENT": "10",
    }
    assert StallThresholds.from_env(env) == StallThresholds(150, 0, 10)
    assert StallThresholds.from_env({"MLETUI_STALL_GPU_IDLE_MIN": "soon"}).gpu_idle_s == 600
    assert minutes(600) == "10 min" and minutes(30) == "0.5 min"


def stall_from_entry(entry: dict[str, object]) -> StallFlag:
    flag = decode(entry)
    assert isinstance(flag, StallFlag), flag
    return flag


def track_entry(raised: dict[str, StallFlag], entry: dict[str, object]) -> None:
    """What every reader does: decode, and act on a stall record (a damaged entry is none)."""
    record = decode(entry)
    if isinstance(record, StallFlag):
        track_stall(raised, record)


def test_a_flag_round_trips_through_its_journal_entry() -> None:
    flag = stall_from_entry({"ts": T, "kind": "stall", "flag": GPU_IDLE, "state": "start",
                             "text": "GPU idle for 10 min while the run is active",
                             "since": T - 840})  # fmt: skip
    assert flag.active and flag.since == T - 840
    assert flag_label(flag, T) == "GPU idle 14 min"
    no_log = stall_from_entry({"kind": "stall", "flag": LOG_SILENT, "since": T - 30})
    assert flag_label(no_log, T) == "no log 30 s"


def test_stall_entries_raise_and_clear_flags_and_a_malformed_one_changes_nothing() -> None:
    raised: dict[str, StallFlag] = {}
    track_entry(raised, {"ts": T, "kind": "stall", "flag": GPU_IDLE, "state": "start"})
    track_entry(raised, {"ts": T, "kind": "stall", "flag": LOG_SILENT, "state": "start"})
    track_entry(raised, {"kind": "stall", "state": "end"})  # no flag
    track_entry(raised, {"ts": "soon", "kind": "stall", "flag": GPU_IDLE, "state": "end"})
    assert set(raised) == {GPU_IDLE, LOG_SILENT}
    track_entry(raised, {"ts": T + 5, "kind": "stall", "flag": GPU_IDLE, "state": "end"})
    assert set(raised) == {LOG_SILENT}


def idle_gpu_recording(path: Path) -> Path:
    """One GPU on which the run's agent holds 3 GiB and runs nothing."""
    path.write_text(json.dumps(one_l4(IDLE, [("agent", 3 * GiB, None)])))
    return path


def test_a_real_run_records_its_gpu_share_and_its_stall_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supervisor's recorder samples (a replayed NVML naming the run's real agent pid),
    journals the run's share, raises both flags, clears the log flag when a line comes and the
    GPU flag when the run ends."""
    monkeypatch.setenv("MLETUI_NVML_REPLAY", str(idle_gpu_recording(tmp_path / "l4.json")))
    monkeypatch.setenv("MLETUI_GPU_INTERVAL", "0.5")
    monkeypatch.setenv("MLETUI_STALL_GPU_IDLE_MIN", "0.05")  # 3 s
    monkeypatch.setenv("MLETUI_STALL_LOG_SILENT_MIN", "0.05")
    folder = start_run(resolve_task("digits"), agent_cmd="echo hi; sleep 7; echo bye; sleep 3")

    def kinds() -> list[dict[str, object]]:
        return [e for e in read_journal(folder.journal_path).entries if e["kind"] == "stall"]

    wait_for(lambda: len(kinds()) >= 2, 30, "both stall flags")
    summary = summarize(folder)
    assert {f.flag for f in summary.stalls} == {GPU_IDLE, LOG_SILENT}
    assert summary.gpu == "0% 3.0G"
    wait_ended(folder, 30)
    stalls = [(e["flag"], e["state"], e["text"]) for e in kinds()]
    assert set(stalls[:2]) == {
        (GPU_IDLE, "start", "GPU idle for 0.05 min while the run is active (it holds 3.0 GiB)"),
        (LOG_SILENT, "start", "no log line for 0.05 min"),
    }
    assert (LOG_SILENT, "end", "a log line arrived") in stalls
    assert stalls[-1] == (GPU_IDLE, "end", "the run ended")
    resources = [e for e in read_journal(folder.journal_path).entries if e["kind"] == "resources"]
    gpus = [e["gpus"][0] for e in resources if e.get("gpus")]
    assert gpus and all(g["run_mem"] == 3 * GiB and g["name"] == "NVIDIA L4" for g in gpus)
    assert summarize(folder).stalls == ()


async def test_the_watch_screen_shows_the_runs_gpu_share_and_its_stall_badges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLETUI_NVML_REPLAY", str(idle_gpu_recording(tmp_path / "l4.json")))
    monkeypatch.setenv("MLETUI_STALL_GPU_IDLE_MIN", "0.05")
    monkeypatch.setenv("MLETUI_STALL_LOG_SILENT_MIN", "0")  # off
    folder = start_run(resolve_task("digits"), agent_cmd="echo hi; sleep 30")
    app = MletuiApp(run_id=folder.id, operator="pilot")
    async with app.run_test(size=(170, 48)) as pilot:
        header = app.screen.query_one(RunHeader)
        deadline = time.monotonic() + 30
        while not any("GPU idle" in s for s in header.stall_labels()):
            assert time.monotonic() < deadline, "no GPU idle badge"
            await pilot.pause(0.1)
        assert "⚠ GPU idle" in header.render().plain
        assert not any("no log" in s for s in header.stall_labels())
        (view,) = app.screen.query_one(GpuDevicesView).views.values()
        lines = str(view.render()).splitlines()
        assert lines[0].startswith("GPU0 NVIDIA L4") and "  run    0%" in lines[2]
        assert lines[4].startswith("  run 3.0 GiB")
        await pilot.press("q")
