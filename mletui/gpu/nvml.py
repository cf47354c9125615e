"""GPU sampling on NVML: each NVIDIA GPU's utilisation, memory, power, temperature and clocks, and
the processes on each (host pids, their memory and SM utilisation).

Everything goes through one ``nvml`` module object: the real ``pynvml`` in production, a
:class:`ReplayNvml` of recorded readings in tests and demos. It raises the same
``pynvml.NVMLError`` subclasses, so both take the same code path. NVML errors never escape: a
reading a device does not support becomes ``None`` (shown as "n/a"), a device that stops answering
is marked lost, and NVML failing as a whole becomes one plain line (retried once a minute).
Slow-changing readings are cached, as nvitop does, so a sample costs a handful of NVML calls.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mletui.core import settings
from mletui.core.events import GpuDevice, GpuProcess

DEFAULT_INTERVAL_S = settings.DEFAULT_GPU_INTERVAL_S
INTERVAL_ENV = settings.GPU_INTERVAL
REPLAY_ENV = settings.NVML_REPLAY

STATIC_TTL_S = 60.0  # name, uuid, power limit: they do not change while a run lives
SLOW_TTL_S = 5.0  # temperature moves slowly
UNSUPPORTED_TTL_S = 600.0  # a reading the device does not support is not asked for again soon
RETRY_S = 60.0  # NVML that failed, or a lost device, is tried again this often

# Error names (pynvml's NVMLError_<Name> classes) by what they mean for a reading.
_DEVICE_GONE = {"GpuIsLost", "GpuNotFound", "ResetRequired"}
_UNSUPPORTED_ERRORS = {"NotSupported", "FunctionNotFound", "LibraryMismatch", "AttributeError"}
_NVML_DOWN = {"Uninitialized", "DriverNotLoaded", "LibRmVersionMismatch", "LibraryNotFound"}


def interval_from_env(env: Mapping[str, str] | None = None) -> float:
    """The sampling interval from ``MLETUI_GPU_INTERVAL`` (seconds, at least 0.1), default 1 s."""
    return settings.gpu_interval_s(env)


@dataclass(frozen=True)
class GpuReading:
    """One sample of every GPU, or one plain line (``problem``) saying why there is none."""

    ts: float
    devices: tuple[GpuDevice, ...] = ()
    processes: tuple[GpuProcess, ...] = ()
    problem: str | None = None
    driver: str = ""

    def line(self) -> str:
        """One plain line: the problem, or each device's utilisation and memory."""
        if self.problem:
            return self.problem
        parts = []
        for d in self.devices:
            if d.lost:
                parts.append(f"GPU{d.index} lost ({d.lost})")
                continue
            util = "n/a" if d.utilization is None else f"{d.utilization:.0f}%"
            parts.append(f"GPU{d.index} {util} {memory_text(d.memory_used, d.memory_total)}")
        return " · ".join(parts)


def memory_text(used: int | None, total: int | None) -> str:
    """``"31.2/80 GiB"``; ``"31.2 GiB"`` when the total is unknown; ``"n/a"`` when the use is."""
    if used is None:
        return "n/a"
    if total is None:
        return f"{used / 2**30:.1f} GiB"
    return f"{used / 2**30:.1f}/{total / 2**30:.0f} GiB"


def load_nvml(replay_pids: Mapping[str, int] | None = None) -> tuple[Any | None, str | None]:
    """The ``nvml`` module to use: a replay when ``MLETUI_NVML_REPLAY`` names a recording (for
    demos and end-to-end tests; ``replay_pids`` gives its named pids), else the real ``pynvml``.
    Returns ``(module, None)`` or ``(None, why not)``."""
    replay = settings.nvml_replay()
    if replay:
        try:
            return ReplayNvml.from_file(Path(replay), loop=True, pids=replay_pids), None
        except (OSError, ValueError) as exc:
            return None, f"no GPU readings: the replay file {replay} cannot be read ({exc})"
    try:
        import pynvml
    except ImportError:
        return None, "no GPU readings: nvidia-ml-py is not installed"
    return pynvml, None


