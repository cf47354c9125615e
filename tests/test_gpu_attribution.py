"""Host pids to runs, on real processes: a local run's group, its escaped children and daemons,
and (when a Docker Engine answers) a real container's processes seen from the host.

NVML itself is a replay here (no GPU on this machine), naming the real pids it reports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mletui.gpu.attribution import (
    PidAttributor,
    container_of,
    live_runs,
    remote_reason,
    run_processes,
)
from mletui.gpu.nvml import ReplayNvml
from mletui.gpu.resources import ProcessGroupSampler, RunGpu, run_gpu_text
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store.runs import create_run_folder, make_record
from tests.conftest import wait_for
from tests.nvml_recordings import BUSY, one_l4

GiB = 2**30

# The agent leaves three kinds of processes behind: one in its group, one that started a session
# of its own (still a descendant of the supervisor), and a daemon that double-forked away from
# the tree (only its environment still says which run it belongs to).
AGENT = f"""
sleep 300 &
echo "grouped $!" >> pids
{sys.executable} -c 'import os, time; os.setsid(); time.sleep(300)' &
echo "session $!" >> pids
{sys.executable} -c '
import os, sys, time
if os.fork(): sys.exit()
os.setsid()
if os.fork(): sys.exit()
open("pids", "a").write("daemon %d\\n" % os.getpid())
time.sleep(300)
'
echo ready
sleep 300
"""


@pytest.fixture
def outsider() -> Iterator[subprocess.Popen[bytes]]:
    """A process that belongs to no run."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()


def test_a_local_runs_processes_are_mapped_to_it(outsider: subprocess.Popen[bytes]) -> None:
    folder = start_run(resolve_task("digits"), agent_cmd=AGENT)
    pids_file = folder.workspace / "pids"
    try:
        wait_for(lambda: len(_pids(pids_file)) == 3, 20, "the agent's processes")
        pids = _pids(pids_file)
        record = folder.read()
        assert record.agent_pid is not None
        # The daemon really left the tree, and the session child the group.
        assert os.getpgid(pids["session"]) != record.agent_pid
        assert os.getpgid(pids["daemon"]) != record.agent_pid

        run = run_processes(folder)
        assert run is not None and run.remote is None
        attributor = PidAttributor([run])
        for name in ("grouped", "session", "daemon"):
            assert attributor.run_of(pids[name]) == folder.id, name
        assert attributor.run_of(record.agent_pid) == folder.id
        assert attributor.run_of(outsider.pid) is None
        assert attributor.run_of(os.getpid()) is None
        assert attributor.name_of(pids["grouped"]) == "sleep"
        assert live_runs([folder]) == [run]

        # The same mapping, through the recorder's path: the replayed NVML reports these pids.
        recording = one_l4(
            BUSY, [("grouped", 6 * GiB, 50), ("session", 2 * GiB, 20), ("other", 9 * GiB, 25)]
        )
        nvml = ReplayNvml(recording, pids={**pids, "other": outsider.pid})
        gpu = RunGpu(folder, nvml=nvml, interval_s=60)
        gpu.monitor.sample_once()
        sample = gpu.attach(ProcessGroupSampler(record.agent_pid).sample())
        (device,) = sample.gpus
        assert device.name == "NVIDIA L4" and device.utilization == 97.0
        assert device.run_memory == 8 * GiB and device.run_utilization == 70.0
        assert sample.gpu == "GPU0 97% 20.0/24 GiB"
        assert run_gpu_text(sample.gpus) == "70% 8.0G"
        gpu.stop()
    finally:
        for pid in _pids(pids_file).values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _pids(path: Path) -> dict[str, int]:
    try:
        lines = path.read_text().split("\n")
    except FileNotFoundError:
        return {}
    return {name: int(pid) for name, pid in (line.split() for line in lines if line.strip())}


