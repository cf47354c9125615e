"""Benchmark 3, memory: the watcher's RSS after 1,000,000 lines and its peak after 5,000,000.

Each repetition is a fresh watcher process (the headless watch screen, ``run_test``) following a
run whose producer prints 5,000,000 numbered lines as fast as it can. It samples its own RSS when
the log pane has taken 1,000,000 lines and its peak RSS (``ru_maxrss``) once all 5,000,000 are in.
Target: peak after 5M <= 1.1 x RSS after 1M, and < 300 MB.

    python benchmarks/bench_memory.py [--lines 5000000] [--at 1000000] [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from common import (
    SIZE,
    Producer,
    Result,
    end_run,
    in_child,
    log_view,
    peak_rss,
    settle,
    start_producer_run,
    watch_app,
)

MB = 1024 * 1024


def child(lines: int, at: int) -> None:
    import psutil

    producer = Producer(lines, "print")
    folder = start_producer_run(producer)
    me = psutil.Process()

    async def watch() -> dict[str, float]:
        app = watch_app(folder)
        async with app.run_test(size=SIZE):
            log = await log_view(app)
            producer.wait_ready()
            await settle(app)
            start_rss = me.memory_info().rss
            producer.start()
            while log.line_count < at:
                await asyncio.sleep(0.01)
            rss_at = me.memory_info().rss
            while log.line_count < lines + 1:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.5)
            rss_end = me.memory_info().rss
            peak = peak_rss()
            return {"start": start_rss, "at": rss_at, "end": rss_end, "peak": peak}

    try:
        print(json.dumps(asyncio.run(watch())))
    finally:
        end_run(folder)


def run(lines: int = 5_000_000, at: int = 1_000_000, reps: int = 3) -> Result:
    print(f"memory: RSS at {at:,} lines, peak at {lines:,}, {reps} reps", flush=True)
    sides: dict[str, list[float]] = {
        "RSS before the flood (MB)": [],
        f"RSS after {at:,} lines (MB)": [],
        f"peak RSS after {lines:,} lines (MB)": [],
    }
    for _ in range(reps):
        data = in_child("bench_memory.py", "--lines", str(lines), "--at", str(at))
        sides["RSS before the flood (MB)"].append(data["start"] / MB)
        sides[f"RSS after {at:,} lines (MB)"].append(data["at"] / MB)
        sides[f"peak RSS after {lines:,} lines (MB)"].append(data["peak"] / MB)
        print(
            f"    start {data['start'] / MB:.1f} MB, at {at:,}: {data['at'] / MB:.1f} MB, "
            f"end {data['end'] / MB:.1f} MB, peak {data['peak'] / MB:.1f} MB",
            flush=True,
        )
    result = Result(
        name=f"memory, {at:,} vs {lines:,} lines",
        unit="MB",
        sides=sides,
        ratio_of=(f"peak RSS after {lines:,} lines (MB)", f"RSS after {at:,} lines (MB)"),
        target="peak after 5M <= 1.1 x after 1M, and < 300 MB",
    )
    peak = result.median(f"peak RSS after {lines:,} lines (MB)")
    result.passed = result.ratio is not None and result.ratio <= 1.1 and peak < 300
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=5_000_000)
    parser.add_argument("--at", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.lines, args.at)
        return
    run(args.lines, args.at, args.reps).print()


if __name__ == "__main__":
    sys.exit(main())
