"""The operator's state is mletui's, not the agent's: an agent that writes the pause file, fakes
acks or stops its own process group cannot look paused or frozen, stop its clock or escape its
time limit."""

from __future__ import annotations

import time

from mletui.control import RunControl, unavailable_reason
from mletui.events import RunState
from mletui.grading.tasks import resolve_task
from mletui.journal import read_journal
from mletui.livestate import read_status
from mletui.runtimes.local import group_pids, is_stopped
from mletui.store import RunFolder
from tests.conftest import wait_for

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
    from mletui.launcher import start_run

    folder = start_run(resolve_task("digits"), agent_cmd=script, time_limit_s=time_limit_s)
    wait_for(lambda: folder.read().state == "running", 20, "the agent to start")
    return folder


def notices(folder: RunFolder) -> list[str]:
    entries = read_journal(folder.journal_path).entries
    return [str(e.get("text")) for e in entries if e.get("kind") == "notice"]


def active(folder: RunFolder) -> float:
    return folder.read().active_s


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


def test_a_child_that_stops_the_group_leader_does_not_freeze_the_run() -> None:
    folder = start(STOPS_ITS_LEADER, time_limit_s=3)
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
    time.sleep(0.3)  # the supervisor's tick that was under way when the ack came
    held = active(folder)
    time.sleep(0.6)
    assert active(folder) == held  # the operator's acknowledged pause stops the clock
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
    time.sleep(0.3)  # the supervisor's tick that was under way when the run stopped
    held = active(folder)
    time.sleep(2.5)
    assert read_status(folder).state is RunState.FROZEN
    assert active(folder) == held and folder.read().state == "running"
    control.thaw()
    assert read_status(folder).state is RunState.RUNNING
    wait_for(lambda: folder.read().state == "killed", 20, "the time limit after the thaw")
    assert folder.read().end_reason == "time limit"
