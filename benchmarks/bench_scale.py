"""Benchmark: the run store at scale. ``mletui ls`` and ``show`` with 10 and 2,000 runs, and the
summary of a 24-hour run read from its journal and from the summary cache.

Ended runs of the bundled digits task in a fresh MLETUI_HOME, each with a journal of 220 entries
(20 scores, 200 resource samples; written once, then copied run to run: ``ls`` and ``show`` sum
a journal up without checking its macs, so the copies cost them what the real ones would).
Timed, best of ``--reps`` (``show`` 3 times as many), the two sizes taking turns try by try:
``mletui ls`` as a subprocess, with the summary cache filled (after one ``ls``) and empty;
``mletui show ID`` as a subprocess; an id resolved in-process by the full scan and by the
listing. Then one run with a day of
resource samples (43,200 entries, one every 2 s): its summary with the cache removed before each
try, and from the cache (each try as a new process makes it). Prints the figures and the ratios
(targets: ``ls`` of 2,000 runs under 0.5 s; ``show`` within 1.2 x of itself at 10 runs).

    python benchmarks/bench_scale.py [--runs 10 2000] [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mletui.core.events import ResourceSample, RunState, Score
from mletui.store.journal import Journal

LS_TARGET_S = 0.5
DAY_SAMPLES = 43_200


def _ended(journal_bytes: bytes | None = None) -> tuple[str, Path]:
    from mletui.store.runs import create_run_folder, make_record

    record = make_record("digits", "/tasks/digits", "cmd", ["sleep", "1"], "local", 3600.0)
    folder = create_run_folder(record)
    if journal_bytes is not None:
        folder.journal_path.write_bytes(journal_bytes)
    with folder.updating() as rec:
        rec.state = RunState.EXITED
        rec.started, rec.ended, rec.exit_code = rec.created, rec.created + 60, 0
    return record.id, folder.journal_path


def populate(count: int) -> list[str]:
    """``count`` ended runs; the first one's journal is written entry by entry, the rest copy it."""
    first, path = _ended()
    journal = Journal(path)
    for step in range(20):
        journal.write(Score(0.0, step, "accuracy", 0.5 + step / 100, "higher"))
    for _ in range(200):
        journal.write(ResourceSample(0.0, 50.0, 1 << 30, 3, ""))
    template = path.read_bytes()
    ids = [first]
    for n in range(1, count):
        ids.append(_ended(template)[0])
        if n % 500 == 499:
            print(f"  {n + 1} runs made", file=sys.stderr)
    return ids


def best_of(
    reps: int, call: Callable[[], object], before: Callable[[], object] | None = None
) -> float:
    times = []
    for _ in range(reps):
        if before is not None:
            before()
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return min(times)


def _mletui(*args: str) -> Callable[[], object]:
    command = [sys.executable, "-m", "mletui", *args]
    return lambda: subprocess.run(command, capture_output=True, check=True, env=_cached_bytecode())


