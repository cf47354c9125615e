"""GPU widgets: per device, sparklines of utilisation and memory over the last minutes, with a
run's own share beside the device's total; one plain line when there is no GPU to read.

Used by the resources pane (one run) and the GPU screen (all runs). Readings NVML cannot give
show as "n/a".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.containers import Vertical
from textual.widget import Widget

from mletui.core.events import GpuDevice
from mletui.tui.format import gib, na, percent, used_of

WINDOW_S = 300.0
"""How far back the sparklines reach."""

BARS = "▁▂▃▄▅▆▇█"
LABEL_WIDTH = 22


@dataclass(frozen=True)
class _Point:
    ts: float
    util: float | None
    memory: float | None
    run_util: float | None
    run_memory: float | None


def spark(
    points: Sequence[tuple[float, float | None]],
    *,
    now: float,
    width: int,
    top: float,
    window_s: float = WINDOW_S,
) -> str:
    """A one-row sparkline on a fixed scale (0..``top``) and a time axis: the last ``window_s``
    seconds over ``width`` cells, newest on the right; a cell with no reading stays blank."""
    if width <= 0:
        return ""
    span = window_s / width
    cells: list[float | None] = [None] * width
    for ts, value in points:
        if value is None:
            continue
        age = now - ts
        if age < 0 or age >= window_s:
            continue
        cell = width - 1 - int(age / span)
        current = cells[cell]
        cells[cell] = value if current is None else max(current, value)
    top = top if top > 0 else 1.0
    out = []
    for value in cells:
        if value is None:
            out.append(" ")
        else:
            level = min(len(BARS) - 1, max(0, round(value / top * (len(BARS) - 1))))
            out.append(BARS[level])
    return "".join(out)


class GpuDeviceView(Widget):
    """One GPU: a title line (name, temperature, power, clocks), then utilisation and memory
    sparklines; with ``show_run``, the run's own share under each."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "gpu-device--title",
        "gpu-device--muted",
        "gpu-device--device",
        "gpu-device--run",
        "gpu-device--lost",
    }

    DEFAULT_CSS = """
    GpuDeviceView {
        height: auto;
        width: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        & > .gpu-device--title { text-style: bold; }
        & > .gpu-device--muted { color: $foreground-muted; }
        & > .gpu-device--device { color: $primary; }
        & > .gpu-device--run { color: $success; }
        & > .gpu-device--lost { color: $error; }
    }
    """

    def __init__(
        self,
        index: int,
        *,
        show_run: bool,
        window_s: float = WINDOW_S,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.index = index
        self.show_run = show_run
        self.compact = False  # one line: this run does not use the device
        self._window_s = window_s
        self._points: deque[_Point] = deque()
        self._device: GpuDevice | None = None

    @property
    def device(self) -> GpuDevice | None:
        return self._device

    @property
    def run_used(self) -> bool:
        """True when the run held memory or ran kernels on this device within the window."""
        return any((p.run_memory or 0) > 0 or (p.run_util or 0) > 0 for p in self._points)

    def add(self, ts: float, device: GpuDevice) -> None:
        self._device = device
        self._points.append(
            _Point(
                ts,
                device.utilization,
                None if device.memory_used is None else float(device.memory_used),
                device.run_utilization,
                None if device.run_memory is None else float(device.run_memory),
            )
        )
        while self._points and self._points[0].ts < ts - self._window_s:
            self._points.popleft()
        self._resize()

    def set_compact(self, compact: bool) -> None:
        if compact != self.compact:
            self.compact = compact
            self._resize()

    def _resize(self) -> None:
        lost = self._device is not None and self._device.lost
        self.styles.height = 1 if self.compact or lost else (5 if self.show_run else 3)
        self.refresh(layout=True)

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"gpu-device--{name}")

    def render(self) -> Text:
        device = self._device
        if device is None:
            return Text("")
        muted = self._style("muted")
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(f"GPU{device.index} ", self._style("title"))
        text.append(device.name, self._style("title"))
        if device.lost:
            text.append(f"  stopped answering: {device.lost}", self._style("lost"))
            return text
        if self.compact:
            text.append(
                f" · {percent(device.utilization)} · "
                f"{used_of(device.memory_used, device.memory_total, 'GiB', gib)}"
                " · not used by this run",
                muted,
            )
            return text
        text.append(
            f" · {na(device.temperature_c, lambda v: f'{v:.0f} °C')}"
            f" · {used_of(device.power_w, device.power_limit_w, 'W')}"
            f" · SM {na(device.sm_clock_mhz, lambda v: f'{v:.0f} MHz')}"
            f" · mem {na(device.memory_clock_mhz, lambda v: f'{v:.0f} MHz')}",
            muted,
        )
        width = max(0, self.size.width - LABEL_WIDTH)
        now = self._points[-1].ts if self._points else 0.0
        total = device.memory_total or max((p.memory or 0.0) for p in self._points) or 1.0
        rows: list[tuple[str, Style, Iterable[tuple[float, float | None]], float]] = [
            (
                f" util {percent(device.utilization):>5}",
                self._style("device"),
                [(p.ts, p.util) for p in self._points],
                100.0,
            ),
        ]
        if self.show_run:
            rows.append(
                (
                    f"  run {percent(device.run_utilization):>5}",
                    self._style("run"),
                    [(p.ts, p.run_util) for p in self._points],
                    100.0,
                )
            )
        rows.append(
            (
                f" mem {used_of(device.memory_used, device.memory_total, 'GiB', gib)}",
                self._style("device"),
                [(p.ts, p.memory) for p in self._points],
                float(total),
            )
        )
        if self.show_run:
            rows.append(
                (
                    f"  run {used_of(device.run_memory, None, 'GiB', gib)}",
                    self._style("run"),
                    [(p.ts, p.run_memory) for p in self._points],
                    float(total),
                )
            )
        for label, style, points, top in rows:
            text.append("\n")
            text.append(f"{label:<{LABEL_WIDTH}}"[:LABEL_WIDTH])
            line = spark(list(points), now=now, width=width, top=top, window_s=self._window_s)
            if line.strip():
                text.append(line, style)
            else:
                text.append("n/a" if width >= 3 else "", muted)
        return text


class GpuDevicesView(Vertical):
    """Every GPU of a sample, one :class:`GpuDeviceView` each, created as devices appear."""

    DEFAULT_CSS = """
    GpuDevicesView { height: auto; }
    """

    def __init__(
        self, *, show_run: bool, window_s: float = WINDOW_S, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.show_run = show_run
        self._window_s = window_s
        self._views: dict[int, GpuDeviceView] = {}

    @property
    def views(self) -> dict[int, GpuDeviceView]:
        return dict(self._views)

    def update_devices(self, ts: float, devices: Sequence[GpuDevice]) -> None:
        """Add one sample of every device; a device no longer listed is removed."""
        for device in devices:
            view = self._views.get(device.index)
            if view is None:
                view = GpuDeviceView(device.index, show_run=self.show_run, window_s=self._window_s)
                self._views[device.index] = view
                self.mount(view)
            view.add(ts, device)
        listed = {d.index for d in devices}
        for index in [i for i in self._views if i not in listed]:
            self._views.pop(index).remove()
        if self.show_run and len(self._views) > 2:
            # Many GPUs: the ones this run never touched take one line each.
            for view in self._views.values():
                view.set_compact(not view.run_used)