def test_a_run_on_a_remote_engine_says_it_has_no_gpu_numbers() -> None:
    record = make_record("digits", "/tasks/digits", "cmd", ["true"], "docker", None)
    folder = create_run_folder(record)
    with folder.updating() as rec:
        rec.docker_host = "ssh://trainer@gpu-box"
        rec.container_id = "f" * 64
    reason = remote_reason(folder.read().to_json())
    assert reason is not None and "remote Docker engine (ssh://trainer@gpu-box)" in reason
    gpu = RunGpu(folder, nvml=ReplayNvml(one_l4(BUSY, [])), interval_s=60)
    gpu.start()  # starts nothing: NVML here would be another machine's GPUs
    sample = gpu.attach(ProcessGroupSampler(-1).sample())
    assert sample.gpus == () and sample.gpu == reason
    assert run_gpu_text(sample.gpus, sample.gpu) == "remote"  # the overview's cell
    gpu.stop()
    assert remote_reason({"docker_host": "unix:///var/run/docker.sock"}) is None
    assert remote_reason({"docker_host": "tcp://127.0.0.1:2375"}) is None
    assert remote_reason({"docker_host": "tcp://10.1.2.3:2376"}) is not None


def test_container_ids_are_read_from_cgroup_paths(tmp_path: Path) -> None:
    cid = "3f" * 32
    for pid, text in (
        (1, f"0::/system.slice/docker-{cid}.scope\n"),  # cgroup v2, systemd driver
        (2, f"12:memory:/docker/{cid}\n0::/\n"),  # cgroup v1, cgroupfs driver
        (3, f"0::/kubepods/besteffort/pod1/cri-containerd-{cid}.scope\n"),
        (4, "0::/user.slice/user-1000.slice/session-2.scope\n"),
    ):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "cgroup").write_text(text)
    assert [container_of(p, tmp_path) for p in (1, 2, 3, 4, 5)] == [cid, cid, cid, None, None]


def _docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip())
    return done.stdout.strip()


def test_a_containers_processes_seen_from_the_host_map_back_to_their_run(
    test_base_image: str,
) -> None:
    """A real container on the default Docker Engine (the docker tests' fixture: a skip when no
    engine answers, a failure under CI)."""
    record = make_record("digits", "/tasks/digits", "cmd", ["sleep"], "docker", None)
    folder = create_run_folder(record)
    ours = _docker(
        "run", "-d", "--rm", "--label", f"mletui.run_id={folder.id}", test_base_image, "sleep", "60"
    )
    theirs = _docker("run", "-d", "--rm", test_base_image, "sleep", "60")
    try:
        with folder.updating() as rec:
            rec.state = "running"
            rec.docker_host = "unix:///var/run/docker.sock"
            rec.container_id = ours
        pid = int(_docker("inspect", "-f", "{{.State.Pid}}", ours))
        other = int(_docker("inspect", "-f", "{{.State.Pid}}", theirs))
        # A second process inside our container, started by `docker exec` (as MLE-bench does).
        _docker("exec", "-d", ours, "sleep", "59")
        wait_for(lambda: len(_container_pids(ours)) >= 2, 10, "the exec'd process")
        execd = next(p for p in _container_pids(ours) if p != pid)

        assert container_of(pid) == ours
        attributor = PidAttributor(live_runs([folder]))
        assert attributor.run_of(pid) == folder.id
        assert attributor.run_of(execd) == folder.id
        assert attributor.run_of(other) is None

        # Through the recorder's path, as the supervisor of a docker run samples it.
        recording = one_l4(BUSY, [("main", 3 * GiB, 40), ("execd", 1 * GiB, 30), ("x", GiB, 5)])
        nvml = ReplayNvml(recording, pids={"main": pid, "execd": execd, "x": other})
        gpu = RunGpu(folder, nvml=nvml, interval_s=60)
        gpu.monitor.sample_once()
        (device,) = gpu.attach(ProcessGroupSampler(-1).sample()).gpus
        assert device.run_memory == 4 * GiB and device.run_utilization == 70.0
        gpu.stop()
    finally:
        subprocess.run(["docker", "rm", "-f", ours, theirs], capture_output=True, timeout=60)


def _container_pids(container: str) -> list[int]:
    # `docker top` lists host pids: the same numbers NVML reports.
    out = _docker("top", container, "-o", "pid")
    return [int(line) for line in out.splitlines()[1:] if line.strip().isdigit()]
