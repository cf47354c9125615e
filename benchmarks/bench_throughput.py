"""Benchmark 1, throughput: a process prints 1,000,000 numbered lines as fast as it can.

Local runtime: raw side, the process's stdout read to its end, doing nothing with it (the
source's own speed). Docker runtime (``--runtime docker``, when an Engine answers and has
mletui's agent image): the process runs in a container; raw side, the Docker SDK's log stream of
that container read to its end.
mletui side: the full pipeline, as a user runs it: the run's supervisor pumps the output into the
spool, the watch screen's session indexes it, the log pane paints it; timed from "go" to the
first frame of the headless watch screen (``run_test``) whose log pane shows the last line.
Target: raw / mletui (speed ratio) >= 0.9.

    python benchmarks/bench_throughput.py [--lines 1000000] [--reps 5] [--style print]
                                          [--runtime local|docker]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import time
from pathlib import Path

from common import (
    SIZE,
    Producer,
    Result,
    end_run,
    in_child,
    log_view,
    read_raw,
    row_probe,
    settle,
    start_producer_run,
    watch_app,
)

HERE = Path(__file__).resolve().parent


def docker_image() -> str | None:
    """mletui's agent image, when a Docker Engine answers and has it; else None."""
    try:
        import docker

        from mletui.runtimes.docker.runtime import DEFAULT_IMAGE

        client = docker.from_env()
        client.ping()
        client.images.get(DEFAULT_IMAGE)
        return DEFAULT_IMAGE
    except Exception:
        return None


def read_raw_docker(producer: Producer, image: str) -> float:
    """The raw side in a container: the Docker SDK's log stream, read to its end."""
    import docker

    client = docker.from_env()
    producer.reset()
    shutil.copy(HERE / "producer.py", producer.workdir / "producer.py")
    producer.workdir.chmod(0o777)
    command = [
        "python",
        "/bench/producer.py",
        str(producer.count),
        producer.style,
        "/bench/ready",
        "/bench/go",
    ]
    volumes = {str(producer.workdir): {"bind": "/bench", "mode": "rw"}}
    container = client.containers.run(image, command, volumes=volumes, detach=True)
    try:
        producer.wait_ready()
        t0 = producer.start()
        total = 0
        for chunk in container.logs(stream=True, follow=True):
            total += len(chunk)
        elapsed = time.perf_counter() - t0
        assert total > 0
        return elapsed
    finally:
        container.remove(force=True)


def mletui_side(producer: Producer, runtime: str = "local") -> float:
    if runtime == "docker":
        from mletui.grading.tasks import resolve_task
        from mletui.run.launcher import start_run

        code = "/home/code"  # the run's workspace in the container
        command = (
            "while [ ! -f producer.py ]; do sleep 0.01; done; exec python producer.py "
            f"{producer.count} {producer.style} {code}/ready {code}/go"
        )
        folder = start_run(resolve_task("digits"), agent_cmd=command, runtime="docker")
        producer = Producer(producer.count, producer.style, workdir=folder.workspace)
        shutil.copy(HERE / "producer.py", folder.workspace / "producer.py")
    else:
        folder = start_producer_run(producer)

    async def watch() -> float:
        app = watch_app(folder)
        probe = row_probe()
        async with app.run_test(size=SIZE):
            await log_view(app)
            producer.wait_ready()
            await settle(app)
            probe.arm(producer.last_line)
            t0 = producer.start()
            t1 = await probe.wait(timeout=600)
            return t1 - t0

    try:
        return asyncio.run(watch())
    finally:
        end_run(folder)


def mletui_in_child(producer: Producer, runtime: str = "local") -> float:
    """The mletui side in a watcher process of its own, as a user runs it."""
    args = ["--lines", str(producer.count), "--style", producer.style, "--runtime", runtime]
    return float(in_child("bench_throughput.py", *args)["seconds"])


def run(
    lines: int = 1_000_000, reps: int = 5, style: str = "print", runtime: str = "local"
) -> Result:
    producer = Producer(lines, style)
    from common import alternate

    print(
        f"throughput: {lines:,} lines, producer style {style!r}, {runtime} runtime, {reps} reps",
        flush=True,
    )
    if runtime == "docker":
        image = docker_image()
        if image is None:
            raise SystemExit("No Docker Engine with mletui's agent image: `mletui image build`.")
        raw_name = "raw (Docker SDK log stream read to the end)"
        sides = alternate(
            reps,
            {
                raw_name: lambda: read_raw_docker(producer, image),
                "mletui (last line painted)": lambda: mletui_in_child(producer, "docker"),
            },
        )
    else:
        raw_name = "raw (pipe read to the end)"
        sides = alternate(
            reps,
            {
                raw_name: lambda: read_raw(producer),
                "mletui (last line painted)": lambda: mletui_in_child(producer),
            },
        )
    result = Result(
        name=f"throughput, {lines:,} lines ({style} producer, {runtime})",
        unit="s",
        sides=sides,
        ratio_of=(raw_name, "mletui (last line painted)"),
        target="raw time / mletui time >= 0.9",
    )
    ratio = result.ratio
    result.passed = ratio is not None and ratio >= 0.9
    rate = lines / result.median("mletui (last line painted)")
    result.notes.append(f"mletui side: {rate:,.0f} lines/s into the pane")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--style", choices=["print", "print-flush", "block"], default="print")
    parser.add_argument("--runtime", choices=["local", "docker"], default="local")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        seconds = mletui_side(Producer(args.lines, args.style), args.runtime)
        print(json.dumps({"seconds": seconds}))
        return
    run(args.lines, args.reps, args.style, args.runtime).print()


if __name__ == "__main__":
    main()