def _error_name(exc: BaseException) -> str:
    """``NVMLError_NotSupported`` -> ``"NotSupported"``; anything else -> its class name."""
    name = type(exc).__name__
    if name == "NVMLLibraryMismatchError":
        return "LibraryMismatch"
    return name.removeprefix("NVMLError_")


def _forget_s(exc: BaseException) -> float:
    """How long a failed reading is not asked for again: long when the device cannot give it."""
    return UNSUPPORTED_TTL_S if _error_name(exc) in _UNSUPPORTED_ERRORS else RETRY_S


class _NvmlDown(Exception):
    """NVML as a whole stopped answering (the driver went away): no device can be read."""


class _DeviceGone(Exception):
    """One device stopped answering (fell off the bus, needs a reset)."""


_UNSUPPORTED = object()


class GpuSampler:
    """Reads every GPU through ``nvml``; :meth:`sample` never raises.

    ``nvml=None`` loads the real NVML (or a replay, see :func:`load_nvml`) on first use.
    Not thread-safe: one sampler per thread.
    """

    def __init__(
        self,
        nvml: Any | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        replay_pids: Callable[[], Mapping[str, int]] | None = None,
    ) -> None:
        self._nvml: Any = nvml
        self._replay_pids = replay_pids  # named pids for a replay from MLETUI_NVML_REPLAY
        self._clock = clock
        self._ready = False
        self._tried_at: float | None = None
        self._problem: str | None = None
        self._driver = ""
        self._handles: dict[int, Any] = {}
        self._lost: dict[int, tuple[float, str]] = {}  # index -> (when, why)
        self._cache: dict[tuple[int, str], tuple[float, Any]] = {}  # -> (expires, value)
        self._util_seen: dict[int, int] = {}  # index -> newest process-utilisation timestamp
        self._error_types: tuple[type[BaseException], ...] = ()

    # --- set up and tear down --------------------------------------------------------------

    def _start(self) -> bool:
        now = self._clock()
        if self._ready:
            return True
        if self._tried_at is not None and now - self._tried_at < RETRY_S:
            return False
        self._tried_at = now
        if self._nvml is None:
            self._nvml, why = load_nvml(self._replay_pids() if self._replay_pids else None)
            if self._nvml is None:
                self._problem = why
                self._tried_at = float("inf")  # nothing to retry: the package is missing
                return False
        nvml = self._nvml
        errors: list[type[BaseException]] = [nvml.NVMLError]
        mismatch = getattr(nvml, "NVMLLibraryMismatchError", None)
        if isinstance(mismatch, type) and issubclass(mismatch, BaseException):
            errors.append(mismatch)
        self._error_types = (*errors, AttributeError)  # AttributeError: an old pynvml
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            self._problem = _no_gpu_line(exc)
            return False
        self._ready = True
        self._problem = None
        self._handles.clear()
        self._lost.clear()
        self._util_seen.clear()
        driver = self._call(-1, "driver", STATIC_TTL_S, "nvmlSystemGetDriverVersion")
        self._driver = "" if driver is None else _text(driver)
        return True

    def close(self) -> None:
        """Let NVML go (pynvml counts nvmlInit calls)."""
        if self._ready and self._nvml is not None:
            with contextlib.suppress(*self._error_types):
                self._nvml.nvmlShutdown()
        self._ready = False

    def _down(self, exc: BaseException) -> GpuReading:
        self.close()
        self._tried_at = self._clock()
        self._cache.clear()
        self._problem = f"GPU readings stopped: NVML says {exc}; trying again every minute"
        return GpuReading(time.time(), problem=self._problem)

    # --- sampling ----------------------------------------------------------------------------

    def sample(self) -> GpuReading:
        """Every device and its processes now, or one plain line saying why there are none."""
        try:
            return self._sample()
        except _NvmlDown as exc:
            return self._down(exc.__cause__ or exc)
        except Exception as exc:  # a bug or an odd library must not stop the run's recorder
            self.close()
            self._tried_at = self._clock()
            self._problem = f"GPU readings stopped: {type(exc).__name__}: {exc}"
            return GpuReading(time.time(), problem=self._problem)

    def _sample(self) -> GpuReading:
        if not self._start():
            return GpuReading(time.time(), problem=self._problem or "no GPU readings")
        nvml = self._nvml
        try:
            count = int(nvml.nvmlDeviceGetCount())
        except nvml.NVMLError as exc:
            raise _NvmlDown(str(exc)) from exc
        if count == 0:
            return GpuReading(time.time(), problem="no NVIDIA GPU (NVML sees no device)")
        devices: list[GpuDevice] = []
        processes: list[GpuProcess] = []
        for index in range(count):
            device, procs = self._device(index)
            devices.append(device)
            processes.extend(procs)
        return GpuReading(time.time(), tuple(devices), tuple(processes), None, self._driver)

    def _device(self, index: int) -> tuple[GpuDevice, list[GpuProcess]]:
        lost = self._lost.get(index)
        if lost is not None and self._clock() - lost[0] < RETRY_S:
            return self._lost_device(index, lost[1]), []
        try:
            return self._read_device(index)
        except _DeviceGone as exc:
            why = str(exc.__cause__ or exc)
            self._lost[index] = (self._clock(), why)
            self._handles.pop(index, None)
            for key in [k for k in self._cache if k[0] == index and k[1] != "name"]:
                del self._cache[key]  # the name stays, to say which device was lost
            return self._lost_device(index, why), []

    def _lost_device(self, index: int, why: str) -> GpuDevice:
        cached = self._cache.get((index, "name"))
        name = _text(cached[1]) if cached and cached[1] is not _UNSUPPORTED else f"GPU {index}"
        return GpuDevice(index=index, name=name, lost=why)

    def _read_device(self, index: int) -> tuple[GpuDevice, list[GpuProcess]]:
        nvml = self._nvml
        handle = self._handles.get(index)
        if handle is None:
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
            except nvml.NVMLError as exc:
                self._raise_if_fatal(exc)
                raise _DeviceGone(str(exc)) from exc
            self._handles[index] = handle
            self._lost.pop(index, None)

        def call(field: str, ttl: float, function: str, *args: Any) -> Any:
            return self._call(index, field, ttl, function, handle, *args)

        name = call("name", STATIC_TTL_S, "nvmlDeviceGetName")
        uuid = call("uuid", STATIC_TTL_S, "nvmlDeviceGetUUID")
        memory = call("memory", 0, "nvmlDeviceGetMemoryInfo")
        rates = call("utilization", 0, "nvmlDeviceGetUtilizationRates")
        power = call("power", 0, "nvmlDeviceGetPowerUsage")
        limit = call("power_limit", STATIC_TTL_S, "nvmlDeviceGetEnforcedPowerLimit")
        temp = call("temperature", SLOW_TTL_S, "nvmlDeviceGetTemperature", 0)  # 0: the die
        sm_clock = call("clock_sm", 0, "nvmlDeviceGetClockInfo", 1)  # NVML_CLOCK_SM
        mem_clock = call("clock_mem", 0, "nvmlDeviceGetClockInfo", 2)  # NVML_CLOCK_MEM
        device = GpuDevice(
            index=index,
            name=f"GPU {index}" if name is None else _text(name),
            uuid="" if uuid is None else _text(uuid),
            utilization=None if rates is None else _percent(getattr(rates, "gpu", None)),
            memory_used=None if memory is None else _bytes(getattr(memory, "used", None)),
            memory_total=None if memory is None else _bytes(getattr(memory, "total", None)),
            power_w=None if power is None else round(float(power) / 1000, 1),
            power_limit_w=None if limit is None else round(float(limit) / 1000, 1),
            temperature_c=None if temp is None else float(temp),
            sm_clock_mhz=None if sm_clock is None else int(sm_clock),
            memory_clock_mhz=None if mem_clock is None else int(mem_clock),
        )
        return device, self._processes(index, handle)

    def _processes(self, index: int, handle: Any) -> list[GpuProcess]:
        memory: dict[int, int | None] = {}
        for field, names in (
            ("compute_processes", ("nvmlDeviceGetComputeRunningProcesses", "_v2")),
            ("graphics_processes", ("nvmlDeviceGetGraphicsRunningProcesses", "_v2")),
        ):
            infos = self._call_versions(index, field, handle, names)
            for info in infos or ():
                pid = int(info.pid)
                used = _bytes(getattr(info, "usedGpuMemory", None))
                if memory.get(pid) is None:
                    memory[pid] = used
        if not memory:
            return []
        utilization = self._process_utilization(index, handle)
        return [
            GpuProcess(
                device=index,
                pid=pid,
                memory=used,
                utilization=None if utilization is None else utilization.get(pid, 0.0),
            )
            for pid, used in sorted(memory.items())
        ]

    def _process_utilization(self, index: int, handle: Any) -> dict[int, float] | None:
        """SM utilisation per pid since the last sample; ``None`` when the device cannot tell."""
        nvml = self._nvml
        key = (index, "process_utilization")
        cached = self._cache.get(key)
        if cached is not None and cached[1] is _UNSUPPORTED and self._clock() < cached[0]:
            return None
        try:
            samples = nvml.nvmlDeviceGetProcessUtilization(handle, self._util_seen.get(index, 0))
        except self._error_types as exc:
            name = _error_name(exc)
            if name == "NotFound" or getattr(exc, "value", None) == 0:
                return {}  # supported, but no process ran a kernel since the last sample
            self._check(exc)
            self._cache[key] = (self._clock() + _forget_s(exc), _UNSUPPORTED)
            return None
        latest: dict[int, tuple[int, float]] = {}
        for s in samples:
            stamp = int(s.timeStamp)
            pid = int(s.pid)
            if pid not in latest or stamp >= latest[pid][0]:
                latest[pid] = (stamp, _percent(s.smUtil) or 0.0)
            self._util_seen[index] = max(self._util_seen.get(index, 0), stamp)
        return {pid: util for pid, (_, util) in latest.items()}

    # --- one NVML call -------------------------------------------------------------------------

    def _call(self, index: int, field: str, ttl: float, function: str, *args: Any) -> Any:
        """``nvml.<function>(*args)``, cached for ``ttl`` s; ``None`` for a reading the device
        (or this pynvml) does not give."""
        key = (index, field)
        cached = self._cache.get(key)
        now = self._clock()
        if cached is not None and now < cached[0]:
            return None if cached[1] is _UNSUPPORTED else cached[1]
        try:
            value = getattr(self._nvml, function)(*args)
        except self._error_types as exc:
            self._check(exc)
            self._cache[key] = (now + _forget_s(exc), _UNSUPPORTED)
            return None
        if ttl > 0:
            self._cache[key] = (now + ttl, value)
        return value

    def _call_versions(
        self, index: int, field: str, handle: Any, names: tuple[str, str]
    ) -> list[Any] | None:
        """A process list, falling back to the older ``_v2`` call on an older driver."""
        base, suffix = names
        for name in (base, base + suffix):
            fn = getattr(self._nvml, name, None)
            if fn is None:
                continue
            key = (index, f"{field}:{name}")
            cached = self._cache.get(key)
            if cached is not None and self._clock() < cached[0]:
                continue  # this version is known not to work here
            try:
                return list(fn(handle))
            except self._error_types as exc:
                self._check(exc)
                self._cache[key] = (self._clock() + _forget_s(exc), _UNSUPPORTED)
        return None

    def _check(self, exc: BaseException) -> None:
        """Raise what ends the device or all of NVML; a plain unsupported reading returns."""
        self._raise_if_fatal(exc)
        if _error_name(exc) in _DEVICE_GONE:
            raise _DeviceGone(str(exc)) from exc

    @staticmethod
    def _raise_if_fatal(exc: BaseException) -> None:
        if _error_name(exc) in _NVML_DOWN:
            raise _NvmlDown(str(exc)) from exc


