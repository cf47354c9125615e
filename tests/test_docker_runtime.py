"""The docker runtime end to end, on a real Docker Engine: runs in real containers, each operator
action checked against the Engine's own view (inspect, events, its own copy of the logs)."""

from __future__ import annotations

import os
import time
from typing import Any

import docker
import pytest

from mletui import protocol
from mletui.core.events import RunState, Snapshot, Stream, state_text
from mletui.grading.submission import score_submission
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.runtimes import RuntimeFailure
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder, list_runs
from mletui.store.spool import LogFollower
from mletui.watch.control import ActionError, RunControl
from mletui.watch.live import WatchSession
from mletui.watch.livestate import read_status
from tests.conftest import wait_ended, wait_for
from tests.docker_fixtures import Engine

pytestmark = pytest.mark.usefixtures("docker_cleanup")

# A protocol agent in the agent image: answers hints and honours soft pauses, quickly.
PROBE_AGENT = (
    'python -u -c "\n'
    "import time\n"
    "from mletui import protocol\n"
    "protocol.hello('probe')\n"
    "n = 0\n"
    "while True:\n"
    "    for hint in protocol.checkpoint():\n"
    "        protocol.answer(hint, 'noted: ' + hint.text)\n"
    "    n += 1\n"
    "    print('tick', n, flush=True)\n"
    "    time.sleep(0.2)\n"
    '"'
)


def start(
    cmd: str | None, image: str, time_limit_s: float | None = 300, **options: Any
) -> RunFolder:
    return start_run(
        resolve_task("digits"),
        agent_cmd=cmd,
        agent=None if cmd else "baseline",
        runtime="docker",
        time_limit_s=time_limit_s,
        extra_env={"MLETUI_BASELINE_MAX_STEPS": "2"},
        runtime_options={"image": image, **options},
    )


def spool(folder: RunFolder, stream: Stream) -> list[tuple[float, bytes]]:
    """The run's log spool, raw: (timestamp, bytes) of each line of one stream."""
    out = []
    for record in folder.log_path.read_bytes().split(b"\n")[:-1]:
        ts, tag, raw = record.split(b" ", 2)
        if tag == stream.value.encode():
            out.append((float(ts), raw))
    return out


def engine_lines(client: docker.DockerClient, container_id: str, stream: Stream) -> list[bytes]:
    """The container's output as the Engine keeps it (`docker logs`), one stream, by line."""
    data = client.api.logs(
        container_id, stdout=stream is Stream.STDOUT, stderr=stream is Stream.STDERR
    )
    lines = data.split(b"\n")
    return lines[:-1] if lines[-1] == b"" else lines


def engine_actions(client: docker.DockerClient, container_id: str, since: float) -> list[str]:
    events = client.api.events(
        since=int(since) - 1,
        until=int(time.time()) + 1,
        filters={"container": container_id},
        decode=True,
    )
    return [str(e.get("Action") or e.get("status")) for e in events]


def container_state(client: docker.DockerClient, folder: RunFolder) -> dict[str, Any]:
    container_id = folder.read().container_id
    assert container_id
    state: dict[str, Any] = client.api.inspect_container(container_id)["State"]
    return state


def test_a_baseline_run_in_a_container_to_its_end(docker_engine: Engine, agent_image: str) -> None:
    client = docker_engine.client
    task = resolve_task("digits")
    folder = start(None, agent_image)
    record = folder.read()
    assert record.runtime == "docker" and record.container_id
    wait_ended(folder, 300)
    record = folder.read()
    assert record.state == "exited" and record.exit_code == 0, folder.log_path.read_text()
    assert record.docker_host == docker_engine.url

    info = client.api.inspect_container(record.container_id)
    labels = info["Config"]["Labels"]
    assert labels["mletui.run_id"] == folder.id
    assert labels["mletui.task"] == "digits" and labels["mletui.agent"] == "baseline"
    assert labels["mletui.run_dir"] == str(folder.path)
    mounts = {m["Destination"]: m for m in info["Mounts"]}
    assert mounts["/home/data"]["Source"] == str(task.public_dir)
    assert mounts["/home/data"]["RW"] is False
    assert mounts["/home/code"]["Source"] == str(folder.workspace)
    assert mounts["/home/submission"]["Source"] == str(folder.submission)
    assert mounts["/home/control"]["Source"] == str(folder.control)
    assert not any("private" in m["Source"] for m in info["Mounts"])
    env = dict(e.split("=", 1) for e in info["Config"]["Env"])
    assert env["MLETUI_CONTROL_DIR"] == "/home/control" and env["COMPETITION_ID"] == "digits"
    assert env["MLETUI_DATA_DIR"] == "/home/data" and env["TIME_LIMIT_SECS"] == "300"
    assert not any(str(folder.path) in value for value in env.values())

    entries = read_journal(folder.journal_path).entries
    scores = [e for e in entries if e["kind"] == "score"]
    assert [s["step"] for s in scores] == [1, 2]
    # The code pane's snapshots come from the bind mount, through watchfiles on the host.
    snapshots = [e for e in entries if e["kind"] == "snapshot"]
    assert any(c["path"] == "solution.py" for s in snapshots for c in s["changes"])
    score_submission(task, folder.submission / "submission.csv")
    events = [(e["event"], e["state"]) for e in entries if e["kind"] == "container"]
    assert ("start", "running") in events and events[-1] == ("die", "exited")
    resources = [e for e in entries if e["kind"] == "resources"]
    assert any(r["cpu"] > 0 and r["rss"] > 0 and "net_rx" in r for r in resources)

    # The spool holds exactly what the Engine holds, stream by stream.
    for stream in (Stream.STDOUT, Stream.STDERR):
        assert [raw for _, raw in spool(folder, stream)] == engine_lines(
            client, record.container_id, stream
        )

    # A watcher sees the run as on the local runtime.
    events = WatchSession(folder).poll()
    names = {type(e).__name__ for e in events}
    assert {"LogBatch", "Snapshot", "Score", "StatusUpdate", "ResourceSample"} <= names
    assert any(
        isinstance(e, Snapshot) and any(c.path == "solution.py" for c in e.changes) for e in events
    )


