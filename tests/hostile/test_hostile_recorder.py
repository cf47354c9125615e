"""The recorder and the supervisor survive any input, and faults leave a reason.

Each test runs a real hostile agent (a shell script on the local runtime) that writes what no
honest agent would into its protocol files; the run must go on being recorded, every bad line must
become a notice in the journal (a bounded number of them), and a fault must leave its reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

import psutil
import pytest

from mletui.core.events import ResourceSample
from mletui.gpu.resources import ProcessGroupSampler
from mletui.grading.tasks import resolve_task
from mletui.run import recorder as recorder_module
from mletui.run.launcher import start_run
from mletui.run.recorder import Recorder
from mletui.store.journal import Journal, read_journal
from mletui.store.runs import RunFolder, create_run_folder, make_record
from tests.conftest import wait_ended, wait_for


def start(cmd: str) -> RunFolder:
    return start_run(resolve_task("digits"), agent_cmd=cmd)


def entries(folder: RunFolder, kind: str) -> list[dict[str, Any]]:
    return [e for e in read_journal(folder.journal_path).entries if e.get("kind") == kind]


def notices(folder: RunFolder) -> list[str]:
    return [str(e.get("text", "")) for e in entries(folder, "notice")]


def score_names(folder: RunFolder) -> list[str]:
    return [str(e["name"]) for e in entries(folder, "score")]


def assert_still_running(folder: RunFolder) -> None:
    record = folder.read()
    assert record.state == "running", (record.state, record.end_reason)
    assert record.supervisor_pid is not None and psutil.pid_exists(record.supervisor_pid)


def kill(folder: RunFolder) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mletui", "kill", folder.id, "--yes", "--grace", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    wait_ended(folder, 30)


# A good metric written a moment after the bad lines: it must be recorded all the same.
LATER = (
    "sleep 1; "
    'echo \'{"step": 9, "name": "later", "value": 0.5}\' >> "$MLETUI_CONTROL_DIR/metrics.jsonl"; '
    "echo written; sleep 60"
)

SURROGATES = r"""
c="$MLETUI_CONTROL_DIR"
printf '{"protocol": 1, "agent": "\\ud800agent", "capabilities": ["soft-pause"]}' > "$c/hello.json"
printf '{"step": 1, "name": "\\ud800", "value": 0.25}\n' >> "$c/metrics.jsonl"
printf '{"step": 2, "name": "raw \377\376 bytes", "value": 0.5}\n' >> "$c/metrics.jsonl"
printf '{"id": "\\udcff", "kind": "hint", "status": "used", "message": "\\ud800"}\n' \
  >> "$c/acks.jsonl"
printf '{"kind": "notice", "text": "\\udfff lone", "severity": "warning"}\n' >> "$c/events.jsonl"
printf '{"kind": "step", "step": 1, "plan": "\\ud800", "outcome": "\377"}\n' >> "$c/events.jsonl"
"""


def test_lone_surrogates_and_raw_bytes_in_every_protocol_file_are_recorded_safely() -> None:
    folder = start(SURROGATES + LATER)
    wait_for(lambda: "later" in score_names(folder), 20, "the later metric")
    names = score_names(folder)
    assert names == ["\ufffd", "raw \\xff\\xfe bytes", "later"]
    (hello,) = entries(folder, "hello")
    assert hello["hello"]["agent"] == "\ufffdagent"
    (ack,) = entries(folder, "ack")
    # \udcff is how an undecodable byte reads once decoded: it is shown as that byte's escape.
    assert ack["id"] == "\\xff" and ack["message"] == "\ufffd"
    (agent_notice,) = entries(folder, "agent_notice")
    assert agent_notice["text"] == "\ufffd lone"
    (step,) = entries(folder, "step")
    assert step["plan"] == "\ufffd" and step["outcome"] == "\\xff"
    assert_still_running(folder)


NON_UTF8_HELLO = r"""
printf '{"protocol": 1, "agent": "evil \377\376", "capabilities": ["hints"]}' \
  > "$MLETUI_CONTROL_DIR/hello.json"
