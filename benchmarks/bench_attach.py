"""Benchmark 4, attach: the first frame showing the last line, for 2,000,000 lines of history.

Two ended runs: one with 2,000,000 numbered lines in its spool, one empty (only the supervisor's
start and end lines). Each repetition is a fresh watcher process: from creating the app to the
first frame of the headless watch screen (``run_test``) whose log pane shows the run's last line.
Sides alternate. Target: history / empty <= 1.2.

    python benchmarks/bench_attach.py [--lines 2000000] [--reps 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time

from common import (
    PYTHON,
    SIZE,
    Result,
    alternate,
    finished_run,
    log_view,
    row_probe,
    watch_app,
)


def child(run_id: str, target: str) -> None:
    from mletui.store.runs import resolve_run

    folder = resolve_run(run_id)
    probe = row_probe()

    async def attach() -> float:
        t0 = time.perf_counter()
        app = watch_app(folder)
        probe.arm(target)
        async with app.run_test(size=SIZE):
            await log_view(app)
            t1 = await probe.wait(timeout=120)
        return t1 - t0

    print(json.dumps({"seconds": asyncio.run(attach())}))


def last_line(folder: object) -> str:
    from mletui.store.spool import LogHistory

    history = LogHistory(folder.log_path)  # type: ignore[attr-defined]
    return history.poll()[-1].text


def attach_once(run_id: str, target: str) -> float:
    out = subprocess.run(
        [PYTHON, __file__, "--child", run_id, target], capture_output=True, text=True, check=True
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def run(lines: int = 2_000_000, reps: int = 7) -> Result:
    print(f"attach: {lines:,} lines of history vs an empty run, {reps} reps", flush=True)
    empty = finished_run(0)
    full = finished_run(lines)
    empty_target, full_target = last_line(empty), last_line(full)
    history = f"{lines:,} lines of history"
    sides = alternate(
        reps,
        {
            "empty run": lambda: attach_once(empty.id, empty_target),
            history: lambda: attach_once(full.id, full_target),
        },
    )
    result = Result(
        name=f"attach, {lines:,} lines of history",
        unit="s",
        sides=sides,
        ratio_of=(history, "empty run"),
        target="history / empty <= 1.2",
    )
    result.passed = result.ratio is not None and result.ratio <= 1.2
    size = full.log_path.stat().st_size
    result.notes.append(f"spool: {size / 1e6:.0f} MB; time from creating the app to the frame")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--child", nargs=2, metavar=("RUN_ID", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    run(args.lines, args.reps).print()


if __name__ == "__main__":
    sys.exit(main())
