"""Benchmark: the runs overview at scale. 500 and 2,000 ended runs plus 5 live ones printing.

Each size in a fresh interpreter (a watcher is one app in one process) with its own MLETUI_HOME:
the ended runs made as ``bench_scale`` makes them (a journal of 220 entries, copied run to run),
then 5 real agents started with ``start_run`` that print a line and pass a checkpoint every
0.1 s. The real app runs headless (Pilot) on the overview, and is timed:

- first frame: from the app's start to the first frame written with every run in the table;
- CPU: this process's CPU time (every thread) over ``--steady`` seconds of the overview idle;
- keys: Down (the cursor one row on), and filter keystrokes (a letter of a run's id typed, then
  erased), each from the press to the first frame written with its effect: p50, p99, max.

Targets (issue 18): at 500 runs the watcher under 10 % of a core, the first frame under 1 s, a key
within 50 ms p99; at 2,000 runs, no key over 100 ms. Printed as ratios: under 1 meets the target.

    python benchmarks/bench_overview.py [--runs 500 2000] [--presses 60] [--steady 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import conditions, frame_probe, in_child, percentile

LIVE = 5
SIZE = (160, 48)
TARGETS = {  # runs -> (cpu fraction of a core, first frame s, key p99 s, key max s)
    500: (0.10, 1.0, 0.050, None),
    2000: (None, None, None, 0.100),
}
PRINTER = (
    "from mletui import protocol; import time; protocol.hello('printer')\n"
    "for n in range(100000):\n"
    "    print('line', n, flush=True); protocol.checkpoint(); time.sleep(0.1)\n"
)


def _live(home: Path) -> list[Any]:
    from mletui.grading.tasks import resolve_task
    from mletui.run.launcher import start_run

    script = home / "printer.py"
    script.write_text(PRINTER)
    folders = [
        start_run(resolve_task("digits"), agent_cmd=f"{sys.executable} {script}")
        for _ in range(LIVE)
    ]
    deadline = time.monotonic() + 60
    while not all((f.control / "hello.json").exists() for f in folders):
        if time.monotonic() > deadline:
            raise RuntimeError("the live agents never said hello")
        time.sleep(0.1)
    return folders


def child(count: int, presses: int, steady: float) -> dict[str, Any]:
    import bench_scale
    import psutil

    home = Path(tempfile.mkdtemp(prefix="mletui-bench-overview-"))
    os.environ["MLETUI_HOME"] = str(home)
    os.environ["MLETUI_CONFIG_DIR"] = str(home / "config")
    bench_scale.populate(count)
    folders = _live(home)
    try:
        figures = asyncio.run(_drive(count + LIVE, presses, steady, psutil.Process()))
        figures["again"] = asyncio.run(_launched_again(count + LIVE))
        return figures
    finally:
        from mletui.watch.control import RunControl

        for folder in folders:
            RunControl(folder, "bench").kill(1.0)


async def _drive(total: int, presses: int, steady: float, me: Any) -> dict[str, Any]:
    from textual.widgets import DataTable

    from mletui.tui.app import MletuiApp
    from mletui.tui.screens.overview import OverviewScreen

    frame = frame_probe()
    t0 = time.perf_counter()
    app = MletuiApp(operator="bench")

    def table() -> Any:
        screen = app.screen
        if not isinstance(screen, OverviewScreen):
            return None
        return screen.query_one(DataTable)

    frame.arm(lambda: table() is not None and table().row_count == total)
    async with app.run_test(size=SIZE) as pilot:
        first = await frame.wait(timeout=120) - t0
        screen = app.screen
        assert isinstance(screen, OverviewScreen)
        data = table()
        await pilot.pause(2.0)

        cpu0, wall0 = me.cpu_times(), time.perf_counter()
        await asyncio.sleep(steady)
        cpu1, wall1 = me.cpu_times(), time.perf_counter()
        cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (wall1 - wall0)

        async def timed(key: str, effect: Any) -> float:
            frame.arm(effect)
            start = time.perf_counter()
            press = asyncio.create_task(pilot.press(key))
            drawn = await frame.wait(timeout=30)
            await press
            await asyncio.sleep(0.03)  # a person's pace: the refresh may fall between keys
            return drawn - start

        moves = []
        for _ in range(presses):
            want = data.cursor_row + 1
            moves.append(await timed("down", lambda w=want: data.cursor_row == w))

        await pilot.press("slash")
        await pilot.pause(0.2)
        needle = next(key for key in screen.rows if key != "")[:3]
        typed = []

        def showing(text: str) -> Any:
            def done() -> bool:
                wanted = sum(1 for row in screen.rows.values() if row.matches(text))
                return screen.filter == text and data.row_count == wanted

            return done

        while len(typed) < presses:
            for n in range(1, len(needle) + 1):
                typed.append(await timed(needle[n - 1], showing(needle[:n])))
            for n in range(len(needle) - 1, -1, -1):
                typed.append(await timed("backspace", showing(needle[:n])))
        return {"runs": total, "first": first, "cpu": cpu, "move": moves, "filter": typed}


async def _launched_again(total: int) -> float:
    """The first frame of the next launch, the summaries in the on-disk cache the first filled;
    what this process kept in memory is dropped, as a new process would not have it."""
    from textual.widgets import DataTable

    from mletui.store import runs
    from mletui.tui.app import MletuiApp
    from mletui.tui.screens.overview import OverviewScreen
    from mletui.watch import livestate

    runs._READ.clear()
    livestate._ENDED.clear()
    livestate._FOLLOWED.clear()
    frame = frame_probe()
    t0 = time.perf_counter()
    app = MletuiApp(operator="bench")

    def full() -> bool:
        screen = app.screen
        return isinstance(screen, OverviewScreen) and screen.query_one(DataTable).row_count == total

    frame.arm(full)
    async with app.run_test(size=SIZE):
        return await frame.wait(timeout=120) - t0  # type: ignore[no-any-return]


def _report(figures: list[dict[str, Any]]) -> None:
    for f in figures:
        print(f"{f['runs']:>6} runs: first frame of the next launch {f['again'] * 1000:.0f} ms")
    print(f"\n{'runs':>6}{'first frame':>13}{'CPU':>8}  {'key':8}{'p50':>9}{'p99':>9}{'max':>9}")
    for f in figures:
        for n, kind in enumerate(("move", "filter")):
            lead = f"{f['runs']:>6}{f['first'] * 1000:>10.0f} ms{f['cpu'] * 100:>7.1f}%"
            samples = f[kind]
            print(
                (lead if n == 0 else " " * len(lead))
                + f"  {kind:8}"
                + "".join(
                    f"{v * 1000:>6.1f} ms"
                    for v in (percentile(samples, 0.5), percentile(samples, 0.99), max(samples))
                )
            )
    print("\nratios against the targets (under 1: met)")
    for f in figures:
        ended = f["runs"] - LIVE
        target = TARGETS.get(ended)
        if target is None:
            continue
        cpu, first, p99, worst = target
        keys = f["move"] + f["filter"]
        if cpu is not None:
            share = f"{cpu * 100:.0f} % of a core"
            print(f"  {ended} runs: CPU {f['cpu'] / cpu:.2f} x (target {share})")
        if first is not None:
            print(f"  {ended} runs: first frame {f['first'] / first:.2f} x (target {first:g} s)")
            again = f["again"] / first
            print(f"  {ended} runs: first frame, next launch {again:.2f} x (target {first:g} s)")
        if p99 is not None:
            print(f"  {ended} runs: key p99 {percentile(keys, 0.99) / p99:.2f} x (target 50 ms)")
        if worst is not None:
            print(f"  {ended} runs: slowest key {max(keys) / worst:.2f} x (target 100 ms)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--presses", type=int, default=60)
    parser.add_argument("--steady", type=float, default=20.0)
    parser.add_argument("--child", type=int)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.presses, args.steady)))
        return
    figures = [
        in_child(
            "bench_overview.py",
            str(n),
            "--presses",
            str(args.presses),
            "--steady",
            str(args.steady),
        )
        for n in args.runs
    ]
    print(json.dumps(conditions()))
    _report(figures)


if __name__ == "__main__":
    main()