"""


def test_a_hello_that_is_not_utf8_is_recorded_with_its_bytes_escaped() -> None:
    folder = start(NON_UTF8_HELLO + LATER)
    wait_for(lambda: "later" in score_names(folder), 20, "the later metric")
    (hello,) = entries(folder, "hello")
    assert hello["hello"]["agent"] == "evil \\xff\\xfe"
    assert hello["hello"]["capabilities"] == ["hints"]
    assert_still_running(folder)
    shown = subprocess.run(
        [sys.executable, "-m", "mletui", "show", folder.id], capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stderr


NESTED_ACKS = r"""
c="$MLETUI_CONTROL_DIR"
python3 -c 'import sys; sys.stdout.write("[" * 100000 + "\n")' >> "$c/acks.jsonl"
python3 -c 'import sys; sys.stdout.write("{\"id\": " * 100000 + "\n")' >> "$c/events.jsonl"
python3 -c 'import sys; sys.stdout.write("[" * 100000 + "]" * 100000 + "\n")' >> "$c/metrics.jsonl"
"""


def test_a_deeply_nested_acks_line_is_a_notice_and_the_run_goes_on() -> None:
    folder = start(NESTED_ACKS + LATER)
    wait_for(lambda: "later" in score_names(folder), 20, "the later metric")
    texts = notices(folder)
    assert "ignored a line of acks.jsonl: nested too deeply" in texts, texts
    assert "ignored a line of events.jsonl: nested too deeply" in texts, texts
    assert "ignored a line of metrics.jsonl: nested too deeply" in texts, texts
    assert_still_running(folder)
    for command in (["ls"], ["show", folder.id]):
        done = subprocess.run(
            [sys.executable, "-m", "mletui", *command], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr


WRONG_SHAPES = r"""
c="$MLETUI_CONTROL_DIR"
cat >> "$c/metrics.jsonl" <<'EOF'
{"step": {}, "value": []}
[1, 2, 3]
42
"a string"
null
{"value": 1e999}
{"value": NaN}
{"value": -Infinity}
{"step": 1e400, "value": 1}
{"step": 2, "value": 1, "direction": {"a": 1}}
{"step": 3, "value": "0.75", "name": {"x": [1]}}
{"step": 4, "name": "ok", "value": 0.5}
EOF
python3 -c 'print("{\"value\": " + "9" * 5000 + "}")' >> "$c/metrics.jsonl"
cat >> "$c/acks.jsonl" <<'EOF'
[1]
"ack"
{"id": {"deep": [1, 2]}, "kind": [], "status": 7, "message": {"m": null}}
EOF
cat >> "$c/events.jsonl" <<'EOF'
{"kind": {"step": 1}}
{"kind": "step", "step": 1e400}
{"kind": "step", "step": {}, "parent": []}
{"kind": "usage", "tokens_in": "many"}
{"kind": "budget", "max_steps": 1e400}
17
EOF
for i in $(seq 1 200); do echo "{not json $i" >> "$c/metrics.jsonl"; done
echo '{"step": 5, "name": "after the flood", "value": 0.6}' >> "$c/metrics.jsonl"
"""


def test_wrong_shaped_lines_become_notices_bounded_in_number_and_good_lines_are_kept() -> None:
    folder = start(WRONG_SHAPES + LATER)
    wait_for(lambda: "later" in score_names(folder), 20, "the later metric")
    scores = entries(folder, "score")
    assert [(s["name"], s["value"]) for s in scores] == [
        ("{'x': [1]}", 0.75),
        ("ok", 0.5),
        ("after the flood", 0.6),
        ("later", 0.5),
    ]
    assert_still_running(folder)
    kill(folder)  # the count of the notices dropped is written when the minute ends, or at the end
    texts = notices(folder)
    about_metrics = [t for t in texts if "metrics.jsonl" in t]
    # A flood of 211 bad lines: a few notices, then one that counts the rest.
    limit = recorder_module.NOTICES_PER_MINUTE
    assert about_metrics[:2] == [
        "ignored a line of metrics.jsonl: "
        "not a metric (a finite value, a whole step, direction higher or lower)",
        "ignored a line of metrics.jsonl: not a JSON object",
    ]
    assert len(about_metrics) == limit + 1, about_metrics
    assert about_metrics[-1] == f"{211 - limit} more notices about metrics.jsonl dropped"
    about_acks = [t for t in texts if "acks.jsonl" in t]
    assert about_acks[:2] == [
        "ignored a line of acks.jsonl: not a JSON object",
        "ignored a line of acks.jsonl: not a JSON object",
    ]
    (ack,) = entries(folder, "ack")  # strings are kept as strings, whatever the agent sent
    assert ack["id"] == "{'deep': [1, 2]}" and ack["status"] == "7"
    about_events = [t for t in texts if "events.jsonl" in t]
    assert about_events == [
        *["ignored a line of events.jsonl: not a valid event"] * limit,
        "1 more notice about events.jsonl dropped",
    ]
    assert entries(folder, "step") == [] and entries(folder, "budget") == []


HUGE_LINE = r"""
c="$MLETUI_CONTROL_DIR"
echo '{"step": 1, "name": "before", "value": 0.1}' >> "$c/metrics.jsonl"
sleep 1
head -c 300000000 /dev/zero | tr '\0' 'x' >> "$c/metrics.jsonl"
sleep 1
echo >> "$c/metrics.jsonl"
"""


def test_a_300_mb_line_with_no_newline_is_dropped_and_the_buffer_stays_bounded() -> None:
    folder = start(HUGE_LINE + LATER)
    wait_for(lambda: "before" in score_names(folder), 20, "the first metric")
    pid = folder.read().supervisor_pid
    assert pid is not None
    supervisor = psutil.Process(pid)
    peak = 0

    def later_recorded() -> bool:
        nonlocal peak
        peak = max(peak, supervisor.memory_info().rss)
        return "later" in score_names(folder)

    wait_for(later_recorded, 60, "the metric after the long line")
    assert peak < 200 << 20, f"the supervisor grew to {peak >> 20} MiB"
    assert score_names(folder) == ["before", "later"]
    texts = notices(folder)
    assert (
        f"ignored a line of metrics.jsonl: longer than {1 << 20} bytes (dropped unread)" in texts
    ), texts
    assert_still_running(folder)


class FailingOnce:
    """The run's real sampler, but its first sample raises (as a collector with a bug would)."""

    def __init__(self) -> None:
        self.inner = ProcessGroupSampler(os.getpgid(0))
        self.failed = False

    def sample(self) -> ResourceSample:
        if not self.failed:
            self.failed = True
            raise RuntimeError("injected sampler failure")
        return self.inner.sample()


