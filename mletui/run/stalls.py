"""Stall flags: "GPU idle for N min while the run is active", "no log line for N min".

Detected in the recorder (inside the run's supervisor), so a flag is recorded whether or not anyone
watches; each flag is a ``stall`` journal entry when it is raised and another when it clears.
Minutes count active time only: a soft-paused or frozen run is not stalled, it is paused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mletui.core import settings
from mletui.core.events import GpuDevice, ResourceSample, StallFlag

GPU_IDLE = "gpu-idle"
LOG_SILENT = "log-silent"

GPU_IDLE_MIN_ENV = settings.STALL_GPU_IDLE_MIN
LOG_SILENT_MIN_ENV = settings.STALL_LOG_SILENT_MIN
IDLE_PERCENT_ENV = settings.STALL_GPU_IDLE_PERCENT


@dataclass(frozen=True)
class StallThresholds:
    """When a flag is raised; a threshold of 0 switches that flag off."""

    gpu_idle_s: float = 600.0
    log_silent_s: float = 600.0
    gpu_idle_percent: float = 5.0  # below this utilisation the run's GPU use counts as idle

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StallThresholds:
        """``MLETUI_STALL_GPU_IDLE_MIN``, ``MLETUI_STALL_LOG_SILENT_MIN`` (minutes) and
        ``MLETUI_STALL_GPU_IDLE_PERCENT``; a value that is not a number keeps the default."""
        default = cls()

        def number(name: str, fallback: float, scale: float = 1.0) -> float:
            value = settings.number(name, -1.0, env)
            return value * scale if value >= 0 else fallback

        return cls(
            gpu_idle_s=number(GPU_IDLE_MIN_ENV, default.gpu_idle_s, 60.0),
            log_silent_s=number(LOG_SILENT_MIN_ENV, default.log_silent_s, 60.0),
            gpu_idle_percent=number(IDLE_PERCENT_ENV, default.gpu_idle_percent),
        )


def minutes(seconds: float) -> str:
    """``600`` -> ``"10 min"``, ``30`` -> ``"0.5 min"``."""
    value = seconds / 60
    return f"{value:.0f} min" if value >= 1 and value == int(value) else f"{value:.2g} min"


def run_gpu_use(devices: tuple[GpuDevice, ...]) -> tuple[float, int] | None:
    """The run's GPU utilisation (percent, summed over devices) and memory (bytes), or None when
    there is no GPU to read. Where a device cannot tell per-process utilisation, a device the run
    holds memory on counts with the device's own utilisation (an upper bound: idle is idle)."""
    live = [d for d in devices if not d.lost]
    if not live:
        return None
    util = 0.0
    memory = 0
    for d in live:
        held = d.run_memory is None or d.run_memory > 0
        memory += d.run_memory or 0
        if d.run_utilization is not None:
            util += d.run_utilization
        elif held and d.utilization is not None:
            util += d.utilization
    return util, memory


class StallDetector:
    """Fed an observation every few seconds, says which flags were raised or cleared."""

    def __init__(self, thresholds: StallThresholds | None = None) -> None:
        self.thresholds = thresholds or StallThresholds()
        self._last_at: float | None = None
        self._gpu_idle_s = 0.0
        self._silent_s = 0.0
        self._log_size: int | None = None
        self._raised: dict[str, float] = {}  # flag -> when its condition began (wall clock)

    @property
    def raised(self) -> dict[str, float]:
        return dict(self._raised)

    def observe(
        self,
        now: float,
        *,
        active: bool,
        gpu: tuple[float, int] | None,
        log_size: int | None,
    ) -> list[StallFlag]:
        """One observation at wall-clock ``now``: is the run active (running, not paused or
        frozen), its GPU use (see :func:`run_gpu_use`; None: no GPU), the size of its log spool.
        Returns the ``stall`` record of each flag raised or cleared."""
        dt = 0.0 if self._last_at is None else max(0.0, now - self._last_at)
        self._last_at = now
        changes: list[StallFlag] = []
        t = self.thresholds

        if log_size is not None and log_size != self._log_size:
            self._log_size = log_size
            self._silent_s = 0.0
            changes += self._clear(LOG_SILENT, now, "a log line arrived")
        elif active:
            self._silent_s += dt
        if t.log_silent_s > 0 and self._silent_s >= t.log_silent_s:
            text = f"no log line for {minutes(t.log_silent_s)}"
            changes += self._raise(LOG_SILENT, now, self._silent_s, text)

        if gpu is None:
            self._gpu_idle_s = 0.0
            changes += self._clear(GPU_IDLE, now, "no GPU readings")
        elif gpu[0] >= t.gpu_idle_percent:
            self._gpu_idle_s = 0.0
            changes += self._clear(GPU_IDLE, now, "the GPU is busy again")
        elif active:
            self._gpu_idle_s += dt
        if gpu is not None and t.gpu_idle_s > 0 and self._gpu_idle_s >= t.gpu_idle_s:
            held = f"it holds {gpu[1] / 2**30:.1f} GiB" if gpu[1] else "it has no GPU process"
            text = f"GPU idle for {minutes(t.gpu_idle_s)} while the run is active ({held})"
            changes += self._raise(GPU_IDLE, now, self._gpu_idle_s, text)
        return changes

    def finish(self, now: float, reason: str = "the run ended") -> list[StallFlag]:
        """Clear every raised flag (the run ended)."""
        changes: list[StallFlag] = []
        for flag in list(self._raised):
            changes += self._clear(flag, now, reason)
        return changes

    def _raise(self, flag: str, now: float, for_s: float, text: str) -> list[StallFlag]:
        if flag in self._raised:
            return []
        since = now - for_s
        self._raised[flag] = since
        return [StallFlag(now, flag, True, text, round(since, 3))]

    def _clear(self, flag: str, now: float, reason: str) -> list[StallFlag]:
        since = self._raised.pop(flag, None)
        if since is None:
            return []
        return [StallFlag(now, flag, False, reason, round(since, 3), round(now - since, 1))]


class RunStallWatch:
    """The recorder's side: reads whether the run is active (its active time advances) and its
    log spool's size, and feeds the detector each resource sample."""

    def __init__(self, thresholds: StallThresholds | None = None) -> None:
        self.detector = StallDetector(thresholds or StallThresholds.from_env())
        self._active_s: float | None = None

    def check(
        self, sample: ResourceSample, active_s: float, log_size: int | None
    ) -> list[StallFlag]:
        """``active_s``: the run's active time from run.json; it advances while the run is
        neither soft-paused nor frozen."""
        active = self._active_s is not None and active_s > self._active_s
        self._active_s = active_s
        return self.detector.observe(
            sample.ts, active=active, gpu=run_gpu_use(sample.gpus), log_size=log_size
        )


def track_stall(raised: dict[str, StallFlag], flag: StallFlag) -> None:
    """Raise or clear, in ``raised`` (by flag), the flag a ``stall`` record names."""
    if flag.active:
        raised[flag.flag] = flag
    else:
        raised.pop(flag.flag, None)


def flag_label(flag: StallFlag, now: float) -> str:
    """A short live label for a raised flag: ``"GPU idle 14 min"``, ``"no log 12 min"``."""
    elapsed = max(0.0, now - flag.since)
    span = f"{elapsed / 60:.0f} min" if elapsed >= 60 else f"{elapsed:.0f} s"
    if flag.flag == GPU_IDLE:
        return f"GPU idle {span}"
    if flag.flag == LOG_SILENT:
        return f"no log {span}"
    return f"{flag.flag} {span}"
