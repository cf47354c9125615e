"""Resources: CPU and memory of a run's processes, and one plain line about the GPU.

NVML errors become a sentence, never an exception; the full per-run GPU view comes later.
"""

from __future__ import annotations

import os
import time
from typing import Any

import psutil

from mletui.events import ResourceSample


class ProcessGroupSampler:
    """Samples the processes of one process group; keeps psutil objects for CPU deltas."""

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self._last: tuple[float, float] | None = None  # (monotonic time, group CPU seconds)
        self.gpu = GpuLine()

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
        return ResourceSample(time.time(), cpu, rss, count, self.gpu.read())


class GpuLine:
    """One line about the GPU from NVML; says plainly when there is none. Checked once a minute."""

    ttl_s = 60.0

    def __init__(self) -> None:
        self._line = ""
        self._at = 0.0
        self._nvml: Any = None

    def read(self) -> str:
        now = time.monotonic()
        if self._line and now - self._at < self.ttl_s and self._nvml is None:
            return self._line
        self._at = now
        self._line = self._read()
        return self._line

    def _read(self) -> str:
        try:
            import pynvml
        except ImportError:
            return "n/a (nvidia-ml-py is not installed)"
        try:
            if self._nvml is None:
                pynvml.nvmlInit()
                self._nvml = pynvml
            count = pynvml.nvmlDeviceGetCount()
            if count == 0:
                return "no NVIDIA GPU (NVML sees no device)"
            parts = []
            for i in range(count):
                handle = pynvml.nvmlDeviceGetHandleByIndex(i)
                util = pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
                mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
                parts.append(f"GPU{i} {util}% {mem.used / 2**30:.1f}/{mem.total / 2**30:.0f} GiB")
            return " · ".join(parts)
        except pynvml.NVMLError as exc:
            self._nvml = None
            return f"no NVIDIA GPU (NVML: {exc})"
