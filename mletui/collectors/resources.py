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
        self._procs: dict[int, psutil.Process] = {}
        self.gpu = GpuLine()

    def sample(self) -> ResourceSample:
        cpu = 0.0
        rss = 0
        alive: dict[int, psutil.Process] = {}
        for proc in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(proc.pid) != self.pgid:
                    continue
                known = self._procs.get(proc.pid, proc)
                if known is proc:
                    known.cpu_percent(None)  # first call primes the delta
                else:
                    cpu += known.cpu_percent(None)
                rss += known.memory_info().rss
                alive[proc.pid] = known
            except (ProcessLookupError, psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        self._procs = alive
        return ResourceSample(time.time(), cpu, rss, len(alive), self.gpu.read())


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
            return "GPU: n/a (nvidia-ml-py is not installed)"
        try:
            if self._nvml is None:
                pynvml.nvmlInit()
                self._nvml = pynvml
            count = pynvml.nvmlDeviceGetCount()
            if count == 0:
                return "GPU: none (NVML sees no NVIDIA device)"
            parts = []
            for i in range(count):
                handle = pynvml.nvmlDeviceGetHandleByIndex(i)
                util = pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
                mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
                parts.append(f"GPU{i} {util}% {mem.used / 2**30:.1f}/{mem.total / 2**30:.0f} GiB")
            return " · ".join(parts)
        except pynvml.NVMLError as exc:
            self._nvml = None
            return f"GPU: no NVIDIA GPU here (NVML: {exc})"
