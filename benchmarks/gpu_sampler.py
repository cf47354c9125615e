"""What the GPU sampler costs: CPU time per second of sampling, as a share of one core.

    .venv/bin/python benchmarks/gpu_sampler.py [--seconds 20] [--interval 1] [--replay FILE]

The contract (issue 8): under 1% of one core at the default 1 Hz. It runs the recorder's path
(:class:`mletui.gpu.resources.RunGpu`: NVML in a thread, every pid mapped to a run) on a
run whose processes are real, for ``--seconds``, and divides the process's CPU time by the wall
time. It also times samples back to back, to give the cost of one sample.

On a machine with an NVIDIA GPU it samples the real NVML; elsewhere (or with ``--replay``) a
recorded-readings replay, so the figure then covers mletui's own work, not the driver's.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mletui.gpu.nvml import GpuSampler, ReplayNvml  # noqa: E402
from mletui.gpu.resources import RunGpu  # noqa: E402

DEFAULT_REPLAY = ROOT / "tests" / "data" / "nvml_h100x2.json"
LIMIT = 0.01  # of one core


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pick_nvml(replay: Path | None, pids: dict[str, int]) -> tuple[Any, str]:
    if replay is None:
        try:
            import pynvml

            probe = GpuSampler(pynvml).sample()
            if not probe.problem:
                return pynvml, f"the real NVML ({len(probe.devices)} GPU(s), driver {probe.driver})"
            why = probe.problem
        except ImportError:
            why = "nvidia-ml-py is not installed"
        replay = DEFAULT_REPLAY
        note = f"a replay of {replay.name} ({why})"
    else:
        note = f"a replay of {replay}"
    return ReplayNvml.from_file(replay, pids=pids, loop=True), note


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--replay", type=Path, help="a recording to replay instead of NVML")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        os.environ["MLETUI_HOME"] = home
        from mletui.store.runs import create_run_folder, make_record

        # A run whose agent, a data loader and an unrelated process are real processes.
        agent = subprocess.Popen(["sleep", "3600"], start_new_session=True)
        loader = subprocess.Popen(["sleep", "3600"], start_new_session=True)
        other = subprocess.Popen(["sleep", "3600"])
        try:
            record = make_record("digits", "/tasks/digits", "cmd", ["sleep"], "local", None)
            folder = create_run_folder(record)
            with folder.updating() as rec:
                rec.state, rec.agent_pid = "running", agent.pid
            pids = {"agent": agent.pid, "loader": loader.pid, "other": other.pid}
            nvml, source = pick_nvml(args.replay, pids)
            print(f"sampling {source}")

            gpu = RunGpu(folder, nvml=nvml, interval_s=args.interval)
            n = 200
            before = cpu_s()
            for _ in range(n):
                gpu.monitor.sample_once()
            per_sample = (cpu_s() - before) / n
            print(
                f"one sample (NVML calls + pid-to-run mapping): {per_sample * 1000:.3f} ms CPU"
                f" -> {per_sample / args.interval:.4%} of a core at one sample per"
                f" {args.interval:g} s"
            )

            gpu = RunGpu(folder, nvml=nvml, interval_s=args.interval)
            before, started = cpu_s(), time.monotonic()
            gpu.start()
            time.sleep(args.seconds)
            gpu.stop()
            wall, cpu = time.monotonic() - started, cpu_s() - before
        finally:
            for proc in (agent, loader, other):
                proc.kill()
                proc.wait()
    ratio = cpu / wall
    print(
        f"sampler thread for {wall:.1f} s at one sample per {args.interval:g} s: "
        f"{cpu * 1000:.1f} ms CPU, ratio {ratio:.5f} = {ratio:.3%} of one core "
        f"(limit {LIMIT:.0%}): {'PASS' if ratio < LIMIT else 'FAIL'}"
    )
    return 0 if ratio < LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