def test_soft_pause_hint_freeze_thaw_and_kill(docker_engine: Engine, agent_image: str) -> None:
    client = docker_engine.client
    started = time.time()
    folder = start(PROBE_AGENT, agent_image)
    control = RunControl(folder, "tester")
    wait_for(lambda: not read_status(folder).observe_only, 60, "the agent's hello")

    control.pause()
    wait_for(lambda: read_status(folder).state is RunState.PAUSED, 30, "soft-paused")
    ticks = len(spool(folder, Stream.STDOUT))
    time.sleep(1.0)
    assert len(spool(folder, Stream.STDOUT)) <= ticks + 1  # held at its checkpoint
    assert container_state(client, folder)["Running"]  # a soft pause is the agent's own
    control.resume()
    wait_for(lambda: read_status(folder).state is RunState.RUNNING, 30, "resumed")

    hint_id = control.hint("try gradient boosting")
    acks = lambda: protocol.read_jsonl(folder.control / protocol.ACKS)  # noqa: E731
    wait_for(lambda: any(a.get("id") == hint_id and a.get("status") == "used" for a in acks()), 30)

    control.freeze()
    assert container_state(client, folder)["Paused"] is True
    wait_for(lambda: read_status(folder).state is RunState.FROZEN, 10, "frozen")
    with pytest.raises(ActionError, match="already frozen"):
        control.freeze()
    frozen_lines = len(spool(folder, Stream.STDOUT))
    time.sleep(2.0)
    assert len(spool(folder, Stream.STDOUT)) == frozen_lines
    control.thaw()
    assert container_state(client, folder)["Paused"] is False
    wait_for(lambda: read_status(folder).state is RunState.RUNNING, 10, "thawed")
    wait_for(lambda: len(spool(folder, Stream.STDOUT)) > frozen_lines, 10, "ticks again")
    status = read_status(folder)
    assert status.wall_s - status.active_s >= 1.5  # frozen time is not active time

    control.kill(grace_s=5)
    wait_ended(folder, 30)
    record = folder.read()
    state = container_state(client, folder)
    assert record.state == "killed" and record.end_reason == "operator"
    assert not state["Running"] and record.exit_code == state["ExitCode"] == 143  # SIGTERM
    actions = engine_actions(client, record.container_id or "", started)
    for action in ("pause", "unpause", "kill", "die"):
        assert action in actions, actions
    journal = read_journal(folder.journal_path).entries
    seen = [e["event"] for e in journal if e["kind"] == "container"]
    assert seen.index("pause") < seen.index("unpause") < seen.index("die")
    assert [a["action"] for a in journal if a["kind"] == "action"] == [
        "pause",
        "resume",
        "hint",
        "freeze",
        "thaw",
        "kill",
    ]


def test_kill_escalates_when_the_agent_ignores_sigterm(
    docker_engine: Engine, test_base_image: str
) -> None:
    folder = start("trap '' TERM; echo ready; while true; do sleep 0.1; done", test_base_image)
    wait_for(lambda: spool(folder, Stream.STDOUT), 30, "ready")
    control = RunControl(folder)
    control.freeze()  # a frozen run can always be killed
    wait_for(lambda: read_status(folder).state is RunState.FROZEN, 10, "frozen")
    control.kill(grace_s=1.5)
    wait_ended(folder, 30)
    record = folder.read()
    assert record.state == "killed" and record.exit_code == 137
    assert any(b"sent SIGKILL" in raw for _, raw in spool(folder, Stream.SYSTEM))
    signals = [
        e.get("signal")
        for e in read_journal(folder.journal_path).entries
        if e["kind"] == "container" and e["event"] == "kill"
    ]
    assert signals == ["15", "9"]