def _cached_bytecode() -> dict[str, str]:
    """The environment with Python's compiled modules kept (in the benchmark's own folder), as
    an installed mletui has them: without, each try compiles every module it imports."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(Path(os.environ["MLETUI_CONFIG_DIR"]).parent / "pycache")
    return env


def measure(homes: list[Path], reps: int) -> list[dict[str, float]]:
    """Each figure for every home, the homes taking turns try by try (so that a burst of load
    on a shared machine falls on both sides): the best of each home's tries."""
    from mletui.store.runs import resolve_run, scan_runs
    from mletui.store.summarycache import cache_dir

    targets = []
    for home in homes:
        os.environ["MLETUI_HOME"] = str(home)
        ids = populate_once(home)
        targets.append(ids[len(ids) // 2])

    def drop() -> None:
        shutil.rmtree(cache_dir(), ignore_errors=True)

    calls: dict[str, Callable[[Path, str], tuple[Callable[[], object], int, bool]]] = {
        "ls (cache empty)": lambda h, t: (_mletui("ls"), reps, True),
        "ls": lambda h, t: (_mletui("ls"), reps, False),
        "show ID": lambda h, t: (_mletui("show", t), reps * 3, False),
        "lookup (full scan)": lambda h, t: (lambda: resolve_run(t, scan_runs()), reps * 5, False),
        "lookup (by name)": lambda h, t: (lambda: resolve_run(t), reps * 5, False),
    }
    figures: list[dict[str, float]] = [{} for _ in homes]
    for name, make in calls.items():
        for _ in range(make(homes[0], targets[0])[1]):
            for n, (home, target) in enumerate(zip(homes, targets, strict=True)):
                call, _, cold = make(home, target)
                os.environ["MLETUI_HOME"] = str(home)
                if cold:
                    drop()
                t0 = time.perf_counter()
                call()
                took = time.perf_counter() - t0
                figures[n][name] = min(took, figures[n].get(name, took))
                if cold:
                    _mletui("ls")()  # the cache filled again for the figures after
    return figures


_MADE: dict[Path, list[str]] = {}


def populate_once(home: Path) -> list[str]:
    if home not in _MADE:
        shutil.rmtree(home, ignore_errors=True)
        _MADE[home] = populate(int(home.name.split("-")[1]))
    return _MADE[home]


def day_summary(reps: int) -> tuple[float, float]:
    """A 24-hour run's summary: read from its journal, and from the summary cache."""
    import json

    from mletui.core.records import to_entry
    from mletui.store.runs import RunFolder, runs_root
    from mletui.store.summarycache import entry_path
    from mletui.watch import livestate
    from mletui.watch.livestate import summarize

    shutil.rmtree(os.environ["MLETUI_HOME"], ignore_errors=True)
    sample = json.dumps({"ts": 0.0, **to_entry(ResourceSample(0.0, 50.0, 1 << 30, 3, ""))})
    run_id, _ = _ended(((sample + "\n") * DAY_SAMPLES).encode())
    folder = RunFolder(runs_root() / run_id)

    def forget() -> None:  # each try as a new process makes it: nothing remembered in memory
        livestate._ENDED.clear()

    def drop() -> None:
        forget()
        entry_path(run_id).unlink(missing_ok=True)

    cold = best_of(reps, lambda: summarize(folder), drop)
    summarize(folder)
    return cold, best_of(reps * 5, lambda: summarize(folder), forget)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, nargs=2, default=[10, 2000])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLETUI_CONFIG_DIR"] = str(Path(tmp) / "config")
        homes = [Path(tmp) / f"home-{n}" for n in args.runs]
        small, large = measure(homes, args.reps)
        os.environ["MLETUI_HOME"] = str(Path(tmp) / "home-day")
        cold, cached = day_summary(args.reps)
    print(f"{'':22}{args.runs[0]:>10} runs{args.runs[1]:>10} runs{'ratio':>10}")
    for name in small:
        ratio = large[name] / small[name]
        a, b = small[name] * 1000, large[name] * 1000
        print(f"{name:22}{a:>12.1f} ms{b:>12.1f} ms{ratio:>9.2f}x")
    print(
        f"\nls of {args.runs[1]} runs: {large['ls'] * 1000:.0f} ms, "
        f"{large['ls'] / LS_TARGET_S:.2f} x the target ({LS_TARGET_S * 1000:.0f} ms)"
    )
    print(
        f"show at {args.runs[1]} runs: {large['show ID'] / small['show ID']:.2f} x "
        f"itself at {args.runs[0]} (target: 1.2 x)"
    )
    print(
        f"summary of a 24-hour run ({DAY_SAMPLES} resource entries): {cold * 1000:.1f} ms read, "
        f"{cached * 1000:.2f} ms cached, {cold / cached:.0f} x"
    )


if __name__ == "__main__":
    main()
