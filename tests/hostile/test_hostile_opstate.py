"""The operator's state is mletui's, not the agent's: an agent that writes the pause file, fakes
acks or stops its own process group cannot look paused or frozen, stop its clock or escape its
time limit; and a driver lock left by a dead process blocks nobody."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mletui.core.events import RunState
from mletui.grading.tasks import resolve_task
from mletui.runtimes.local import group_pids, is_stopped
from mletui.store.driverlock import LOCK_FILE, DriverLock, current_driver
from mletui.store.journal import read_journal
from mletui.store.opstate import OperatorStateReader
from mletui.store.runs import RunFolder
from mletui.watch.control import ActionError, RunControl, unavailable_reason
from mletui.watch.livestate import read_status
from tests.conftest import wait_for
from tests.docker_fixtures import Engine
from tests.test_oversight import protocol_agent

HELLO = """printf '{"protocol": 1, "agent": "forger", "capabilities": ["soft-pause"]}' \
> "$MLETUI_CONTROL_DIR/hello.json"
"""

FORGED_PAUSE = (
    HELLO
    + """
touch "$MLETUI_CONTROL_DIR/pause"
printf '{"id": "pause", "kind": "pause", "status": "paused", "message": "paused", "ts": %s}\\n' \
"$(date +%s)" >> "$MLETUI_CONTROL_DIR/acks.jsonl"
echo forged
while true; do sleep 0.2; done
"""
)

# The child then forks nothing: a process of an orphaned group that exits while another is
# stopped makes the kernel send the group SIGHUP and SIGCONT.
STOPS_ITS_LEADER = """
( sleep 0.3; kill -STOP $$; exec sleep 60 ) &
wait
"""

# Acknowledges the operator's pause as the protocol says, then fakes a resume: it deletes the
# pause file itself and says "resumed".
FAKE_RESUME = (
    HELLO
    + """
