"""The docker runtime's parts that need no Engine: options, engine addresses and their failures,
the log stream's framing and timestamps, the container's paths and environment."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from mletui.grading.tasks import resolve_task
from mletui.runtimes import RuntimeFailure
from mletui.runtimes.docker.container import (
    CODE,
    CONTROL,
    DATA,
    LOGS,
    SUBMISSION,
    container_command,
    container_env,
    parse_cpus,
    parse_gpus,
    parse_memory,
    plan_container,
)
from mletui.runtimes.docker.engine import EngineAddress, EngineError, connect, resolve_engine
from mletui.runtimes.docker.image import PythonTarget
from mletui.runtimes.docker.streams import dechunk, frames, parse_engine_time, since_param
from mletui.store.runs import RunFolder, RunRecord


def test_options_are_read_as_docker_reads_them() -> None:
    assert parse_memory("8g") == 8 * 1024**3
    assert parse_memory("512m") == 512 * 1024**2
    assert parse_memory("1.5GiB") == int(1.5 * 1024**3)
    assert parse_cpus("0.5") == 0.5
    assert parse_gpus("ALL") == "all" and parse_gpus("2") == "2" and parse_gpus("none") == "none"
    for bad in ("lots", "-1g", "1x"):
        with pytest.raises(ValueError, match="memory size"):
            parse_memory(bad)
    with pytest.raises(ValueError, match="minimum"):
        parse_memory("1m")
    with pytest.raises(ValueError, match="CPUs"):
        parse_cpus("many")
    with pytest.raises(ValueError, match="more than 0"):
        parse_cpus("0")
    with pytest.raises(ValueError, match="all, none or a number"):
        parse_gpus("0")


def test_the_engine_is_chosen_as_the_docker_cli_chooses_it(tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path / "none")}
    assert resolve_engine(None, env).host == "unix:///var/run/docker.sock"
    assert resolve_engine(None, env).source == "default"
    env["DOCKER_HOST"] = "tcp://10.1.2.3:2376"
    env["DOCKER_TLS_VERIFY"] = "1"
    env["DOCKER_CERT_PATH"] = "/certs"
    chosen = resolve_engine(None, env)
    assert (chosen.host, chosen.source, chosen.tls_verify, chosen.cert_path) == (
        "tcp://10.1.2.3:2376",
        "DOCKER_HOST",
        True,
        "/certs",
    )
    assert resolve_engine("ssh://me@box", env).source == "--docker-host"
    assert resolve_engine("127.0.0.1:2375", env).host == "tcp://127.0.0.1:2375"
    assert resolve_engine("/run/user/1000/docker.sock", env).host.startswith("unix:///run/user")
    assert EngineAddress.from_json(chosen.to_json()) == chosen


def test_a_docker_context_is_followed(tmp_path: Path) -> None:
    """A context made as `docker context create remote --docker host=tcp://...` makes it."""
    import hashlib

    meta = tmp_path / "contexts" / "meta" / hashlib.sha256(b"remote").hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(
        json.dumps(
            {
                "Name": "remote",
                "Metadata": {},
                "Endpoints": {"docker": {"Host": "tcp://192.0.2.7:2375", "SkipTLSVerify": False}},
            }
        )
    )
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "remote"}))
    env = {"DOCKER_CONFIG": str(tmp_path)}
    monkey = pytest.MonkeyPatch()
    monkey.setenv("DOCKER_CONFIG", str(tmp_path))  # the SDK reads it from os.environ
    try:
        chosen = resolve_engine(None, env)
    finally:
        monkey.undo()
    assert (chosen.host, chosen.source, chosen.context) == (
        "tcp://192.0.2.7:2375",
        "context remote",
        "remote",
    )


def test_no_engine_is_one_sentence_with_the_address_and_what_to_do() -> None:
    with pytest.raises(EngineError) as caught:
        connect(EngineAddress("tcp://127.0.0.1:1", "--docker-host"), timeout=3)
    message = str(caught.value)
    assert "No Docker Engine answers at tcp://127.0.0.1:1 (from --docker-host)" in message
    assert "\n" not in message and "Traceback" not in message
    with pytest.raises(EngineError, match=r"start one \(`sudo systemctl start docker`"):
        connect(EngineAddress("unix:///nonexistent/docker.sock", "default"), timeout=3)


def test_engine_times_and_since_keep_every_nanosecond() -> None:
    ns = parse_engine_time(b"2024-05-01T12:00:00.123456789Z")
    assert ns == 1714564800_123456789
    assert since_param(ns) == "1714564800.123456789"
    assert parse_engine_time(b"2024-05-01T12:00:00Z") == 1714564800_000000000
    assert parse_engine_time(b"2024-05-01T12:00:00.5Z") == 1714564800_500000000
    with pytest.raises(ValueError):
        parse_engine_time(b"2024-05-01T12:00:00+02:00")


def test_frames_are_cut_from_a_byte_buffer_however_reads_fall() -> None:
    payloads = [(1, b"2024-05-01T12:00:00.000000001Z line one\n"), (2, b"x" * 70000), (1, b"")]
    body = b"".join(struct.pack(">BxxxL", s, len(p)) + p for s, p in payloads)
    chunked = (
        b"".join(
            b"%x\r\n%b\r\n" % (len(piece), piece) for piece in (body[:5], body[5:9000], body[9000:])
        )
        + b"0\r\n\r\n"
    )
    for size in (1, 7, 4096, len(chunked)):
        blocks = [chunked[i : i + size] for i in range(0, len(chunked), size)]
        assert list(frames(dechunk(iter(blocks)))) == payloads[:2]  # empty frames carry nothing


def test_the_container_sees_its_own_paths_and_never_the_answers(tmp_path: Path) -> None:
    task = resolve_task("digits")
    folder = RunFolder(tmp_path / "runs" / "abc")
    record = RunRecord("abc", "digits", str(task.path), "cmd", ["true"], "docker", 0.0, "here")
    env = {
        "MLETUI_DATA_DIR": str(task.public_dir),
        "MLETUI_WORKSPACE": str(folder.workspace),
        "CODE_DIR": str(folder.workspace),
        "SUBMISSION_DIR": str(folder.submission),
        "MLETUI_LOGS_DIR": str(folder.logs_dir),
        "MLETUI_CONTROL_DIR": str(folder.control),
        "MLETUI_TASK_DESCRIPTION": str(task.path / "description.md"),
        "MLETUI_TASK_ID": "digits",
        "EXTRA": "/somewhere/else",
    }
    record.env = env
    mapped, mounts = plan_container(folder, record)
    assert mapped["MLETUI_DATA_DIR"] == DATA
    assert mapped["MLETUI_WORKSPACE"] == mapped["CODE_DIR"] == CODE
    assert mapped["SUBMISSION_DIR"] == SUBMISSION
    assert mapped["MLETUI_LOGS_DIR"] == LOGS
    assert mapped["MLETUI_CONTROL_DIR"] == CONTROL
    assert mapped["MLETUI_TASK_DESCRIPTION"] == "/home/task/description.md"
    assert mapped["MLETUI_TASK_ID"] == "digits" and mapped["EXTRA"] == "/somewhere/else"
    targets = {m.target: m for m in mounts}
    assert set(targets) == {DATA, CODE, SUBMISSION, LOGS, CONTROL, "/home/task/description.md"}
    assert targets[DATA].read_only and targets["/home/task/description.md"].read_only
    assert targets[LOGS].source == str(folder.logs_dir / "agent")  # not the spool's own folder
    assert not any("private" in Path(m.source).parts for m in mounts)
    with pytest.raises(RuntimeFailure, match="private answers"):
        container_env({"X": str(task.private_dir / "answers.csv")}, mounts, task.path)


def test_the_runs_python_becomes_the_images() -> None:
    import sys

    assert container_command([sys.executable, "-u", "-m", "mletui.agents.baseline"]) == [
        "python",
        "-u",
        "-m",
        "mletui.agents.baseline",
    ]
    assert container_command(["/bin/sh", "-c", "true"]) == ["/bin/sh", "-c", "true"]


def test_wheels_are_gathered_for_the_base_images_python() -> None:
    debian = PythonTarget("3.11", "x86_64", ("glibc", "2.36"))
    tags = debian.platforms()
    assert tags[0] == "manylinux_2_36_x86_64" and "manylinux_2_17_x86_64" in tags
    assert "manylinux2014_x86_64" in tags and "manylinux1_x86_64" in tags
    assert debian.abi == "cp311"
    alpine = PythonTarget("3.12", "aarch64", ("", ""))
    assert alpine.platforms() == ["musllinux_1_2_aarch64", "musllinux_1_1_aarch64"]
