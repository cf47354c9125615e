"""The resources pane: CPU, memory and processes of the run, and every GPU with the run's share
(or one plain line when there is no GPU to read)."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline, Static

from mletui.core.clock import wall_clock
from mletui.core.events import ResourceSample
from mletui.tui.format import human_bytes
from mletui.tui.widgets.gpu_view import GpuDevicesView

WINDOW_S = 300.0
"""How far back the sparklines reach."""


class ResourcesPane(Vertical, can_focus=True):
    """The last few minutes of the run's resource use, one row per resource."""

    DEFAULT_CSS = """
    ResourcesPane {
        height: auto;
        padding: 0 1;
        & > .resources-row {
            height: 1;
        }
        & .resources-label {
            width: 24;
            height: 1;
            color: $foreground;
        }
        & Sparkline {
            width: 1fr;
            height: 1;
        }
        & #resources-processes, & #resources-gpu {
            height: auto;
            color: $foreground;
        }
        & #resources-gpu.-no-gpu {
            color: $foreground-muted;
        }
        & #resources-ended {
            color: $text-warning;
            text-style: italic;
        }
        & #resources-waiting {
            color: $foreground-muted;
            text-style: italic;
        }
    }
    """

    def __init__(
        self,
        *,
        window_s: float = WINDOW_S,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._window_s = window_s
        self._samples: deque[ResourceSample] = deque()
        self._last: ResourceSample | None = None
        self._run_ended = False

    def compose(self) -> ComposeResult:
        yield Static(Text("waiting for the first sample…"), id="resources-waiting")
        yield Static(id="resources-ended")
        with Horizontal(classes="resources-row"):
            yield Label(Text("CPU"), id="resources-cpu", classes="resources-label")
            yield Sparkline([], id="resources-cpu-spark")
        with Horizontal(classes="resources-row"):
            yield Label(Text("Memory"), id="resources-memory", classes="resources-label")
            yield Sparkline([], id="resources-memory-spark")
        yield Static(Text("Processes"), id="resources-processes")
        yield Static(Text("GPU"), id="resources-gpu")
        yield GpuDevicesView(show_run=True, window_s=self._window_s, id="resources-gpus")

    @property
    def samples(self) -> tuple[ResourceSample, ...]:
        """Samples inside the window, oldest first."""
        return tuple(self._samples)

    def set_run_ended(self, ended: bool) -> None:
        """Once the run has ended its readings are its last, not current: said with their time."""
        if ended == self._run_ended:
            return
        self._run_ended = ended
        if self.is_mounted:
            self._show_ended()

    def _show_ended(self) -> None:
        label = self.query_one("#resources-ended", Static)
        label.display = self._run_ended
        if self._run_ended:
            self.query_one("#resources-waiting").display = False
            when = (
                "no reading" if self._last is None else f"last reading {wall_clock(self._last.ts)}"
            )
            label.update(Text(f"{when}, run ended"))

    def update_sample(self, sample: ResourceSample) -> None:
        """Show a new sample and add it to the sparklines."""
        self._samples.append(sample)
        while self._samples and self._samples[0].ts < sample.ts - self._window_s:
            self._samples.popleft()
        previous, self._last = self._last, sample
        if not self.is_mounted:
            return
        self.query_one("#resources-waiting").display = False
        cpu = sample.cpu_percent
        # The labels are fixed in size: no layout of the whole screen for a new reading (a key
        # pressed meanwhile would wait for it).
        self.query_one("#resources-cpu", Label).update(
            Text.assemble("CPU ", (f"{cpu:5.0f}%", "bold"), f" ({cpu / 100:.1f} cores)"),
            layout=False,
        )
        self.query_one("#resources-cpu-spark", Sparkline).data = [
            s.cpu_percent for s in self._samples
        ]
        self.query_one("#resources-memory", Label).update(
            Text.assemble("Memory ", (human_bytes(sample.rss_bytes), "bold")), layout=False
        )
        self.query_one("#resources-memory-spark", Sparkline).data = [
            float(s.rss_bytes) for s in self._samples
        ]
        if (
            previous is None
            or previous.processes != sample.processes
            or (previous.net_rx_bytes, previous.net_tx_bytes, previous.memory_limit_bytes)
            != (sample.net_rx_bytes, sample.net_tx_bytes, sample.memory_limit_bytes)
        ):
            noun = "process" if sample.processes == 1 else "processes"
            extra = ""
            if sample.memory_limit_bytes:
                extra += f" · memory limit {human_bytes(sample.memory_limit_bytes)}"
            if sample.net_rx_bytes is not None and sample.net_tx_bytes is not None:
                # A container's network, from the Engine's stats (totals since it started).
                extra += (
                    f" · network in {human_bytes(sample.net_rx_bytes)},"
                    f" out {human_bytes(sample.net_tx_bytes)}"
                )
            self.query_one("#resources-processes", Static).update(
                Text.assemble((f"{sample.processes}", "bold"), f" {noun}", extra)
            )
        if previous is None or previous.gpu != sample.gpu:
            gpu = self.query_one("#resources-gpu", Static)
            line = sample.gpu.strip() or "GPU: no reading"
            gpu.update(Text(line) if "GPU" in line else Text.assemble("GPU ", line))
            gpu.set_class(not sample.gpus, "-no-gpu")
        self.query_one("#resources-gpu").display = not sample.gpus  # the devices say it all
        self.query_one("#resources-gpus", GpuDevicesView).update_devices(sample.ts, sample.gpus)
        if self._run_ended:
            self._show_ended()  # a sample journaled after the end is still the last one

    def on_mount(self) -> None:
        self._show_ended()
        if self._last is not None:
            last, self._last = self._last, None
            self._samples.pop()
            self.update_sample(last)
