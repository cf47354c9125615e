"""The GPU sampler on recorded NVML readings, fed through the same calls as the real pynvml.

The recordings (tests/data/nvml_*.json) hold what pynvml answers, call by call, and the errors it
raises (its own NVMLError subclasses): unsupported readings, a device that falls off the bus, the
driver going away mid-run, no driver at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pynvml
import pytest

from mletui.core.events import GpuDevice, GpuProcess
from mletui.gpu.nvml import (
    RETRY_S,
    STATIC_TTL_S,
    GpuMonitor,
    GpuReading,
    GpuSampler,
    RecordingNvml,
    ReplayNvml,
    interval_from_env,
    merge_readings,
)

DATA = Path(__file__).parent / "data"
GiB = 2**30
MiB = 2**20
PIDS = {"agent": 4101, "loader": 4102, "other": 4999}


class Clock:
    """A monotonic clock the test moves by hand (TTL caches, retries)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def replay(name: str, **kwargs: Any) -> ReplayNvml:
    return ReplayNvml.from_file(DATA / f"nvml_{name}.json", pids=PIDS, **kwargs)


def test_replay_raises_pynvmls_own_errors() -> None:
    nvml = replay("h100x2")
    nvml.nvmlInit()
    nvml.nvmlDeviceGetCount()
    handle = nvml.nvmlDeviceGetHandleByIndex(0)
    assert nvml.nvmlDeviceGetName(handle) == "NVIDIA H100 80GB HBM3"
    with pytest.raises(pynvml.NVMLError_NotFound):  # no process ran a kernel yet
        nvml.nvmlDeviceGetProcessUtilization(handle, 0)
    mig = replay("a100_mig")
    mig.nvmlInit()
    mig.nvmlDeviceGetCount()
    handle = mig.nvmlDeviceGetHandleByIndex(0)
    with pytest.raises(pynvml.NVMLError_NotSupported):
        mig.nvmlDeviceGetUtilizationRates(handle)
    with pytest.raises(pynvml.NVMLLibraryMismatchError):
        mig.nvmlDeviceGetComputeRunningProcesses(handle)


def test_devices_processes_and_per_process_utilisation() -> None:
    sampler = GpuSampler(replay("h100x2"), clock=Clock())
    idle = sampler.sample()
    assert idle.problem is None and idle.driver == "550.90.07"
    assert [d.name for d in idle.devices] == ["NVIDIA H100 80GB HBM3"] * 2
    first = idle.devices[0]
    assert first.utilization == 0.0 and first.memory_total == 85520809984
    assert first.power_w == 69.0 and first.power_limit_w == 700.0
    assert first.temperature_c == 33.0 and first.sm_clock_mhz == 345
    assert first.memory_clock_mhz == 2619 and first.lost is None
    assert idle.processes == ()

    busy = sampler.sample()
    assert [d.utilization for d in busy.devices] == [87.0, 31.0]
    assert busy.devices[0].memory_used == 8737 * MiB
    assert busy.processes == (
        GpuProcess(device=0, pid=4101, memory=8 * GiB, utilization=85.0),
        GpuProcess(device=1, pid=4999, memory=2 * GiB, utilization=30.0),
    )
    two = sampler.sample()
    assert {(p.pid, p.utilization) for p in two.processes if p.device == 0} == {
        (4101, 90.0),
        (4102, 3.0),
    }
    # Holding memory, running nothing: NVML has no newer sample (NotFound), which means 0 %.
    holding = sampler.sample()
    assert [(p.pid, p.utilization) for p in holding.processes if p.device == 0] == [
        (4101, 0.0),
        (4102, 0.0),
    ]
    assert "GPU0 0% 9.5/80 GiB" in holding.line()


def test_unsupported_readings_are_none_and_older_drivers_fall_back() -> None:
    nvml = replay("a100_mig")
    sampler = GpuSampler(nvml, clock=Clock())
    reading = sampler.sample()
    (device,) = reading.devices
    assert device.name == "NVIDIA A100-SXM4-40GB" and device.memory_used == 6 * GiB
    assert device.utilization is None and device.power_limit_w is None
    assert device.memory_clock_mhz is None and device.power_w == 91.0
    # No _v3 process call in this driver: the sampler falls back to _v2; MIG hides memory.
    assert reading.processes == (GpuProcess(device=0, pid=4101, memory=None, utilization=None),)
    assert reading.line() == "GPU0 n/a 6.0/40 GiB"
    asked = dict(nvml.reads)
    sampler.sample()
    # What the device does not support is not asked for again at every sample.
    assert nvml.reads["utilization"] == asked["utilization"]
    assert nvml.reads["process_utilization"] == asked.get("process_utilization", 0)
    assert nvml.reads["compute_processes"] == asked["compute_processes"]
    assert nvml.reads["compute_processes_v2"] == asked["compute_processes_v2"] + 1


def test_slow_readings_are_cached() -> None:
    clock = Clock()
    nvml = replay("h100x2")
    sampler = GpuSampler(nvml, clock=clock)
    for _ in range(4):
        sampler.sample()
        clock.now += 1
    assert nvml.reads["name"] == 2  # once per device
    assert nvml.reads["enforced_power_limit"] == 2
    assert nvml.reads["memory"] == 8  # every sample
    clock.now += STATIC_TTL_S
    sampler.sample()
    assert nvml.reads["name"] == 4  # both asked again (GPU1 answers that it is lost)