def test_a_container_over_its_memory_limit_shows_oom(
    docker_engine: Engine, test_base_image: str
) -> None:
    hog = "python3 -c \"x = [b'x' * (8 << 20) for _ in range(100)]\""
    folder = start(hog, test_base_image, memory="64m")
    wait_ended(folder, 60)
    record = folder.read()
    assert record.state == "exited" and record.exit_code == 137
    assert record.oom_killed and record.end_reason == "out of memory"
    assert container_state(docker_engine.client, folder)["OOMKilled"] is True
    assert state_text(read_status(folder)) == "exited (code 137, out of memory)"
    events = [
        e["event"] for e in read_journal(folder.journal_path).entries if e["kind"] == "container"
    ]
    assert "oom" in events
    info = docker_engine.client.api.inspect_container(record.container_id)
    assert info["HostConfig"]["Memory"] == 64 * 1024**2


def test_the_time_limit_counts_active_time_in_a_container(
    docker_engine: Engine, test_base_image: str
) -> None:
    folder = start("sleep 60", test_base_image, time_limit_s=2)
    wait_ended(folder, 40)
    record = folder.read()
    assert record.state == "killed" and record.end_reason == "time limit"
    assert 2 <= record.active_s < 8


def test_a_container_removed_outside_mletui_is_lost_and_its_logs_stay(
    docker_engine: Engine, test_base_image: str
) -> None:
    folder = start("while true; do echo tick; sleep 0.1; done", test_base_image)
    wait_for(lambda: len(spool(folder, Stream.STDOUT)) >= 5, 30, "ticks")
    docker_engine.client.api.remove_container(folder.read().container_id, force=True)
    wait_for(lambda: read_status(folder).state is RunState.LOST, 30, "lost")
    record = folder.read()
    assert record.state == "lost" and "removed outside mletui" in (record.end_reason or "")
    texts = [line.text for line in LogFollower(folder.log_path).read_new()]
    assert texts.count("tick") >= 5
    with pytest.raises(ActionError, match="lost"):
        RunControl(folder).freeze()


def test_bad_input_gets_one_sentence(docker_engine: Engine, test_base_image: str) -> None:
    task = resolve_task("digits")
    with pytest.raises(RuntimeFailure, match=r"not on the Docker Engine .* `mletui image build`"):
        start_run(task, runtime="docker", runtime_options={"image": "mletui-agent:nope"})
    with pytest.raises(RuntimeFailure, match=r"No Docker Engine answers at tcp://127\.0\.0\.1:9"):
        start_run(task, runtime="docker", runtime_options={"docker_host": "tcp://127.0.0.1:9"})
    with pytest.raises(RuntimeFailure, match="--memory 1k is below"):
        start_run(task, runtime="docker", runtime_options={"memory": "1k"})
    assert list_runs() == []  # checked before any run folder is made
    if "nvidia" not in str(docker_engine.client.info().get("Runtimes", {})):
        with pytest.raises(RuntimeFailure, match="cannot give the container GPUs"):
            start("true", test_base_image, gpus="all")


def test_runs_are_listed_and_acted_on_from_a_new_shell(
    docker_engine: Engine, test_base_image: str
) -> None:
    import json
    import subprocess
    import sys

    env = {**os.environ}
    folder = start("while true; do echo tick; sleep 0.2; done", test_base_image, cpus="0.5")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mletui", *args], capture_output=True, text=True, env=env
        )

    shown = json.loads(cli("show", folder.id[:4], "--json").stdout)
    assert shown["runtime"] == "docker" and shown["state"] == "running"
    assert shown["container_id"] == folder.read().container_id
    assert shown["runtime_options"]["cpus"] == 0.5
    assert "docker" in cli("ls").stdout
    assert cli("freeze", folder.id).returncode == 0
    assert container_state(docker_engine.client, folder)["Paused"] is True
    assert "frozen" in cli("ls").stdout
    assert cli("thaw", folder.id).returncode == 0
    result = cli("kill", folder.id, "--yes", "--grace", "2")
    assert result.returncode == 0 and "killed" in result.stdout, result.stderr
    info = docker_engine.client.api.inspect_container(shown["container_id"])
    assert info["HostConfig"]["NanoCpus"] == 500_000_000 and not info["State"]["Running"]
