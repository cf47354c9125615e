"""Faults under a hostile agent: the Docker daemon restarted under a run that ignores polite
stops (the run is still recorded across the restart, and kill still ends it), and the TUI
driving a run SIGKILLed (the run goes on being recorded, the next action works at once, and
the journal audits intact)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading

import pytest

from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store.driverlock import DriverLock, current_driver
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder
from mletui.watch.control import default_operator
from tests.conftest import wait_ended, wait_for
from tests.docker_fixtures import SecondEngine
from tests.hostile.test_hostile_kill import cli

# Ignores SIGTERM, and keeps a child in a session of its own.
STUBBORN = (
    "trap '' TERM; "
    "setsid sh -c 'trap \"\" TERM; while :; do sleep 1; done' & "
    'i=0; while :; do i=$((i+1)); echo "tick $i"; '
    'echo "{\\"step\\": $i, \\"name\\": \\"loss\\", \\"value\\": 1}" '
    '>> "$MLETUI_CONTROL_DIR/metrics.jsonl"; '
    "sleep 0.2; done"
)


def metric_steps(folder: RunFolder) -> list[int]:
    entries = read_journal(folder.journal_path).entries
    return [int(e["step"]) for e in entries if e.get("kind") == "score" and "step" in e]


@pytest.mark.usefixtures("docker_cleanup")
def test_kill_ends_a_stubborn_container_after_a_daemon_restart(
    second_engine: SecondEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in second_engine.env.items():  # its TLS certificates
        monkeypatch.setenv(name, value)
    folder = start_run(
        resolve_task("digits"),
        agent_cmd=STUBBORN,
        runtime="docker",
        runtime_options={"image": "mletui-test-base", "docker_host": second_engine.url},
    )
    wait_for(lambda: len(metric_steps(folder)) >= 3, 60, "metrics before the restart")
    second_engine.restart()
    before = max(metric_steps(folder))
    wait_for(lambda: max(metric_steps(folder)) > before + 3, 60, "metrics after the restart")

    done = subprocess.run(
        [sys.executable, "-m", "mletui", "kill", folder.id, "--yes", "--grace", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    wait_ended(folder, 60)
    record = folder.read()
    assert record.end_reason == "operator", record
    client = second_engine.client
    assert client is not None and record.container_id
    container = client.containers.get(record.container_id)
    assert container.status in ("exited", "dead"), container.status
    kills = [e for e in read_journal(folder.journal_path).entries if e.get("action") == "kill"]
    assert len(kills) == 1


# STUBBORN with a hello, so that hints are its to take.
TALKING = (
    """printf '{"protocol": 1, "agent": "talker", "capabilities": ["hints"]}' """
    '> "$MLETUI_CONTROL_DIR/hello.json"; ' + STUBBORN
)


def watch_in_a_terminal(run_id: str) -> subprocess.Popen[bytes]:
    """`mletui watch RUN --drive` on a pseudo-terminal of 120x40, its screen drained."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mletui", "watch", run_id, "--drive"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "TERM": "xterm-256color"},
        start_new_session=True,
    )
    os.close(follower)

    def drain() -> None:
        with contextlib.suppress(OSError):
            while os.read(leader, 65536):
                pass
        os.close(leader)

    threading.Thread(target=drain, daemon=True).start()
    return proc


def test_a_sigkilled_tui_leaves_the_run_recorded_and_its_lock_free() -> None:
    folder = start_run(resolve_task("digits"), agent_cmd=TALKING)
    tui = watch_in_a_terminal(folder.id)
    try:
        wait_for(
            lambda: (d := current_driver(folder)) is not None and d.pid == tui.pid,
            60,
            "the TUI to take the driver lock",
        )
        # ... and to have journaled it (killed between its line and its anchor, the next
        # writer chains after the line all the same: see tests/test_journal.py).
        wait_for(
            lambda: any(
                e.get("action") == "drive" for e in read_journal(folder.journal_path).entries
            ),
            10,
            "the TUI's drive entry",
        )
        os.kill(tui.pid, signal.SIGKILL)
        assert tui.wait(10) == -signal.SIGKILL
    finally:
        if tui.poll() is None:
            tui.kill()
    before = max(metric_steps(folder), default=0)
    wait_for(lambda: max(metric_steps(folder)) > before + 3, 30, "metrics after the TUI died")
    # The dead driver holds nothing: a one-shot command acts at once, a new watcher takes over.
    hint = cli("hint", folder.id, "still here")
    assert hint.returncode == 0, hint.stderr
    assert current_driver(folder) is None
    lock = DriverLock(folder, "next")
    assert lock.acquire() is None
    lock.release()
    actions = [e for e in read_journal(folder.journal_path).entries if e["kind"] == "action"]
    assert [a["action"] for a in actions] == ["drive", "hint", "take-driver", "release-driver"]
    who = f"{default_operator()} (pid {tui.pid} on {socket.gethostname()})"
    assert actions[2]["detail"] == f"took over from {who}: that process is gone"
    audit = cli("audit", folder.id)
    assert audit.returncode == 0, audit.stdout
    assert f"Run {folder.id}: the record of " in audit.stdout
    assert " entries is intact." in audit.stdout
    assert cli("kill", folder.id, "--yes", "--grace", "1").returncode == 0
    wait_ended(folder)