def test_a_device_that_falls_off_the_bus_is_marked_lost_and_tried_again_later() -> None:
    clock = Clock()
    nvml = replay("h100x2")
    sampler = GpuSampler(nvml, clock=clock)
    for _ in range(5):
        reading = sampler.sample()
    gpu0, gpu1 = reading.devices
    assert gpu0.lost is None and gpu0.memory_used == 9761 * MiB
    assert gpu1.lost == "GPU is lost" and gpu1.name == "NVIDIA H100 80GB HBM3"
    assert gpu1.memory_used is None and all(p.device == 0 for p in reading.processes)
    asked = nvml.reads["memory"]
    sampler.sample()
    assert nvml.reads["memory"] == asked + 1, "the lost device is not asked again at once"
    clock.now += RETRY_S
    assert sampler.sample().devices[1].lost == "GPU is lost"
    assert nvml.reads["memory"] == asked + 2


def test_nvml_failing_mid_run_is_one_line_then_retried_once_a_minute() -> None:
    clock = Clock()
    nvml = replay("driver_fails")
    monitor = GpuMonitor(GpuSampler(nvml, clock=clock), interval_s=1.0)
    assert monitor.sample_once().devices[0].utilization == 60.0
    failed = monitor.sample_once()
    assert failed.devices == () and failed.problem is not None
    assert failed.problem.startswith("GPU readings stopped: NVML says Driver Not Loaded")
    for _ in range(30):  # one sample a second for half a minute: no new attempt, no new notice
        clock.now += 1
        assert monitor.sample_once().problem == failed.problem
    assert nvml.reads["init"] == 1
    assert monitor.notices() == [failed.problem]
    clock.now += RETRY_S
    assert monitor.sample_once().problem is not None  # the next frame fails too (Unknown)
    clock.now += RETRY_S
    back = monitor.sample_once()
    assert back.problem is None and back.devices[0].memory_used == 4 * GiB
    assert monitor.notices() == ["GPU readings are back"]
    assert nvml.reads["init"] == 3


def test_no_driver_is_one_plain_line_and_is_not_retried_at_every_sample() -> None:
    clock = Clock()
    nvml = replay("no_driver")
    monitor = GpuMonitor(GpuSampler(nvml, clock=clock), interval_s=1.0)
    for _ in range(10):
        reading = monitor.sample_once()
        clock.now += 1
    assert reading.problem == (
        "no NVIDIA GPU (no NVIDIA driver: NVML's library is not on this machine)"
    )
    assert reading.line() == reading.problem
    assert nvml.reads["init"] == 1
    assert monitor.notices() == [], "no GPU from the start is the pane's line, not a notice"


def test_the_real_pynvml_on_this_machine_never_raises() -> None:
    """Whatever this machine has (here: most likely no driver), sampling gives a reading."""
    sampler = GpuSampler(pynvml)
    reading = sampler.sample()
    assert isinstance(reading, GpuReading)
    assert reading.problem or reading.devices
    sampler.close()


def test_a_bug_in_a_reading_becomes_a_line_not_an_exception() -> None:
    class Broken(ReplayNvml):
        def nvmlDeviceGetMemoryInfo(self, handle: Any) -> Any:
            raise RuntimeError("boom")

    sampler = GpuSampler(Broken(json.loads((DATA / "nvml_h100x2.json").read_text())))
    reading = sampler.sample()
    assert reading.problem == "GPU readings stopped: RuntimeError: boom"


def test_device_lost_notices_once() -> None:
    monitor = GpuMonitor(GpuSampler(replay("h100x2"), clock=Clock()), interval_s=1.0)
    for _ in range(7):
        monitor.sample_once()
    assert monitor.notices() == ["GPU1 stopped answering (GPU is lost)"]


def test_merge_averages_utilisation_and_keeps_the_latest_memory() -> None:
    def reading(util: float, used: int, putil: float | None) -> GpuReading:
        device = GpuDevice(index=0, name="g", utilization=util, memory_used=used)
        return GpuReading(0.0, (device,), (GpuProcess(0, 7, used, putil),))

    merged = merge_readings([reading(80, 1, 70.0), reading(20, 2, 30.0), reading(50, 3, None)])
    assert merged is not None
    assert merged.devices[0].utilization == 50.0 and merged.devices[0].memory_used == 3
    assert merged.processes[0].utilization is None  # the latest cannot tell: nor can the merge
    assert merge_readings([]) is None


def test_interval_is_configurable() -> None:
    assert interval_from_env({}) == 1.0
    assert interval_from_env({"MLETUI_GPU_INTERVAL": "0.5"}) == 0.5
    assert interval_from_env({"MLETUI_GPU_INTERVAL": "0"}) == 0.1
    assert interval_from_env({"MLETUI_GPU_INTERVAL": "soon"}) == 1.0


def test_a_recording_of_the_replay_replays_the_same(tmp_path: Path) -> None:
    """RecordingNvml (what `scripts/gpu-check --record` uses on a real GPU) writes the format
    ReplayNvml reads: recording a replay gives the same readings back."""

    class Indexed(ReplayNvml):
        def nvmlDeviceGetIndex(self, handle: Any) -> int:
            return int(handle.index)

    source = json.loads((DATA / "nvml_h100x2.json").read_text())
    recorder = RecordingNvml(Indexed(source, pids=PIDS))
    first = GpuSampler(recorder, clock=Clock())
    originals = [first.sample() for _ in range(3)]
    # The replay asks again for what the first sampler had cached (name, power limit,
    # temperature): a frame carries what the device said last.
    clock = Clock()
    again = GpuSampler(ReplayNvml(recorder.recording), clock=clock)
    replays = []
    for _ in range(3):
        replays.append(again.sample())
        clock.now += STATIC_TTL_S
    assert [r.devices for r in replays] == [r.devices for r in originals]
    assert [r.processes for r in replays] == [r.processes for r in originals]
