"""``mletui bench``: the log benchmarks, from a checkout of mletui."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from mletui.cli.command import UserError, command

# mletui/cli/bench.py -> the checkout's root, where benchmarks/ lives beside mletui/
_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "run_all.py"


@command("bench", "run the log benchmarks (from a checkout of mletui)")
@click.option("--quick", is_flag=True, help="small sizes: a smoke run")
@click.option("--only", help="some of: throughput,responsiveness,memory,attach,search")
@click.option("--reps-scale", default="1", help="more (2) or fewer (0.5) repetitions")
def bench(quick: bool, only: str | None, reps_scale: str) -> int:
    if not _SCRIPT.is_file():
        raise UserError(
            "The benchmarks come with a checkout of mletui: run `mletui bench` (or "
            "`python benchmarks/run_all.py`) in one, with mletui installed from it."
        )
    options = ["--reps-scale", reps_scale] + (["--quick"] if quick else [])
    options += ["--only", only] if only else []
    return subprocess.run([sys.executable, str(_SCRIPT), *options]).returncode