def _no_gpu_line(exc: BaseException) -> str:
    """The one line for an NVML that does not start, with what to do about it."""
    name = _error_name(exc)
    if name == "LibraryNotFound":
        return "no NVIDIA GPU (no NVIDIA driver: NVML's library is not on this machine)"
    if name == "DriverNotLoaded":
        return "no NVIDIA GPU (the NVIDIA driver is not loaded)"
    if name == "NoPermission":
        return "no GPU readings (NVML: insufficient permissions)"
    return f"no NVIDIA GPU (NVML: {exc})"


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _percent(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    if not 0 <= number <= 100:  # NVML's "not available" marker (0xFFFFFFFF) and the like
        return None
    return number


def _bytes(value: Any) -> int | None:
    if value is None:
        return None
    number = int(value)
    if number < 0 or number >= 2**64 - 1:  # NVML_VALUE_NOT_AVAILABLE
        return None
    return number


# --- merging samples: the journal gets one entry per few samples ---------------------------------


def merge_readings(readings: Sequence[GpuReading]) -> GpuReading | None:
    """The latest reading, with utilisation averaged over all ``readings`` (oldest first), so a
    journal entry every 2 s still reflects every 1 s sample."""
    if not readings:
        return None
    last = readings[-1]
    if len(readings) == 1 or last.problem:
        return last
    device_util: dict[int, list[float]] = {}
    process_util: dict[tuple[int, int], list[float]] = {}
    for reading in readings:
        for d in reading.devices:
            if d.utilization is not None:
                device_util.setdefault(d.index, []).append(d.utilization)
        for p in reading.processes:
            if p.utilization is not None:
                process_util.setdefault((p.device, p.pid), []).append(p.utilization)
    devices = tuple(
        d if d.utilization is None else replace(d, utilization=_mean(device_util[d.index]))
        for d in last.devices
    )
    processes = tuple(
        p
        if p.utilization is None
        else replace(p, utilization=_mean(process_util[(p.device, p.pid)]))
        for p in last.processes
    )
    return replace(last, devices=devices, processes=processes)


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 1)


