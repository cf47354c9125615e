"""The GPU screen (``mletui gpu``): every GPU and every run on one page, for a quick look.

Per GPU, sparklines of utilisation and memory over the last minutes; the processes on the GPUs
with the run each belongs to; every live run with its own GPU share, CPU, memory and stall flags.
This screen samples NVML itself (a thread worker, 1 Hz by default), so it works with no run at all.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from mletui.core.events import GpuProcess, ResourceSample, StallFlag, state_text
from mletui.core.records import decode
from mletui.core.sanitize import clean_text
from mletui.gpu.attribution import PidAttributor, live_runs
from mletui.gpu.nvml import GpuReading, GpuSampler, interval_from_env
from mletui.gpu.resources import share
from mletui.run.stalls import flag_label, track_stall
from mletui.store.journal import JournalFollower
from mletui.store.runs import RunFolder, list_runs
from mletui.tui.format import component_style, gib, human_bytes, na
from mletui.tui.widgets.gpu_view import GpuDevicesView
from mletui.tui.widgets.too_small import TooSmall
from mletui.watch.livestate import read_status

RUNS_EVERY_S = 2.0  # run states, CPU and memory are read this often (they change slowly)
PROCESS_COLUMNS = ("gpu", "pid", "process", "run", "memory", "util")
RUN_COLUMNS = ("run", "task", "state", "gpu util", "gpu mem", "cpu", "memory", "flags")


@dataclass(frozen=True)
class RunRow:
    """One live run as the GPU screen shows it."""

    run_id: str
    task: str
    state: str
    gpu_util: str
    gpu_memory: str
    cpu: str
    memory: str
    flags: str


class GpuUpdate(Message):
    """One sample of every GPU (processes attributed to runs), and the runs' rows."""

    def __init__(self, reading: GpuReading, runs: list[RunRow] | None) -> None:
        super().__init__()
        self.reading = reading
        self.runs = runs


class _RunJournal:
    """The latest resources entry and the raised stall flags of one run, read incrementally."""

    def __init__(self, folder: RunFolder) -> None:
        self.follower = JournalFollower(folder.journal_path)
        self.resources: ResourceSample | None = None
        self.stalls: dict[str, StallFlag] = {}

    def read(self) -> None:
        while True:
            entries, _ = self.follower.read_new()
            if not entries:
                return
            for record in map(decode, entries):
                match record:
                    case ResourceSample():
                        self.resources = record
                    case StallFlag():
                        track_stall(self.stalls, record)


