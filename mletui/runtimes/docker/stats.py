"""A container's resources from the Docker Engine's stats: CPU, memory, processes, network.

Plain data in, :class:`~mletui.core.events.ResourceSample` out; the docker runtime reads the
Engine's stats stream (about one document a second) and feeds it here, the recorder samples it. No
Docker SDK needed here."""

from __future__ import annotations

import threading
import time
from typing import Any

from mletui.core.events import ResourceSample

STALE_S = 10.0  # an older reading is not shown as the present (the Engine stopped answering)


def sample_from_stats(stats: dict[str, Any], ts: float | None = None) -> ResourceSample:
    """One ``GET /containers/{id}/stats`` document as a sample.

    CPU is the container's share of the host's CPU time since the previous document, in percent
    of one core (as ``docker stats``); memory is usage less the reclaimable page cache (as
    ``docker stats``: ``inactive_file`` on cgroup v2, ``total_inactive_file`` on v1).
    """
    cpu = _cpu_percent(stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {})
    memory = stats.get("memory_stats") or {}
    detail = memory.get("stats") or {}
    cache = detail.get("inactive_file", detail.get("total_inactive_file", detail.get("cache", 0)))
    used = max(0, int(memory.get("usage") or 0) - int(cache or 0))
    networks = stats.get("networks") or {}
    rx = sum(int(n.get("rx_bytes") or 0) for n in networks.values())
    tx = sum(int(n.get("tx_bytes") or 0) for n in networks.values())
    pids = int((stats.get("pids_stats") or {}).get("current") or 0)
    return ResourceSample(
        time.time() if ts is None else ts, cpu, used, pids, "", net_rx_bytes=rx, net_tx_bytes=tx
    )


def _cpu_percent(now: dict[str, Any], before: dict[str, Any]) -> float:
    usage_now = int((now.get("cpu_usage") or {}).get("total_usage") or 0)
    usage_before = int((before.get("cpu_usage") or {}).get("total_usage") or 0)
    system_now = int(now.get("system_cpu_usage") or 0)
    system_before = int(before.get("system_cpu_usage") or 0)
    if not usage_before or system_now <= system_before:
        return 0.0  # the first document has no "before"
    cpus = int(now.get("online_cpus") or 0) or len(
        (now.get("cpu_usage") or {}).get("percpu_usage") or []
    )
    cpus = cpus or 1
    return max(0.0, (usage_now - usage_before) / (system_now - system_before) * cpus * 100.0)


class ContainerStatsSampler:
    """Keeps the latest stats of one container; :meth:`sample` never waits for the Engine."""

    def __init__(self, memory_limit_bytes: int | None = None) -> None:
        self.memory_limit_bytes = memory_limit_bytes
        self._latest: ResourceSample | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def feed(self, stats: dict[str, Any]) -> None:
        sample = sample_from_stats(stats)
        with self._lock:
            self._latest, self._at = sample, time.monotonic()

    def sample(self) -> ResourceSample:
        with self._lock:
            latest, at = self._latest, self._at
        if latest is None or time.monotonic() - at > STALE_S:
            return ResourceSample(
                time.time(), 0.0, 0, 0, "", memory_limit_bytes=self.memory_limit_bytes
            )
        return ResourceSample(
            time.time(),
            latest.cpu_percent,
            latest.rss_bytes,
            latest.processes,
            latest.gpu,
            latest.net_rx_bytes,
            latest.net_tx_bytes,
            self.memory_limit_bytes,
        )
