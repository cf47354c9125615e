"""Benchmark: the run store at scale. ``mletui ls`` and a run's lookup with 10 and 2,000 runs.

Ended runs of the bundled digits task, each with a journal of a few hundred entries (scores,
resources, actions), in a fresh MLETUI_HOME. Timed: ``mletui ls`` as a subprocess (best of
``--reps``), and resolving one run's id in-process (the full scan ``show`` does today, and the
name-only lookup of :func:`mletui.store.runs.resolve_run`). Prints the figures and the ratios
2,000 : 10 (targets: ``ls`` under 0.5 s at 2,000 runs; a lookup within 1.2 x).

    python benchmarks/bench_scale.py [--runs 10 2000] [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mletui.core.events import ResourceSample, RunState, Score
from mletui.store.journal import Journal


def populate(count: int) -> list[str]:
    from mletui.store.runs import create_run_folder, make_record

    ids = []
    for n in range(count):
        record = make_record("digits", "/tasks/digits", "cmd", ["sleep", "1"], "local", 3600.0)
        folder = create_run_folder(record)
        journal = Journal(folder.journal_path)
        for step in range(20):
            journal.write(Score(0.0, step, "accuracy", 0.5 + step / 100, "higher"))
        for _ in range(200):
            journal.write(ResourceSample(0.0, 50.0, 1 << 30, 3, ""))
        with folder.updating() as rec:
            rec.state = RunState.EXITED
            rec.started, rec.ended, rec.exit_code = rec.created, rec.created + 60, 0
        ids.append(record.id)
        if n % 500 == 499:
            print(f"  {n + 1} runs made", file=sys.stderr)
    return ids


def best_of(reps: int, call: object) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        call()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(count: int, reps: int) -> dict[str, float]:
    from mletui.store.runs import resolve_run, scan_runs

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLETUI_HOME"] = str(Path(tmp) / "home")
        os.environ["MLETUI_CONFIG_DIR"] = str(Path(tmp) / "config")
        ids = populate(count)
        target = ids[len(ids) // 2]
        ls = [sys.executable, "-m", "mletui", "ls"]
        figures = {
            "ls": best_of(reps, lambda: subprocess.run(ls, capture_output=True, check=True)),
            "lookup (full scan)": best_of(reps * 5, lambda: resolve_run(target, scan_runs())),
            "lookup (by name)": best_of(reps * 5, lambda: resolve_run(target)),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, nargs=2, default=[10, 2000])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    small, large = (measure(n, args.reps) for n in args.runs)
    print(f"{'':22}{args.runs[0]:>10} runs{args.runs[1]:>10} runs{'ratio':>10}")
    for name in small:
        ratio = large[name] / small[name]
        a, b = small[name] * 1000, large[name] * 1000
        print(f"{name:22}{a:>12.1f} ms{b:>12.1f} ms{ratio:>9.2f}x")


if __name__ == "__main__":
    main()