while [ ! -e "$MLETUI_CONTROL_DIR/pause" ]; do sleep 0.05; done
printf '{"id": "pause", "kind": "pause", "status": "paused", "message": "ok", "ts": %s}\\n' \
"$(date +%s.%N)" >> "$MLETUI_CONTROL_DIR/acks.jsonl"
while [ ! -e "$MLETUI_CONTROL_DIR/go" ]; do sleep 0.05; done
rm -f "$MLETUI_CONTROL_DIR/pause"
printf '{"id": "pause", "kind": "pause", "status": "resumed", "message": "ok", "ts": %s}\\n' \
"$(date +%s.%N)" >> "$MLETUI_CONTROL_DIR/acks.jsonl"
touch "$MLETUI_CONTROL_DIR/faked"
while true; do sleep 0.2; done
"""
)


def start(script: str, time_limit_s: float | None = None) -> RunFolder:
    from mletui.run.launcher import start_run

    folder = start_run(resolve_task("digits"), agent_cmd=script, time_limit_s=time_limit_s)
    wait_for(lambda: folder.read().state == "running", 20, "the agent to start")
    return folder


def notices(folder: RunFolder) -> list[str]:
    entries = read_journal(folder.journal_path).entries
    return [str(e.get("text")) for e in entries if e.get("kind") == "notice"]


def active(folder: RunFolder) -> float:
    return folder.read().active_s


def assert_clock_held(folder: RunFolder, for_s: float) -> None:
    """Active time does not move for ``for_s`` (after the supervisor's tick that was under way
    when the run stopped)."""
    time.sleep(0.3)
    held = active(folder)
    time.sleep(for_s)
    assert active(folder) == held


def test_a_forged_pause_file_and_ack_stop_neither_state_nor_clock() -> None:
    folder = start(FORGED_PAUSE, time_limit_s=3)
    wait_for(lambda: (folder.control / "acks.jsonl").exists(), 20, "the forged ack")
    time.sleep(0.6)  # a few supervisor ticks with the forged files in place
    status = read_status(folder)
    assert status.state is RunState.RUNNING
    before = active(folder)
    wait_for(lambda: active(folder) > before + 0.5, 5, "active time to keep counting")
    assert read_status(folder).state is RunState.RUNNING
    wait_for(lambda: folder.read().state == "killed", 20, "the time limit to stop the agent")
    record = folder.read()
    assert record.end_reason == "time limit"
    assert 3.0 <= record.active_s < 6.0
    assert record.ended is not None and record.started is not None
    assert record.ended - record.started < 10.0
    said = notices(folder)
    forged_file = [t for t in said if "pause file" in t]
    forged_ack = [t for t in said if "ack" in t and "answers no" in t]
    assert len(forged_file) == 1, said
    assert len(forged_ack) == 1, said
    assert record.agent_pid is not None and group_pids(record.agent_pid) == ()


# The whole group at once, the child with it: nothing of the agent is left running.
STOPS_ITS_GROUP = """
( sleep 0.3; kill -STOP -$$ ) &
wait
"""


@pytest.mark.parametrize("script", [STOPS_ITS_LEADER, STOPS_ITS_GROUP], ids=["leader", "group"])
def test_a_child_that_stops_the_group_leader_does_not_freeze_the_run(script: str) -> None:
    folder = start(script, time_limit_s=3)
    leader = folder.read().agent_pid
    assert leader is not None
    wait_for(lambda: is_stopped(leader), 20, "the child to stop the group leader")
    assert read_status(folder).state is RunState.RUNNING
    assert unavailable_reason("thaw", read_status(folder)) == "the run is not frozen"
    before = active(folder)
    wait_for(lambda: active(folder) > before + 0.5, 5, "active time to keep counting")
    wait_for(lambda: folder.read().state == "killed", 20, "the time limit to stop the agent")
    record = folder.read()
    assert record.end_reason == "time limit"
    assert 3.0 <= record.active_s < 6.0
    assert group_pids(leader) == ()


def test_a_fake_resume_leaves_the_operator_pause_standing() -> None:
    folder = start(FAKE_RESUME)
    wait_for(lambda: read_status(folder).observe_only is False, 20, "hello")
    control = RunControl(folder, "alice")
    control.pause()
    wait_for(lambda: read_status(folder).state is RunState.PAUSED, 10, "the acknowledged pause")
    assert_clock_held(folder, 0.6)  # the operator's acknowledged pause stops the clock
    (folder.control / "go").touch()
    wait_for(lambda: (folder.control / "faked").exists(), 10, "the fake resume")
    time.sleep(0.3)
    status = read_status(folder)
    assert status.state is RunState.PAUSE_REQUESTED  # paused for the operator, still
    assert unavailable_reason("pause", status) == "a soft pause is already requested"
    assert unavailable_reason("resume", status) is None
    with_fake = notices(folder)
    control.resume()
    assert read_status(folder).state is RunState.RUNNING
    assert notices(folder) == with_fake
    control.kill(grace_s=1)


def test_an_operator_freeze_is_frozen_and_holds_the_clock_past_the_limit() -> None:
    folder = start("while true; do sleep 0.2; done", time_limit_s=2)
    control = RunControl(folder, "alice")
    control.freeze()
    wait_for(lambda: read_status(folder).state is RunState.FROZEN, 5, "frozen")
    assert_clock_held(folder, 2.5)
    assert read_status(folder).state is RunState.FROZEN and folder.read().state == "running"
    control.thaw()
    assert read_status(folder).state is RunState.RUNNING
    wait_for(lambda: folder.read().state == "killed", 20, "the time limit after the thaw")
    assert folder.read().end_reason == "time limit"


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def plant_lock(folder: RunFolder, pid: int, host: str, since: float | None = None) -> None:
    now = time.time()
    lock = {
        "operator": "mallory",
        "host": host,
        "pid": pid,
        "token": "0123456789abcdef",
        "since": now - 1 if since is None else since,
        "heartbeat": now,
    }
    (folder.path / LOCK_FILE).write_text(json.dumps(lock), encoding="utf-8")


def test_a_lock_whose_pid_is_dead_is_taken_over_at_once_and_journaled() -> None:
    folder = protocol_agent()
    pid = dead_pid()
    plant_lock(folder, pid, socket.gethostname())
    assert current_driver(folder) is None  # nobody drives: a one-shot command goes ahead
    control = RunControl(folder, "carol", driver=True)
    control.hint("at once")
    holder = current_driver(folder)
    assert holder is not None and holder.operator == "carol" and holder.pid == os.getpid()
    actions = [e for e in read_journal(folder.journal_path).entries if e.get("kind") == "action"]
    assert [a["action"] for a in actions] == ["take-driver", "hint"]
    assert actions[0]["operator"] == "carol"
    assert actions[0]["detail"] == (
        f"took over from mallory (pid {pid} on {socket.gethostname()}): that process is gone"
    )
    assert actions[0]["previous"] == {
        "operator": "mallory",
        "host": socket.gethostname(),
        "pid": pid,
    }
    assert isinstance(control.driver, DriverLock) and control.driver.held
    control.driver.release()


def test_a_reused_pid_does_not_keep_a_dead_drivers_lock() -> None:
    folder = protocol_agent()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        # The lock was taken before that process started: its pid belongs to someone else now.
        plant_lock(folder, other.pid, socket.gethostname(), since=time.time() - 3600)
        assert current_driver(folder) is None
    finally:
        other.kill()
        other.wait()


def test_a_live_pid_or_another_hosts_lock_still_holds() -> None:
    folder = protocol_agent()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.2)
        plant_lock(folder, other.pid, socket.gethostname(), since=time.time())
        holder = current_driver(folder)
        assert holder is not None and holder.operator == "mallory"
        try:
            RunControl(folder, "carol", driver=True).hint("blocked")
        except ActionError as exc:
            assert "mallory" in str(exc) and "drives it" in str(exc)
        else:
            raise AssertionError("a live driver's lock was taken over")
    finally:
        other.kill()
        other.wait()
    plant_lock(folder, dead_pid(), "elsewhere.example")  # its pid means nothing on this host
    holder = current_driver(folder)
    assert holder is not None and holder.host == "elsewhere.example"


def test_a_lock_stamped_in_the_future_or_malformed_holds_nothing() -> None:
    folder = protocol_agent()
    lock = folder.path / LOCK_FILE
    # pid 1 lives for ever; a heartbeat a century ahead would never go stale.
    plant_lock(folder, 1, socket.gethostname(), since=time.time() - 10)
    data = json.loads(lock.read_text(encoding="utf-8"))
    lock.write_text(json.dumps({**data, "heartbeat": time.time() + 3e9}), encoding="utf-8")
    assert current_driver(folder) is None
    lock.write_text(json.dumps({**data, "pid": "1", "heartbeat": "soon"}), encoding="utf-8")
    assert current_driver(folder) is None
    lock.write_text("[" * 100_000, encoding="utf-8")
    assert current_driver(folder) is None
    RunControl(folder, "carol").hint("not blocked")


@pytest.mark.usefixtures("docker_cleanup")
def test_in_a_container_a_forged_pause_file_and_ack_stop_neither_state_nor_clock(
    docker_engine: Engine, agent_image: str
) -> None:
    from mletui.run.launcher import start_run

    folder = start_run(
        resolve_task("digits"),
        agent_cmd=FORGED_PAUSE,
        runtime="docker",
        time_limit_s=3,
        runtime_options={"image": agent_image},
    )
    wait_for(lambda: folder.read().state == "running", 60, "the container to start")
    wait_for(lambda: (folder.control / "acks.jsonl").exists(), 30, "the forged ack")
    time.sleep(0.6)
    assert read_status(folder).state is RunState.RUNNING
    wait_for(lambda: folder.read().state == "killed", 60, "the time limit to stop the agent")
    record = folder.read()
    assert record.end_reason == "time limit"
    assert 3.0 <= record.active_s < 10.0
    said = notices(folder)
    assert len([t for t in said if "pause file" in t]) == 1, said
    assert len([t for t in said if "ack" in t and "answers no" in t]) == 1, said
    assert record.container_id is not None
    container = docker_engine.client.containers.get(record.container_id)
    assert container.status != "running"


def test_an_overlong_or_broken_journal_line_does_not_hide_the_operators_actions(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal.jsonl"
    reader = OperatorStateReader(journal)
    with journal.open("wb") as f:
        f.write(b'{"kind": "action", "action": "freeze", "pad": "' + b"x" * (2 << 20) + b'"}\n')
        f.write(b'{"kind": "action", "action": "pause"}\n')
        f.write(b'{"kind": "ack", "ack_kind": "pause", "status": "paused", "x": ' + b"[" * 5000)
        f.write(b"\n")
    state = reader.read()
    assert state.paused and not state.acknowledged and not state.frozen
    with journal.open("ab") as f:
        f.write(b'{"kind": "ack", "ack_kind": "pause", "status": "paused", "id": "p')
    assert not reader.read().acknowledged  # still being written
    with journal.open("ab") as f:
        f.write(b'ause"}\n{"kind": "action", "action": "freeze"}\n')
    state = reader.read()
    assert state.soft_paused and state.frozen
    journal.write_bytes(b'{"kind": "ack", "ack_kind": "pause", "status": "paused"}\n')
    state = reader.read()  # replaced: read again from the start
    assert not state.paused and state.stray_acks == 1
