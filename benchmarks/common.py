"""What the log benchmarks share: a scratch MLETUI_HOME, the producer, runs, frame probes, stats.

Each benchmark runs its two sides in the same process run, alternating, several times, and prints
the median of each side and their ratio. Nothing here is a unit test: the figures depend on the
machine and on what else runs on it, so :func:`conditions` says what that was.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PRODUCER = HERE / "producer.py"
PYTHON = sys.executable

# Runs go to a scratch home, never the user's (set before mletui reads it).
if "MLETUI_BENCH_HOME" not in os.environ:
    os.environ["MLETUI_BENCH_HOME"] = tempfile.mkdtemp(prefix="mletui-bench-")
os.environ["MLETUI_HOME"] = os.environ["MLETUI_BENCH_HOME"]
# The producer's buffering is its style's business (see producer.py), not this shell's.
os.environ.pop("PYTHONUNBUFFERED", None)

from mletui.core.events import Stream  # noqa: E402
from mletui.grading.tasks import resolve_task  # noqa: E402
from mletui.run.launcher import start_run  # noqa: E402
from mletui.store.runs import RunFolder  # noqa: E402
from mletui.store.spool import LogSpool  # noqa: E402
from mletui.tui.widgets.log_view import LogView  # noqa: E402
from mletui.watch.livestate import read_status  # noqa: E402

SIZE = (160, 48)


# ------------------------------------------------------------------------------------- results


@dataclass
class Result:
    """One benchmark's figures: each side's samples, medians, their ratio, the target."""

    name: str
    unit: str
    sides: dict[str, list[float]]
    ratio_of: tuple[str, str] | None  # (numerator, denominator) sides
    target: str
    passed: bool | None = None
    notes: list[str] = field(default_factory=list)

    def median(self, side: str) -> float:
        return statistics.median(self.sides[side])

    @property
    def ratio(self) -> float | None:
        if self.ratio_of is None:
            return None
        num, den = self.ratio_of
        return self.median(num) / self.median(den)

    def print(self) -> None:
        print(f"\n== {self.name}")
        for side, samples in self.sides.items():
            shown = ", ".join(f"{s:.4g}" for s in samples)
            print(f"  {side:<34} median {self.median(side):>10.4g} {self.unit}   [{shown}]")
        if self.ratio is not None:
            print(f"  ratio {self.ratio_of[0]} / {self.ratio_of[1]}: {self.ratio:.3f}")  # type: ignore[index]
        verdict = "" if self.passed is None else ("PASS" if self.passed else "FAIL")
        print(f"  target: {self.target}  {verdict}")
        for note in self.notes:
            print(f"  note: {note}")
        sys.stdout.flush()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["medians"] = {side: self.median(side) for side in self.sides}
        data["ratio"] = self.ratio
        return data


def percentile(samples: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``samples``, nearest rank."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))
    return ordered[k]


def alternate(
    reps: int, sides: dict[str, Callable[[], float]], *, warmup: bool = True
) -> dict[str, list[float]]:
    """Each side ``reps`` times, alternating (ABAB..., the order flipped every other round)."""
    names = list(sides)
    if warmup:
        for name in names:
            sides[name]()
    out: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        order = names if rep % 2 == 0 else names[::-1]
        for name in order:
            value = sides[name]()
            out[name].append(value)
            print(f"    {name}: {value:.4g}", flush=True)
    return out


def conditions() -> dict[str, Any]:
    """The machine and its load while the benchmarks ran."""
    import psutil

    others = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid", "name", "cpu_percent", "cmdline"]):
        try:
            if proc.pid != me and (proc.info["cpu_percent"] or 0) > 0:
                others.append(proc)
        except psutil.Error:
            continue
    time.sleep(0.5)
    busy = []
    for proc in others:
        try:
            cpu = proc.cpu_percent(None)
            if cpu >= 5:
                busy.append(f"{proc.info['name']} {cpu:.0f}%")
        except psutil.Error:
            continue
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or '?'}",
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "busy_processes": busy[:10],
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def in_child(script: str, *args: str) -> Any:
    """Run ``script --child ARGS`` in a fresh interpreter and return the JSON it printed last:
    a watcher is one app in one process, as a user runs it (apps run one after another in one
    process leave garbage, and their peak memory, to the next)."""
    out = subprocess.run(
        [PYTHON, str(HERE / script), "--child", *args], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"{script} --child {' '.join(args)} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_rss() -> int:
    """This process's peak resident memory in bytes (Linux: VmHWM, which exec resets, unlike
    ``ru_maxrss``, which keeps the parent's peak from before the fork)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def save(results: list[Result], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {"conditions": conditions(), "results": [r.to_json() for r in results]}, indent=2
        )
    )