class Hanging:
    """A sampler that never answers: the recorder's control thread can then never stop."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def sample(self) -> ResourceSample:
        self.release.wait()
        raise RuntimeError("released")


def recorder_folder() -> RunFolder:
    command = ["/bin/sh", "-c", "true"]
    record = make_record("digits", str(resolve_task("digits").path), "cmd", command, "local", None)
    return create_run_folder(record)


def test_a_recorder_thread_that_fails_is_restarted_and_the_failure_journaled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(recorder_module, "RESTART_AFTER_S", 0.2)
    folder = recorder_folder()
    recorder = Recorder(folder, Journal(folder.journal_path), FailingOnce())
    recorder.start()
    try:
        wait_for(lambda: any("failed" in t for t in notices(folder)), 10, "the failure notice")
        metric = '{"step": 3, "name": "after the restart", "value": 0.4}\n'
        (folder.control / "metrics.jsonl").write_text(metric)
        wait_for(lambda: score_names(folder) == ["after the restart"], 10, "the metric")
        wait_for(lambda: entries(folder, "resources"), 10, "a resource sample")
    finally:
        recorder.stop()
    assert (
        "recorder thread recorder-control failed (RuntimeError: injected sampler failure); "
        "restarted" in notices(folder)
    )


def test_recorder_stop_has_a_deadline_and_names_the_threads_that_did_not_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(recorder_module, "STOP_DEADLINE_S", 1.0)
    folder = recorder_folder()
    sampler = Hanging()
    recorder = Recorder(folder, Journal(folder.journal_path), sampler)
    recorder.start()
    try:
        time.sleep(recorder_module.POLL_S * 2)  # the control thread is now stuck in sample()
        recorder.stop()
    finally:
        sampler.release.set()
    assert "recorder stop: still running after 1 s: recorder-control" in notices(folder)


# Every protocol file made a link to an endless device, or a sparse file of 50 GB, and the driver
# lock a fifo: the watcher's readers (ls, show, freeze, kill) and the recorder must neither hang nor
# fill memory.
ENDLESS = r"""
c="$MLETUI_CONTROL_DIR"
truncate -s 50G "$c/big"
ln -sf /dev/zero "$c/hello.json"
ln -sf /dev/zero "$c/acks.jsonl"
ln -sf "$c/big" "$c/metrics.jsonl"
ln -sf /dev/urandom "$c/events.jsonl"
run=$(dirname "$c")
mkfifo "$run/driver.json"
ln -sf /dev/zero "$run/kill-request.json"
echo linked; sleep 1
rm "$c/metrics.jsonl"
echo '{"step": 9, "name": "later", "value": 0.5}' >> "$c/metrics.jsonl"
echo written; sleep 60
"""


def test_protocol_files_linked_to_endless_devices_hang_no_reader() -> None:
    folder = start(ENDLESS)
    try:
        wait_for(lambda: "written" in folder.log_path.read_text(errors="replace"), 30)
        wait_for(lambda: "later" in score_names(folder), 30)
        commands = (["ls"], ["show", folder.id], ["show", folder.id, "--json"])
        for command in (*commands, ["freeze", folder.id], ["thaw", folder.id]):
            done = subprocess.run(
                [sys.executable, "-m", "mletui", *command],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, (command, done.stderr)
            assert "Traceback" not in done.stderr
            assert folder.id[:6] in done.stdout + done.stderr  # (ls may shorten an id to fit)
        assert_still_running(folder)
        said = notices(folder)
        assert "hello.json not read: hello.json is a symbolic link" in said
        for name in ("metrics.jsonl", "acks.jsonl", "events.jsonl"):
            assert f"ignored a line of {name}: {name} is a symbolic link" in said
    finally:
        kill(folder)
