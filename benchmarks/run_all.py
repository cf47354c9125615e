"""Run the five log benchmarks and print their figures, with a table for the README.

    python benchmarks/run_all.py [--quick] [--only throughput,search] [--reps-scale 2]
    mletui bench [same options]

``--quick``: smaller sizes and fewer repetitions (a smoke run, not figures to quote).
The figures depend on the machine and on what else runs on it: the conditions are printed and
saved with them in ``benchmarks/results.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_attach
import bench_memory
import bench_responsiveness
import bench_search
import bench_throughput
from common import HERE, Result, conditions, save


def plan(quick: bool, scale: float) -> dict[str, Callable[[], Result]]:
    def reps(n: int) -> int:
        return max(1, round(n * scale))

    small = 5 if quick else 1  # --quick: sizes divided by 5, a rep or two
    benches: dict[str, Callable[[], Result]] = {
        "throughput": lambda: bench_throughput.run(1_000_000 // small, reps(2 if quick else 5)),
    }
    benches.update(
        {
            "responsiveness": lambda: bench_responsiveness.run(
                reps(1 if quick else 3), 12 if quick else 48, 1.0 if quick else 2.0
            ),
            "memory": lambda: bench_memory.run(
                5_000_000 // small, 1_000_000 // small, reps(1 if quick else 3)
            ),
            "attach": lambda: bench_attach.run(2_000_000 // small, reps(2 if quick else 7)),
            "search": lambda: bench_search.run(2_000_000 // small, reps(3 if quick else 7)),
        }
    )
    # Last: the Engine goes on working after a container's flood (its log file, the container's
    # removal), which would otherwise run alongside the next benchmark.
    if bench_throughput.docker_image() is not None:  # an Engine answers, with the agent image
        benches["throughput-docker"] = lambda: bench_throughput.run(
            1_000_000 // (small * 2), reps(1 if quick else 3), "print", "docker"
        )
    return benches


def table(results: list[Result]) -> str:
    rows = [
        "| benchmark | sides (median) | ratio | target | result |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        sides = "; ".join(f"{side}: {r.median(side):.3g} {r.unit}" for side in r.sides)
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}"
        verdict = "" if r.passed is None else ("met" if r.passed else "not met")
        rows.append(f"| {r.name} | {sides} | {ratio} | {r.target} | {verdict} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run mletui's log benchmarks.")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", help="comma-separated names (throughput, search, ...)")
    parser.add_argument("--reps-scale", type=float, default=1.0, help="more (2) or fewer reps")
    args = parser.parse_args(argv)
    benches = plan(args.quick, args.reps_scale)
    chosen = args.only.split(",") if args.only else list(benches)
    unknown = [name for name in chosen if name not in benches]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; know {', '.join(benches)}")
    before = conditions()
    print(f"conditions: {before}", flush=True)
    results: list[Result] = []
    started = time.monotonic()
    for name in chosen:
        result = benches[name]()
        result.print()
        results.append(result)
    print(f"\nconditions after: {conditions()}")
    print(f"took {time.monotonic() - started:.0f} s\n")
    print(table(results))
    save(results, HERE / "results.json")
    return 0 if all(r.passed is not False for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