class GpuScreen(Screen[None]):
    CSS_PATH = "../styles/gpu.tcss"
    COMPONENT_CLASSES: ClassVar[set[str]] = {"gpu-screen--flags"}

    BINDINGS = [Binding("q,escape", "close", "Back/Quit")]

    def __init__(self, *, nvml: Any | None = None, interval_s: float | None = None) -> None:
        super().__init__()
        self._nvml = nvml  # None: the real NVML (tests give a replay of recorded readings)
        self.interval_s = interval_from_env() if interval_s is None else interval_s
        self.last_reading: GpuReading | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("mletui · GPUs", style="bold"), id="gpu-title")
        yield Static(Text("reading the GPUs…"), id="gpu-problem")
        yield GpuDevicesView(show_run=False, id="gpu-devices")
        yield Static("Processes on the GPUs", classes="gpu-heading")
        yield DataTable(id="gpu-processes", cursor_type="row", zebra_stripes=True)
        yield Static("Runs", classes="gpu-heading")
        yield DataTable(id="gpu-runs", cursor_type="row", zebra_stripes=True)
        yield TooSmall()
        yield Footer()

    def on_resize(self, event: events.Resize) -> None:
        self.query_one(TooSmall).fit(event.size.width, event.size.height)

    def on_mount(self) -> None:
        for table_id, columns in (("#gpu-processes", PROCESS_COLUMNS), ("#gpu-runs", RUN_COLUMNS)):
            table = self.query_one(table_id, DataTable)
            for column in columns:
                table.add_column(column, key=column)
        self._sample()

    @work(thread=True, exclusive=True, group="gpu", name="gpu-sampler")
    def _sample(self) -> None:
        worker = get_current_worker()
        sampler = GpuSampler(self._nvml, replay_pids=_newest_agent)
        attributor = PidAttributor()
        journals: dict[str, _RunJournal] = {}
        folders: dict[str, RunFolder] = {}
        runs_at: float | None = None
        try:
            while not worker.is_cancelled:
                started = time.monotonic()
                reading = sampler.sample()
                rows = None
                if runs_at is None or started - runs_at >= RUNS_EVERY_S:
                    runs_at = started
                    folders = {f.id: f for f in list_runs()}
                    attributor.set_runs(live_runs(folders.values()))
                reading = replace(reading, processes=attributor.attribute(reading.processes))
                if runs_at == started:
                    rows = self._run_rows(attributor, folders, journals, reading)
                if not worker.is_cancelled:
                    self.post_message(GpuUpdate(reading, rows))
                elapsed = time.monotonic() - started
                time.sleep(max(0.05, self.interval_s - elapsed))
        finally:
            sampler.close()

    def _run_rows(
        self,
        attributor: PidAttributor,
        folders: dict[str, RunFolder],
        journals: dict[str, _RunJournal],
        reading: GpuReading,
    ) -> list[RunRow]:
        rows = []
        now = time.time()
        for run in attributor.runs:
            folder = folders.get(run.run_id)
            if folder is None:
                continue
            journal = journals.setdefault(run.run_id, _RunJournal(folder))
            try:
                journal.read()
                record = folder.read()
                state = state_text(read_status(folder, record))
            except (OSError, ValueError):
                continue
            if run.remote:
                util = mem = "remote"
            elif reading.problem:
                util = mem = "n/a"
            elif not (mine := [p for p in reading.processes if p.run_id == run.run_id]):
                util = mem = "-"  # no process of this run is on a GPU
            else:
                used = share(mine)
                util = na(used["run_utilization"], lambda v: f"{v:.0f}%")
                mem = na(used["run_memory"], lambda v: f"{gib(v)} GiB")
            cpu = memory = "-"
            if journal.resources is not None:
                cpu = f"{journal.resources.cpu_percent:.0f}%"
                memory = human_bytes(journal.resources.rss_bytes)
            flags = " · ".join(flag_label(f, now) for f in journal.stalls.values())
            rows.append(RunRow(run.run_id, record.task, state, util, mem, cpu, memory, flags))
        for gone in [k for k in journals if k not in {r.run_id for r in attributor.runs}]:
            del journals[gone]
        return rows

    def on_gpu_update(self, message: GpuUpdate) -> None:
        reading = message.reading
        self.last_reading = reading
        title = "mletui · GPUs"
        if reading.driver:
            title += f" · driver {reading.driver}"
        title += f" · every {self.interval_s:g} s"
        self.query_one("#gpu-title", Static).update(Text(title, style="bold"))
        problem = self.query_one("#gpu-problem", Static)
        problem.update(Text(reading.problem or ""))
        problem.display = bool(reading.problem)
        self.query_one(GpuDevicesView).update_devices(reading.ts, reading.devices)
        self._fill_processes(reading.processes)
        if message.runs is not None:
            self._fill_runs(message.runs)

    def _fill_processes(self, processes: tuple[GpuProcess, ...]) -> None:
        table = self.query_one("#gpu-processes", DataTable)
        rows: dict[str, tuple[str | Text, ...]] = {
            f"{p.device}:{p.pid}": (
                f"GPU{p.device}",
                str(p.pid),
                Text(clean_text(p.name) or "?"),  # the agent names its processes: plain text
                p.run_id or "—",
                na(p.memory, lambda v: f"{gib(v)} GiB"),
                na(p.utilization, lambda v: f"{v:.0f}%"),
            )
            for p in processes
        }
        _sync(table, PROCESS_COLUMNS, rows)

    def _fill_runs(self, runs: list[RunRow]) -> None:
        table = self.query_one("#gpu-runs", DataTable)
        flags = component_style(self, "gpu-screen--flags")
        rows: dict[str, tuple[str | Text, ...]] = {
            r.run_id: (
                r.run_id,
                Text(r.task),
                r.state,
                r.gpu_util,
                r.gpu_memory,
                r.cpu,
                r.memory,
                Text(r.flags, style=flags) if r.flags else "",
            )
            for r in runs
        }
        _sync(table, RUN_COLUMNS, rows)

    def action_close(self) -> None:
        self.workers.cancel_group(self, "gpu")
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()  # back to the runs overview
        else:
            self.app.exit()


def _newest_agent() -> dict[str, int]:
    """A replayed recording's "agent" is the newest live run's agent (demos only)."""
    for run in reversed(live_runs(list_runs())):
        for pid in run.pgids:
            return {"agent": pid}
    return {}


def _sync(
    table: DataTable[Any], columns: tuple[str, ...], rows: Mapping[str, tuple[str | Text, ...]]
) -> None:
    """Make ``table`` show ``rows`` (by key), touching only the cells that changed."""
    for key, row in rows.items():
        if key in table.rows:
            for column, value in zip(columns, row, strict=True):
                if table.get_cell(key, column) != value:
                    table.update_cell(key, column, value, update_width=True)
        else:
            table.add_row(*row, key=key)
    for row_key in list(table.rows):
        if row_key.value not in rows:
            table.remove_row(row_key)
