"""NVML recordings for ``ReplayNvml``, written in the tests: one NVIDIA L4, busy or idle, running
processes named for the replayer (which maps each name to a real pid)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

GiB = 2**30


@dataclass(frozen=True)
class L4Load:
    """The device's own readings."""

    used: int  # bytes of its 24 GiB in use
    utilization: int  # percent
    memory_utilization: int  # percent
    power_mw: int
    temperature: int
    clock_sm: int
    clock_mem: int


BUSY = L4Load(20 * GiB, 97, 40, 70000, 60, 2040, 6251)
IDLE = L4Load(3 * GiB, 0, 0, 16000, 41, 210, 405)


def one_l4(load: L4Load, processes: Sequence[tuple[str, int, int | None]]) -> dict[str, Any]:
    """A one-frame recording of one L4. Each process is (name, memory, SM utilisation), the
    utilisation None where NVML has no sample of it."""
    total = 24 * GiB
    return {
        "driver": "550.90.07",
        "frames": [
            {
                "count": 1,
                "devices": [
                    {
                        "name": "NVIDIA L4",
                        "uuid": "GPU-0",
                        "memory": {"total": total, "used": load.used, "free": total - load.used},
                        "utilization": {"gpu": load.utilization, "memory": load.memory_utilization},
                        "power_usage": load.power_mw,
                        "enforced_power_limit": 72000,
                        "temperature": load.temperature,
                        "clock_sm": load.clock_sm,
                        "clock_mem": load.clock_mem,
                        "compute_processes": [
                            {"pid": name, "usedGpuMemory": mem} for name, mem, _ in processes
                        ],
                        "graphics_processes": [],
                        "process_utilization": [
                            {"pid": name, "timeStamp": 10 + i, "smUtil": util}
                            for i, (name, _, util) in enumerate(processes)
                            if util is not None
                        ],
                    }
                ],
            }
        ],
    }
