"""Resources: CPU and memory of a run's processes, and its share of every GPU.

The GPU side samples NVML in a thread (see :mod:`mletui.gpu.nvml`) and maps the pids NVML
reports to the run (see :mod:`mletui.gpu.attribution`). NVML errors become a sentence,
never an exception. The devices are part of each ``resources`` record of the journal, so a
replay shows what a live watcher saw.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import psutil

from mletui.core.events import GpuDevice, GpuProcess, ResourceSample
from mletui.gpu.attribution import (
    REMOTE_PREFIX,
    PidAttributor,
    RunProcesses,
    run_processes,
)
from mletui.gpu.nvml import GpuMonitor, GpuReading, GpuSampler
from mletui.store.runs import RunFolder

RUN_REFRESH_S = 5.0  # run.json is read again this often (a container id appears once started)


class ProcessGroupSampler:
    """Samples the processes of one process group; keeps psutil objects for CPU deltas."""

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self._last: tuple[float, float] | None = None  # (monotonic time, group CPU seconds)

    def sample(self) -> ResourceSample:
        """CPU from the group's cumulative CPU time, so short-lived processes count too."""
        cpu_time = 0.0
        rss = 0
        count = 0
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(proc.pid) != self.pgid:
                    continue
                t = proc.cpu_times()
                # children_*: processes that ended and were reaped by this one.
                cpu_time += t.user + t.system + t.children_user + t.children_system
                rss += proc.memory_info().rss
                count += 1
            except (ProcessLookupError, psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        now = time.monotonic()
        cpu = 0.0
        if self._last is not None and now > self._last[0]:
            cpu = max(0.0, (cpu_time - self._last[1]) / (now - self._last[0]) * 100)
        self._last = (now, cpu_time)
        return ResourceSample(time.time(), cpu, rss, count, "")


class RunGpu:
    """One run's view of the GPUs: every device, with the run's own share of each.

    Runs in the run's supervisor (the recorder), so the numbers are recorded whether or not anyone
    watches. ``nvml`` is injectable (tests replay recorded readings through it).
    """

    def __init__(
        self,
        folder: RunFolder,
        *,
        nvml: Any | None = None,
        interval_s: float | None = None,
        clock: Any = time.monotonic,
        processes: Callable[[], RunProcesses | None] | None = None,
    ) -> None:
        """``processes``: what identifies the run's processes (default: from its run.json)."""
        self.folder = folder
        self._processes = processes or (lambda: run_processes(folder))
        self._clock = clock
        self._attributor = PidAttributor(clock=clock)
        self._run_read_at: float | None = None
        self._remote: str | None = None
        self._refresh_run()
        sampler = GpuSampler(nvml, clock=clock, replay_pids=self._replay_pids)
        self.monitor = GpuMonitor(sampler, interval_s=interval_s, annotate=self._annotate)

    def _replay_pids(self) -> dict[str, int]:
        """A replayed recording's "agent" is this run's agent (demos, end-to-end tests)."""
        try:
            agent = self.folder.read().agent_pid
        except (OSError, ValueError):
            return {}
        return {} if agent is None else {"agent": agent}

    def _refresh_run(self) -> None:
        now = self._clock()
        if self._run_read_at is not None and now - self._run_read_at < RUN_REFRESH_S:
            return
        self._run_read_at = now
        run = self._processes()
        if run is not None:
            self._remote = run.remote
            self._attributor.set_runs([run])

    def _annotate(self, reading: GpuReading) -> GpuReading:
        self._refresh_run()
        return replace(reading, processes=self._attributor.attribute(reading.processes))

    def start(self) -> None:
        if self._remote is None:
            self.monitor.start()

    def stop(self) -> None:
        self.monitor.stop()

    def notices(self) -> list[str]:
        return self.monitor.notices()

    def attach(self, sample: ResourceSample) -> ResourceSample:
        """``sample`` with the GPU line and every device's run share (the latest readings)."""
        if self._remote is not None:
            return replace(sample, gpu=self._remote, gpus=())
        reading = self.monitor.take()
        if reading is None:
            return replace(sample, gpu="GPU: first reading pending", gpus=())
        return replace(sample, gpu=reading.line(), gpus=run_shares(reading, self.folder.id))


def run_shares(reading: GpuReading, run_id: str) -> tuple[GpuDevice, ...]:
    """Each device with ``run_id``'s own utilisation and memory on it."""
    devices = []
    for device in reading.devices:
        mine = [p for p in reading.processes if p.device == device.index and p.run_id == run_id]
        devices.append(replace(device, **share(mine)))
    return tuple(devices)


def share(processes: list[GpuProcess]) -> dict[str, Any]:
    """The summed utilisation and memory of some processes: 0 when there are none, None when a
    process cannot tell."""
    if not processes:
        return {"run_utilization": 0.0, "run_memory": 0}
    utils = [p.utilization for p in processes]
    mems = [p.memory for p in processes]
    return {
        "run_utilization": None if None in utils else min(100.0, sum(u or 0.0 for u in utils)),
        "run_memory": None if None in mems else sum(m or 0 for m in mems),
    }


def run_gpu_text(devices: tuple[GpuDevice, ...], gpu_line: str = "") -> str:
    """A few characters for a table cell: the run's GPU utilisation and memory ("63% 12.1G"),
    "-" when it uses none, "n/a" when there is no GPU to read, "remote" for a run elsewhere."""
    if not devices:
        if gpu_line.startswith(REMOTE_PREFIX):
            return "remote"
        return "n/a" if gpu_line else "-"
    live = [d for d in devices if not d.lost]
    mems = [d.run_memory for d in live]
    utils = [d.run_utilization for d in live]
    if all(m == 0 for m in mems) and all(u in (0, None) for u in utils):
        return "-"
    util = "n/a" if None in utils else f"{sum(u or 0.0 for u in utils):.0f}%"
    mem = "n/a" if None in mems else f"{sum(m or 0 for m in mems) / 2**30:.1f}G"
    return f"{util} {mem}"
