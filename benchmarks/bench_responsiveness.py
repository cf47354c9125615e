"""Benchmark 2, responsiveness during a flood: event-loop lag and key press to screen.

A producer floods the watched run (the throughput benchmark's, printing until it is stopped);
meanwhile, first, a task in the app's event loop measures how late a 5 ms sleep wakes up (the
lag), with no key pressed; then Pilot presses keys whose effect is visible, each timed from the
press to the first frame drawn with its effect:

- keys that act in place: ``g`` (the first line of the log, read back from the spool) and ``f``
  (follow the tail again);
- keys that open and close a dialog: ``?`` (the help), Esc (closes it): a new screen to compose
  and lay out, costly in Textual whatever the log does.

The same with the run idle, for comparison. Target: p99 below 50 ms during the flood.

    python benchmarks/bench_responsiveness.py [--reps 3] [--presses 48] [--lag-seconds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from common import (
    SIZE,
    Producer,
    Result,
    end_run,
    frame_probe,
    in_child,
    log_view,
    percentile,
    settle,
    start_producer_run,
    watch_app,
)

LAG_SLEEP_S = 0.005
FLOOD_LINES = 100_000_000  # more than it can print while measured: stopped at the end
IN_PLACE = ("g", "f")
DIALOG = ("question_mark", "escape")


def _cycle(app: Any, watch: Any, log: Any) -> list[tuple[str, Any]]:
    from mletui.tui.dialogs import HelpScreen

    return [
        ("g", lambda: not log.following),
        ("f", lambda: log.following),
        ("question_mark", lambda: isinstance(app.screen, HelpScreen)),
        ("escape", lambda: app.screen is watch),
    ]


def measure(
    flood: bool, presses: int, lag_seconds: float
) -> tuple[list[float], dict[str, list[float]], int]:
    """(event-loop lags, key latencies by key, lines that arrived while measuring), seconds."""
    producer = Producer(FLOOD_LINES, "print")
    folder = start_producer_run(producer)

    async def watch() -> tuple[list[float], dict[str, list[float]], int]:
        app = watch_app(folder)
        frame = frame_probe()
        lags: list[float] = []
        latencies: dict[str, list[float]] = {}
        async with app.run_test(size=SIZE) as pilot:
            log = await log_view(app)
            watch_screen = app.screen
            producer.wait_ready()
            while log.line_count < 1:
                await asyncio.sleep(0.01)
            await settle(app)
            cycle = _cycle(app, watch_screen, log)
            for key, effect in cycle:  # once untimed: first use (styles of a new screen) warms up
                frame.arm(effect)
                await pilot.press(key)
                await frame.wait(timeout=30)
            await pilot.pause(0.2)
            before = log.line_count
            if flood:
                producer.start()
                while log.line_count < before + 10_000:  # the flood is on
                    await asyncio.sleep(0.005)
            deadline = time.perf_counter() + lag_seconds
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                await asyncio.sleep(LAG_SLEEP_S)
                lags.append(time.perf_counter() - t - LAG_SLEEP_S)
            # The keys that act in place first, then the dialogs (whose closing redraws the
            # whole screen: a key right after it would wait for that, and be timed with it).
            in_place = [c for c in cycle if c[0] in IN_PLACE]
            dialog = [c for c in cycle if c[0] in DIALOG]
            half = presses // 2
            order = [in_place[i % len(in_place)] for i in range(half)]
            order += [dialog[i % len(dialog)] for i in range(presses - half)]
            for key, effect in order:
                frame.arm(effect)
                t0 = time.perf_counter()
                press = asyncio.create_task(pilot.press(key))
                t1 = await frame.wait(timeout=30)
                latencies.setdefault(key, []).append(t1 - t0)
                # Pilot waits for the app to go idle after a key: never, in a flood. The key has
                # done its work (its frame is drawn): stop waiting.
                press.cancel()
                await asyncio.sleep(0.05)
            arrived = log.line_count - before
        return lags, latencies, arrived

    try:
        return asyncio.run(watch())
    finally:
        from mletui.watch.control import RunControl

        RunControl(folder, "bench").kill(1.0)
        end_run(folder)


def run(reps: int = 3, presses: int = 48, lag_seconds: float = 2.0) -> Result:
    print(
        f"responsiveness: {lag_seconds:g} s of lag samples and {presses} key presses per rep, "
        f"idle and in a flood, {reps} reps",
        flush=True,
    )
    pooled: dict[str, dict[str, list[float]]] = {
        side: {"lag": [], "in place": [], "dialog": []} for side in ("idle", "flood")
    }
    sides: dict[str, list[float]] = {}
    arrivals: list[int] = []
    for rep in range(reps):
        for flood in (False, True) if rep % 2 == 0 else (True, False):
            name = "flood" if flood else "idle"
            data = in_child(
                "bench_responsiveness.py",
                "--flood" if flood else "--idle",
                "--presses",
                str(presses),
                "--lag-seconds",
                str(lag_seconds),
            )
            lags, keys, arrived = data["lags"], data["latencies"], data["arrived"]
            in_place = [v for k in IN_PLACE for v in keys.get(k, [])]
            dialog = [v for k in DIALOG for v in keys.get(k, [])]
            pooled[name]["lag"] += lags
            pooled[name]["in place"] += in_place
            pooled[name]["dialog"] += dialog
            for kind, samples in (("lag", lags), ("in place", in_place), ("dialog", dialog)):
                label = f"{kind} p99 {name} (ms)"
                sides.setdefault(label, []).append(percentile(samples, 0.99) * 1000)
            if flood:
                arrivals.append(arrived)
            print(
                f"    {name}: lag p99 {percentile(lags, 0.99) * 1000:.1f} ms; keys in place "
                f"p50 {percentile(in_place, 0.5) * 1000:.1f} / p99 "
                f"{percentile(in_place, 0.99) * 1000:.1f} ms; dialog keys p50 "
                f"{percentile(dialog, 0.5) * 1000:.1f} / p99 {percentile(dialog, 0.99) * 1000:.1f}"
                " ms" + (f"; {arrived:,} lines arrived meanwhile" if flood else ""),
                flush=True,
            )
    ordered = {
        label: sides[label]
        for kind in ("lag", "in place", "dialog")
        for label in (f"{kind} p99 idle (ms)", f"{kind} p99 flood (ms)")
    }
    flood_pool = pooled["flood"]
    lag_p99 = percentile(flood_pool["lag"], 0.99) * 1000
    keys_p99 = percentile(flood_pool["in place"], 0.99) * 1000
    dialog_p99 = percentile(flood_pool["dialog"], 0.99) * 1000
    result = Result(
        name="responsiveness during a flood",
        unit="ms",
        sides=ordered,
        ratio_of=("in place p99 flood (ms)", "in place p99 idle (ms)"),
        target="p99 < 50 ms during the flood (event-loop lag; key press to frame)",
        passed=lag_p99 < 50 and keys_p99 < 50,
    )
    result.notes.append(
        f"pooled over the reps, during the flood: lag p99 {lag_p99:.1f} ms "
        f"({len(flood_pool['lag'])} samples); keys in place p99 {keys_p99:.1f} ms "
        f"({len(flood_pool['in place'])} presses); dialog keys p99 {dialog_p99:.1f} ms "
        f"({len(flood_pool['dialog'])} presses; idle: "
        f"{percentile(pooled['idle']['dialog'], 0.99) * 1000:.1f} ms)"
    )
    result.notes.append(f"lines that arrived while measuring, per flood: {arrivals}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--presses", type=int, default=48)
    parser.add_argument("--lag-seconds", type=float, default=2.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--flood", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--idle", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        lags, latencies, arrived = measure(args.flood, args.presses, args.lag_seconds)
        print(json.dumps({"lags": lags, "latencies": latencies, "arrived": arrived}))
        return
    run(args.reps, args.presses, args.lag_seconds).print()


if __name__ == "__main__":
    main()
