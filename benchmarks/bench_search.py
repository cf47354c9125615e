"""Benchmark 5, search: the first highlighted match at the start of a 2,000,000-line history.

The watch screen is attached to an ended run of 2,000,000 numbered lines, following its tail;
the only line with ``the-needle-xyz`` is near the start. Pilot types ``/the-needle-xyz`` and
Enter; timed from Enter to the first frame whose log pane shows that line highlighted (the search
runs back through the whole spool). For scale, the raw side: the whole spool read and searched
from its end for the same bytes. Target: under 0.5 s.

    python benchmarks/bench_search.py [--lines 2000000] [--reps 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from common import (
    SIZE,
    Result,
    finished_run,
    in_child,
    log_view,
    row_probe,
    settle,
    watch_app,
)

NEEDLE = "the-needle-xyz"


def raw_scan(path: object) -> float:
    t0 = time.perf_counter()
    with open(path, "rb") as f:  # type: ignore[call-overload]
        found = f.read().rfind(NEEDLE.encode())  # from the end, as the pane searches
    assert found >= 0
    return time.perf_counter() - t0


def child(run_id: str, reps: int) -> None:
    """One watcher process: attach, then search again and again, the raw scan in between."""
    from mletui.store.runs import resolve_run

    folder = resolve_run(run_id)
    timings: dict[str, list[float]] = {"mletui": [], "raw": []}

    async def session() -> None:
        app = watch_app(folder)
        probe = row_probe()
        async with app.run_test(size=SIZE) as pilot:
            log = await log_view(app)
            while log.history is None or not log.history.loaded:
                await asyncio.sleep(0.01)
            await settle(app)
            for rep in range(reps + 1):  # the first one warms up
                log.follow()
                log.clear_search()
                await pilot.pause(0.2)
                raw = raw_scan(folder.log_path)
                await pilot.press("slash", *NEEDLE)
                probe.arm(NEEDLE, lambda view, text: view.pointer is not None)
                t0 = time.perf_counter()
                await pilot.press("enter")
                t1 = await probe.wait(timeout=60)
                if rep:
                    timings["mletui"].append(t1 - t0)
                    timings["raw"].append(raw)

    asyncio.run(session())
    print(json.dumps(timings))


def run(lines: int = 2_000_000, reps: int = 7) -> Result:
    print(f"search: {lines:,} lines of history, needle at the start, {reps} reps", flush=True)
    folder = finished_run(lines, needle_at=2)
    timings = in_child("bench_search.py", folder.id, str(reps))
    for mletui_s, raw_s in zip(timings["mletui"], timings["raw"], strict=True):
        print(f"    mletui: {mletui_s:.4g}   raw: {raw_s:.4g}", flush=True)
    mletui = "mletui (Enter to highlighted match)"
    result = Result(
        name=f"search, {lines:,} lines, match at the start",
        unit="s",
        sides={mletui: timings["mletui"], "raw (read + find)": timings["raw"]},
        ratio_of=(mletui, "raw (read + find)"),
        target="< 0.5 s",
    )
    result.passed = result.median(mletui) < 0.5
    result.notes.append(f"spool: {folder.log_path.stat().st_size / 1e6:.0f} MB")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--child", nargs=2, metavar=("RUN_ID", "REPS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    run(args.lines, args.reps).print()


if __name__ == "__main__":
    main()
