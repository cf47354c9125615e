"""``mletui doctor`` against what this machine has: the real one-node Slurm and Docker Engine, a
PATH without them, MLETUI_HOME where a cluster's nodes would not see it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mletui.cli import main
from mletui.cli.doctor import Verdict, check_shared_home
from mletui.runtimes.slurm.commands import filesystem_type
from tests.docker_fixtures import Engine
from tests.slurm_cluster import slurm  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parent.parent


def checks(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, object]]:
    return {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}


@pytest.mark.usefixtures("slurm")
def test_doctor_finds_the_real_slurm_and_docker_engine(
    docker_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor", "--runtime", "slurm", "--runtime", "docker", "--json"]) == 0
    found = checks(capsys)
    for name in ("home", "docker", "slurm-commands", "slurm-partition", "slurm-storage"):
        assert found[name]["verdict"] == "ok", found[name]
        assert found[name]["needed"] is True
    assert "answers (Engine " in str(found["docker"]["sentence"])
    assert "is up, with 1 node" in str(found["slurm-partition"]["sentence"])
    assert found["gpu"]["needed"] is False and found["browser"]["needed"] is False

    assert main(["doctor", "--runtime", "slurm"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(found) and all(line.split()[0] in ("ok", "warn") for line in lines)


def test_doctor_without_slurm_or_docker_on_path_says_what_is_missing(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": str(tmp_path),  # nothing on it
        "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
        "MLETUI_HOME": str(tmp_path / "home"),
    }
    doctor = [sys.executable, "-m", "mletui", "doctor"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*doctor, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
        )

    local = run()
    assert local.returncode == 0 and local.stderr == ""  # the local runtime needs neither
    for runtime, said in (
        ("slurm", "No `sbatch`, `squeue`, `scontrol`, `scancel`, `sinfo` on PATH"),
        ("docker", "No Docker Engine answers at unix://"),
    ):
        done = run("--runtime", runtime)
        assert done.returncode == 1 and done.stderr == "", done.stderr
        missing = [line for line in done.stdout.splitlines() if line.startswith("missing")]
        assert len(missing) == 2  # both runtimes' lack is said, whichever is needed
        assert any(said in line and f" {runtime} " in line for line in missing)
        assert done.stdout.splitlines()[-1].startswith(f"Missing for {runtime}: ")
    as_json = json.loads(run("--runtime", "slurm", "--json").stdout)
    assert as_json["ok"] is False
    assert [c["name"] for c in as_json["checks"] if c["verdict"] == "missing"] == [
        "docker",
        "slurm-commands",
    ]


def test_doctor_says_when_mletui_home_cannot_be_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLETUI_HOME", "/proc/mletui-home")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "missing  any      MLETUI_HOME (/proc/mletui-home) cannot be written" in out


def test_mletui_home_where_other_nodes_would_not_see_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    nodes = ["gpu-node-1", "gpu-node-2"]
    monkeypatch.setenv("MLETUI_HOME", str(tmp_path / "home"))  # under /tmp, on a local disk
    check = check_shared_home("gpu", nodes, filesystem_type)
    assert check.verdict is Verdict.WARN and "is under /tmp" in check.sentence
    assert filesystem_type(Path("/dev/shm")) == "tmpfs"
    monkeypatch.setenv("MLETUI_HOME", "/dev/shm/mletui-home")
    check = check_shared_home("gpu", nodes, filesystem_type)
    assert check.verdict is Verdict.MISSING and "is on tmpfs" in check.sentence
    # the partition's only node is this machine: it sees its own disk
    import socket

    check = check_shared_home("debug", [socket.gethostname()], filesystem_type)
    assert check.verdict is Verdict.OK