# ------------------------------------------------------------------------------------ producer


@dataclass
class Producer:
    """``benchmarks/producer.py``: waits for its go file, then prints ``count`` numbered lines
    (``line 1`` .. ``line N``) as fast as its ``style`` lets it, and exits."""

    count: int
    style: str = "print"  # see producer.py: print, print-flush, block
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="producer-")))

    @property
    def ready(self) -> Path:
        return self.workdir / "ready"

    @property
    def go(self) -> Path:
        return self.workdir / "go"

    def argv(self) -> list[str]:
        return [PYTHON, str(PRODUCER), str(self.count), self.style, str(self.ready), str(self.go)]

    def command(self) -> str:
        return " ".join(f"'{a}'" for a in self.argv())

    def reset(self) -> None:
        for path in (self.ready, self.go):
            path.unlink(missing_ok=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("the producer never got ready")
            time.sleep(0.002)

    def start(self) -> float:
        """Tell it to go; the time it was told."""
        t0 = time.perf_counter()
        self.go.touch()
        return t0

    @property
    def last_line(self) -> str:
        return f"line {self.count}"


def read_raw(producer: Producer) -> float:
    """The raw side of a local source: the producer's stdout, read to its end, nothing done."""
    producer.reset()
    proc = subprocess.Popen(producer.argv(), stdout=subprocess.PIPE)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    producer.wait_ready()
    t0 = producer.start()
    total = 0
    while chunk := os.read(fd, 1 << 16):
        total += len(chunk)
    elapsed = time.perf_counter() - t0
    proc.wait()
    assert total > 0
    return elapsed


def start_producer_run(producer: Producer) -> RunFolder:
    producer.reset()
    return start_run(resolve_task("digits"), agent_cmd=producer.command())


def end_run(folder: RunFolder, remove: bool = True) -> None:
    """Wait for a run to end (kill it after a while), then drop its folder (spools are big)."""
    import shutil

    from mletui.watch.control import RunControl

    deadline = time.monotonic() + 60
    while not read_status(folder).state.ended:
        if time.monotonic() > deadline:
            with contextlib.suppress(Exception):
                RunControl(folder).kill(1.0)
            deadline = time.monotonic() + 30
        time.sleep(0.05)
    if remove:
        container = folder.read().container_id  # a docker run's: its log is as big as the spool
        if container:
            with contextlib.suppress(Exception):
                import docker

                docker.from_env().containers.get(container).remove(force=True)
        shutil.rmtree(folder.path, ignore_errors=True)


def write_history(folder: RunFolder, count: int, *, needle_at: int | None = None) -> None:
    """Append ``count`` numbered lines to a run's spool, fast (as LogSpool does for a flood)."""
    t0 = 1_700_000_000.0
    step = 100_000
    with LogSpool(folder.log_path) as spool:
        for first in range(1, count + 1, step):
            last = min(first + step - 1, count)
            block = b"".join(b"line %d\n" % i for i in range(first, last + 1))
            if needle_at is not None and first <= needle_at <= last:
                block = block.replace(
                    b"line %d\n" % needle_at, b"line %d the-needle-xyz\n" % needle_at, 1
                )
            spool.write_block(Stream.STDOUT, block, ts=t0 + first / 1000)


def finished_run(lines: int, *, needle_at: int | None = None) -> RunFolder:
    """A run that has ended, with ``lines`` numbered lines of history in its spool."""
    folder = start_run(resolve_task("digits"), agent_cmd="true")
    end_run(folder, remove=False)
    if lines:
        write_history(folder, lines, needle_at=needle_at)
    return folder


# ------------------------------------------------------------------------------ frame probes


class RowProbe:
    """When LogView first renders a row holding ``target`` (patches ``LogView.render_line``):
    the frame that shows it is being composed."""

    def __init__(self) -> None:
        self.target: str | None = None
        self.hit_at: float | None = None
        self.event = asyncio.Event()
        self.predicate: Callable[[LogView, str], bool] | None = None
        original = LogView.render_line
        probe = self

        def render_line(view: LogView, y: int) -> Any:
            strip = original(view, y)
            if probe.target is not None and probe.hit_at is None:
                text = strip.text
                if probe.target in text and (
                    probe.predicate is None or probe.predicate(view, text)
                ):
                    probe.hit_at = time.perf_counter()
                    probe.event.set()
            return strip

        LogView.render_line = render_line  # type: ignore[method-assign]

    def arm(self, target: str, predicate: Callable[[LogView, str], bool] | None = None) -> None:
        self.target, self.predicate, self.hit_at = target, predicate, None
        self.event = asyncio.Event()

    async def wait(self, timeout: float) -> float:
        await asyncio.wait_for(self.event.wait(), timeout)
        assert self.hit_at is not None
        return self.hit_at


class FrameProbe:
    """Times frames: patches ``App._display`` (what writes a frame to the terminal) so a test can
    wait for the first frame drawn once ``predicate()`` holds."""

    def __init__(self) -> None:
        from textual.app import App

        self.predicate: Callable[[], bool] | None = None
        self.hit_at: float | None = None
        self.event = asyncio.Event()
        self.frames = 0
        original = App._display
        probe = self

        def display(app: Any, screen: Any, renderable: Any) -> Any:
            result = original(app, screen, renderable)
            probe.frames += 1
            if probe.predicate is not None and probe.hit_at is None and probe.predicate():
                probe.hit_at = time.perf_counter()
                probe.event.set()
            return result

        App._display = display  # type: ignore[method-assign]

    def arm(self, predicate: Callable[[], bool]) -> None:
        self.predicate, self.hit_at = predicate, None
        self.event = asyncio.Event()

    async def wait(self, timeout: float) -> float:
        await asyncio.wait_for(self.event.wait(), timeout)
        assert self.hit_at is not None
        return self.hit_at


_probes: dict[str, Any] = {}


def row_probe() -> RowProbe:
    """The process's :class:`RowProbe` (patching twice would time twice)."""
    if "row" not in _probes:
        _probes["row"] = RowProbe()
    return _probes["row"]  # type: ignore[no-any-return]


def frame_probe() -> FrameProbe:
    """The process's :class:`FrameProbe`."""
    if "frame" not in _probes:
        _probes["frame"] = FrameProbe()
    return _probes["frame"]  # type: ignore[no-any-return]


def watch_app(folder: RunFolder) -> Any:
    from mletui.tui.app import MletuiApp

    return MletuiApp(run_id=folder.id, operator="bench")


async def settle(app: Any, timeout: float = 30.0) -> None:
    """Wait until the watch screen has read the run's state (and redrawn its footer for it):
    start-up work that is not what a benchmark times."""
    deadline = time.monotonic() + timeout
    while getattr(app.screen, "status", None) is None:
        if time.monotonic() > deadline:
            raise RuntimeError("the watch screen never read the run's state")
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)


async def log_view(app: Any, timeout: float = 30.0) -> LogView:
    deadline = time.monotonic() + timeout
    while True:
        found = app.screen.query(LogView)
        if found:
            return found.first()  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise RuntimeError("no log pane")
        await asyncio.sleep(0.001)