class GpuMonitor:
    """Samples in a thread of its own, every ``interval_s`` (1 s by default), and keeps what it
    read until :meth:`take` collects it. ``annotate`` runs in the thread on each reading (the
    pid-to-run mapping), so the caller's thread never waits on NVML or ``/proc``."""

    def __init__(
        self,
        sampler: GpuSampler | None = None,
        *,
        interval_s: float | None = None,
        annotate: Callable[[GpuReading], GpuReading] | None = None,
    ) -> None:
        self.sampler = sampler or GpuSampler()
        self.interval_s = interval_from_env() if interval_s is None else interval_s
        self._annotate = annotate
        self._lock = threading.Lock()
        self._pending: list[GpuReading] = []
        self._latest: GpuReading | None = None
        self._notices: list[str] = []
        self._seen_devices = False
        self._lost: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gpu-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sampler.close()

    def _run(self) -> None:
        while True:
            self.sample_once()
            if self._stop.wait(self.interval_s):
                return

    def sample_once(self) -> GpuReading:
        """Take one sample now (the thread does this every interval)."""
        reading = self.sampler.sample()
        if self._annotate is not None and not reading.problem:
            reading = self._annotate(reading)
        with self._lock:
            self._note_changes(reading)
            self._pending.append(reading)
            del self._pending[:-120]  # nobody collecting: keep the last two minutes at most
            self._latest = reading
        return reading

    def _note_changes(self, reading: GpuReading) -> None:
        """Notices for what changed mid-run, once each: NVML stopped or came back, a device lost."""
        if reading.problem:
            if self._seen_devices:
                self._notices.append(reading.problem)
                self._seen_devices = False
            return
        if not self._seen_devices and self._latest is not None and self._latest.problem:
            self._notices.append("GPU readings are back")
        self._seen_devices = True
        lost = {d.index for d in reading.devices if d.lost}
        for d in reading.devices:
            if d.lost and d.index not in self._lost:
                self._notices.append(f"GPU{d.index} stopped answering ({d.lost})")
            elif not d.lost and d.index in self._lost:
                self._notices.append(f"GPU{d.index} answers again")
        self._lost = lost

    @property
    def latest(self) -> GpuReading | None:
        with self._lock:
            return self._latest

    def take(self) -> GpuReading | None:
        """What was sampled since the last call, merged (see :func:`merge_readings`); when
        nothing new was sampled, the latest reading again."""
        with self._lock:
            pending, self._pending = self._pending, []
            latest = self._latest
        return merge_readings(pending) if pending else latest

    def notices(self) -> list[str]:
        """Plain sentences about mid-run changes since the last call."""
        with self._lock:
            notices, self._notices = self._notices, []
        return notices


# --- recorded readings -------------------------------------------------------------------------
#
# A recording is JSON: {"driver": "...", "init": null or {"error": NAME}, "frames": [FRAME, ...]}.
# A frame: {"count": N or {"error": NAME}, "devices": [DEVICE, ...]}. A device maps each reading
# below to its value, or to {"error": NAME} (NAME as in pynvml's NVMLError_<NAME>, e.g.
# "NotSupported", "GpuIsLost"); a reading left out is NotSupported; {"lost": true} is a device that
# fell off the bus. Process pids may be names ("agent") that the replayer is given at run time.

_CLOCK_FIELDS = {0: "clock_graphics", 1: "clock_sm", 2: "clock_mem"}


class _Record:
    """A pynvml "friendly object": attribute access over a dict."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        return f"_Record({self.__dict__!r})"


@dataclass(frozen=True)
class _Handle:
    index: int


class ReplayNvml:
    """Recorded NVML readings behind pynvml's functions, raising pynvml's own error classes.

    Each ``nvmlDeviceGetCount()`` after the first moves to the next frame (the sampler calls it
    once per sample); at the end it stays on the last frame, or starts again with ``loop``.
    """

    def __init__(
        self,
        recording: Mapping[str, Any],
        *,
        pids: Mapping[str, int] | None = None,
        loop: bool = False,
    ) -> None:
        import pynvml

        self._pynvml = pynvml
        self.NVMLError = pynvml.NVMLError
        self.NVMLLibraryMismatchError = pynvml.NVMLLibraryMismatchError
        self.recording = recording
        self.frames: list[Mapping[str, Any]] = list(recording.get("frames", []))
        if not self.frames:
            raise ValueError("a recording needs at least one frame")
        self.pids = dict(pids or {})
        self.loop = loop
        self.frame = 0
        self.samples_taken = 0  # nvmlDeviceGetCount calls: one per sample
        self.reads: Counter[str] = Counter()  # how often each reading was asked for
        self._counted = False
        self._initialised = False

    @classmethod
    def from_file(cls, path: Path, **kwargs: Any) -> ReplayNvml:
        return cls(json.loads(path.read_text(encoding="utf-8")), **kwargs)

    def advance(self) -> None:
        if self.frame + 1 < len(self.frames):
            self.frame += 1
        elif self.loop:
            self.frame = 0

    def _error(self, name: str) -> BaseException:
        if name == "LibraryMismatch":
            mismatch: BaseException = self.NVMLLibraryMismatchError("replayed: version mismatch")
            return mismatch
        cls = getattr(self._pynvml, f"NVMLError_{name}", None)
        if cls is None:
            raise ValueError(f"unknown NVML error name in a recording: {name}")
        error: BaseException = cls()
        return error

    def _value(self, value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"error"}:
            raise self._error(str(value["error"]))
        return value

    def _device(self, handle: _Handle) -> Mapping[str, Any]:
        if not self._initialised:
            raise self._error("Uninitialized")
        devices = self.frames[self.frame].get("devices", [])
        if handle.index >= len(devices):
            raise self._error("GpuIsLost")
        device: Mapping[str, Any] = devices[handle.index]
        if device.get("lost"):
            raise self._error("GpuIsLost")
        return device

    def _field(self, handle: _Handle, field: str) -> Any:
        self.reads[field] += 1
        device = self._device(handle)
        if field not in device:
            raise self._error("NotSupported")
        return self._value(device[field])

    # --- the pynvml functions the sampler calls ------------------------------------------------

    def nvmlInit(self) -> None:
        self.reads["init"] += 1
        init = self.recording.get("init")
        if init:
            self._value(init)
        self._initialised = True

    def nvmlShutdown(self) -> None:
        self._initialised = False

    def nvmlSystemGetDriverVersion(self) -> str:
        return str(self._value(self.recording.get("driver", {"error": "NotSupported"})))

    def nvmlDeviceGetCount(self) -> int:
        self.reads["count"] += 1
        if not self._initialised:
            raise self._error("Uninitialized")
        if self._counted:
            self.advance()
        self._counted = True
        self.samples_taken += 1
        return int(self._value(self.frames[self.frame].get("count", 0)))

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        handle = _Handle(index)
        self._device(handle)
        return handle

    def nvmlDeviceGetName(self, handle: _Handle) -> str:
        return str(self._field(handle, "name"))

    def nvmlDeviceGetUUID(self, handle: _Handle) -> str:
        return str(self._field(handle, "uuid"))

    def nvmlDeviceGetMemoryInfo(self, handle: _Handle) -> _Record:
        return _Record(self._field(handle, "memory"))

    def nvmlDeviceGetUtilizationRates(self, handle: _Handle) -> _Record:
        return _Record(self._field(handle, "utilization"))

    def nvmlDeviceGetPowerUsage(self, handle: _Handle) -> int:
        return int(self._field(handle, "power_usage"))

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: _Handle) -> int:
        return int(self._field(handle, "enforced_power_limit"))

    def nvmlDeviceGetTemperature(self, handle: _Handle, sensor: int) -> int:
        return int(self._field(handle, "temperature"))

    def nvmlDeviceGetClockInfo(self, handle: _Handle, clock_type: int) -> int:
        return int(self._field(handle, _CLOCK_FIELDS.get(clock_type, "clock_other")))

    def _processes(self, handle: _Handle, field: str) -> list[_Record]:
        records = []
        for entry in self._field(handle, field):
            pid = self._pid(entry["pid"])
            if pid is not None:
                records.append(_Record({**entry, "pid": pid}))
        return records

    def nvmlDeviceGetComputeRunningProcesses(self, handle: _Handle) -> list[_Record]:
        return self._processes(handle, "compute_processes")

    def nvmlDeviceGetComputeRunningProcesses_v2(self, handle: _Handle) -> list[_Record]:
        return self._processes(handle, "compute_processes_v2")

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: _Handle) -> list[_Record]:
        return self._processes(handle, "graphics_processes")

    def nvmlDeviceGetGraphicsRunningProcesses_v2(self, handle: _Handle) -> list[_Record]:
        return self._processes(handle, "graphics_processes_v2")

    def nvmlDeviceGetProcessUtilization(self, handle: _Handle, last_seen: int) -> list[_Record]:
        # A frame's samples are new at each sample that replays it (a frame replayed again, or
        # the last one kept, still shows its kernels running): time moves a day per sample.
        shift = self.samples_taken * 86_400_000_000
        samples = []
        for entry in self._field(handle, "process_utilization"):
            pid = self._pid(entry["pid"])
            stamp = int(entry.get("timeStamp", 0)) + shift
            if pid is not None and stamp > last_seen:
                fields = {"encUtil": 0, "decUtil": 0, "memUtil": 0, **entry}
                samples.append(_Record({**fields, "pid": pid, "timeStamp": stamp}))
        if not samples:
            raise self._error("NotFound")  # what NVML says when no sample is newer
        return samples

    def _pid(self, value: Any) -> int | None:
        """A recorded pid, or a name resolved at run time; ``None`` for an unresolved name."""
        if isinstance(value, str):
            return self.pids.get(value)
        return int(value)


class RecordingNvml:
    """Wraps the real pynvml and writes down what it answers, in :class:`ReplayNvml`'s format
    (``scripts/gpu-check --record``): the shapes of real readings, to replay in tests."""

    def __init__(self, nvml: Any) -> None:
        self._nvml = nvml
        self.NVMLError = nvml.NVMLError
        self.NVMLLibraryMismatchError = getattr(nvml, "NVMLLibraryMismatchError", Exception)
        self.recording: dict[str, Any] = {"init": None, "frames": []}
        self._frame: dict[str, Any] | None = None
        for name, (field, shape) in _RECORDED.items():
            setattr(self, name, self._wrap(name, field, shape))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._nvml, name)

    def _note(self, exc: BaseException) -> dict[str, str]:
        if isinstance(exc, self.NVMLLibraryMismatchError):
            return {"error": "LibraryMismatch"}
        return {"error": _error_name(exc)}

    def _slot(self, index: int) -> dict[str, Any]:
        assert self._frame is not None
        devices: list[dict[str, Any]] = self._frame["devices"]
        while len(devices) <= index:
            devices.append({})
        return devices[index]

    def _wrap(self, name: str, field: str, shape: Callable[[Any], Any]) -> Callable[..., Any]:
        fn = getattr(self._nvml, name)

        def call(handle: Any, *args: Any) -> Any:
            key = _CLOCK_FIELDS.get(args[0], "clock_other") if field == "clock" else field
            slot = None
            if self._frame is not None:
                slot = self._slot(int(self._nvml.nvmlDeviceGetIndex(handle)))
            try:
                value = fn(handle, *args)
            except (self.NVMLError, self.NVMLLibraryMismatchError) as exc:
                if slot is not None:
                    slot[key] = self._note(exc)
                raise
            if slot is not None:
                slot[key] = shape(value)
            return value

        return call

    def nvmlInit(self) -> None:
        try:
            self._nvml.nvmlInit()
        except self.NVMLError as exc:
            self.recording["init"] = self._note(exc)
            raise

    def nvmlSystemGetDriverVersion(self) -> Any:
        value = self._nvml.nvmlSystemGetDriverVersion()
        self.recording["driver"] = _text(value)
        return value

    def nvmlDeviceGetCount(self) -> int:
        # A frame starts as the one before: what the sampler did not ask again (it caches the
        # slow readings) is still what the device said last.
        before = self._frame["devices"] if self._frame is not None else []
        devices = [{k: v for k, v in d.items() if k != "lost"} for d in before]
        self._frame = {"count": None, "devices": devices}
        self.recording["frames"].append(self._frame)
        try:
            count = int(self._nvml.nvmlDeviceGetCount())
        except self.NVMLError as exc:
            self._frame["count"] = self._note(exc)
            raise
        self._frame["count"] = count
        return count

    def nvmlDeviceGetHandleByIndex(self, index: int) -> Any:
        try:
            return self._nvml.nvmlDeviceGetHandleByIndex(index)
        except self.NVMLError as exc:
            if self._frame is not None and _error_name(exc) in _DEVICE_GONE:
                self._slot(index).update({"lost": True})
            raise


def _plain(value: Any) -> Any:
    return _text(value) if isinstance(value, bytes | str) else value


def _fields(*names: str) -> Callable[[Any], dict[str, Any]]:
    return lambda value: {n: getattr(value, n) for n in names if hasattr(value, n)}


def _process_list(value: Any) -> list[dict[str, Any]]:
    return [{"pid": int(p.pid), "usedGpuMemory": getattr(p, "usedGpuMemory", None)} for p in value]


def _utilization_samples(value: Any) -> list[dict[str, Any]]:
    keys = ("pid", "timeStamp", "smUtil", "memUtil", "encUtil", "decUtil")
    return [{k: int(getattr(s, k)) for k in keys if hasattr(s, k)} for s in value]


# nvml function -> (the recorded field, how its answer is written down)
_RECORDED: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "nvmlDeviceGetName": ("name", _plain),
    "nvmlDeviceGetUUID": ("uuid", _plain),
    "nvmlDeviceGetMemoryInfo": ("memory", _fields("total", "free", "used")),
    "nvmlDeviceGetUtilizationRates": ("utilization", _fields("gpu", "memory")),
    "nvmlDeviceGetPowerUsage": ("power_usage", _plain),
    "nvmlDeviceGetEnforcedPowerLimit": ("enforced_power_limit", _plain),
    "nvmlDeviceGetTemperature": ("temperature", _plain),
    "nvmlDeviceGetClockInfo": ("clock", _plain),
    "nvmlDeviceGetComputeRunningProcesses": ("compute_processes", _process_list),
    "nvmlDeviceGetGraphicsRunningProcesses": ("graphics_processes", _process_list),
    "nvmlDeviceGetProcessUtilization": ("process_utilization", _utilization_samples),
}


def write_recording(recording: Mapping[str, Any], path: Path, note: str = "") -> None:
    data = {"source": note, **recording} if note else dict(recording)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
