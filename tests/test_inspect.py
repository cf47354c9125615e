"""Inspect AI evals watched and steered through Inspect's control channel: real evals, offline
(a scripted mock model counting its own tokens, bash in the local sandbox), in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mletui.core.events import (
    ActionRecord,
    AgentStep,
    LogBatch,
    LogLine,
    RunState,
    Score,
    StatusUpdate,
    StepStatus,
)
from mletui.integrations.inspect.client import ControlClient, ControlError
from mletui.integrations.inspect.discovery import EvalProcess, discover
from mletui.integrations.inspect.logfile import ended_rows, logged_events
from mletui.integrations.inspect.rows import SampleRow, read_live
from mletui.integrations.inspect.session import InspectSession
from mletui.integrations.inspect.transcript import event_step
from mletui.store.journal import read_journal
from tests.conftest import wait_for

pytestmark = pytest.mark.usefixtures("inspect_ai_installed")

SCRIPT = Path(__file__).parent / "inspect_fixtures" / "slow_eval.py"


class Eval:
    def __init__(self, tmp: Path, *args: str) -> None:
        self.data = tmp / "data"
        self.control = self.data / "inspect_ai" / "control"
        self.logs = tmp / "logs"
        tmp.mkdir(parents=True)
        # HOME apart: Inspect's bash tool runs `bash --login`, and a login shell reading the
        # operator's profile (pyenv's rehash takes a lock) can hang two samples' calls at once.
        env = {
            **os.environ,
            "XDG_DATA_HOME": str(self.data),
            "HOME": str(tmp),
            "PYTHONUNBUFFERED": "1",
        }
        self.out = (tmp / "eval.out").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), str(self.logs), *args],
            env=env,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def watched(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point mletui's Inspect source at this eval: its control folder and its logs."""
        monkeypatch.setenv("MLETUI_INSPECT_CONTROL_DIR", str(self.control))
        monkeypatch.setenv("INSPECT_LOG_DIR", str(self.logs))

    def process(self) -> EvalProcess:
        found: list[EvalProcess] = []

        def live() -> bool:
            found[:] = [p for p in discover(self.control).processes if p.pid == self.proc.pid]
            return bool(found)

        wait_for(live, 60, "the eval's discovery file")
        return found[0]

    def rows(self, process: EvalProcess, count: int, state: str = "running") -> list[SampleRow]:
        rows: list[SampleRow] = []

        def ready() -> bool:
            rows[:] = [r for r in read_live(process).samples if r.state == state]
            return len(rows) >= count

        wait_for(ready, 60, f"{count} {state} sample(s)")
        return sorted(rows, key=lambda r: r.sample_id)

    def wait(self, timeout: float = 60) -> None:
        self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.out.close()


@pytest.fixture
def start_eval(tmp_path: Path) -> Iterator[type[Eval]]:
    started: list[Eval] = []

    def start(*args: str) -> Eval:
        ev = Eval(tmp_path / f"eval{len(started)}", *args)
        started.append(ev)
        return ev

    yield start  # type: ignore[misc]
    for ev in started:
        ev.stop()


def lines_until(session: InspectSession, text: str, timeout: float = 30) -> list[LogLine]:
    seen: list[LogLine] = []

    def found() -> bool:
        for event in session.poll():
            if isinstance(event, LogBatch):
                seen.extend(event.lines)
        return any(text in line.text for line in seen)

    wait_for(found, timeout, f"a transcript line with {text!r}")
    return seen


def status_until(session: InspectSession, state: RunState, timeout: float = 30) -> StatusUpdate:
    got: list[StatusUpdate] = []

    def reached() -> bool:
        session.invalidate_status()
        got.extend(e for e in session.poll() if isinstance(e, StatusUpdate))
        return bool(got) and got[-1].state is state

    wait_for(reached, timeout, f"the sample's state to be {state.value}")
    return got[-1]


def test_discovery_rows_transcript_and_pauses(start_eval: type[Eval]) -> None:
    ev = start_eval("--steps", "400", "--sleep", "0.2", "--samples", "2")
    process = ev.process()
    assert process.api_version == 8 and process.unsupported is None
    s1, s2 = ev.rows(process, 2)
    assert (s1.task, s1.model, s1.sample_id, s1.epoch) == ("slow_loop", "scripted/model", "s1", 1)
    assert s2.sample_id == "s2" and s1.id != s2.id and s1.pid == ev.proc.pid

    session = InspectSession(s1, process)
    seen = lines_until(session, "step 1 output")
    texts = [line.text for line in seen]
    # The assistant's text: markup shown as its characters, the escape sequence removed.
    said = next(t for t in texts if t.startswith("[model scripted/model]"))
    assert "step 0: [bold red]running[/] the next command" in said and "\x1b" not in said
    assert any(t.startswith("[tool bash] sleep 0.2; echo step 0 output") for t in texts)
    assert any(t.startswith("[tool bash output]") and "step 0 output" in t for t in texts)
    assert [line.number for line in seen] == list(range(1, len(seen) + 1))
    # Exactly once: the cursor goes on where it stopped.
    more = lines_until(session, "step 3 output")
    assert not {line.text for line in more if "output" in line.text} & set(texts)
    row = read_live(process).samples[0]
    assert row.tokens and row.tokens > 0 and row.elapsed_s and row.elapsed_s > 0

    client = ControlClient(process.socket_path)

    def task_row() -> dict[str, object]:
        rows = client.tasks()
        assert len(rows) == 1
        return dict(rows[0])

    # Soft pause of the task: Inspect's own GET /tasks agrees; the started sample goes on.
    session.pause("task")
    assert task_row()["paused"] == ["task"] and task_row()["paused_now"] is None
    assert status_until(session, RunState.RUNNING).state is RunState.RUNNING
    # Hard pause: in-flight samples are held at their next model call.
    session.pause("task", now=True)
    assert task_row()["paused_now"] == ["task"]
    status_until(session, RunState.PAUSED)
    wait_for(lambda: task_row()["held"] == 2, 10, "Inspect to hold both samples")
    session.resume("task")
    assert task_row()["paused"] is None
    status_until(session, RunState.RUNNING)
    lines_until(session, "[model scripted/model]")  # it goes on

    # The other scopes: the model and the whole process.
    session.pause("model", now=True)
    assert task_row()["paused_models"] == ["scripted/model"]
    session.resume("model")
    session.pause("process")
    assert task_row()["process_paused"] is True and task_row()["process_paused_now"] is False
    session.resume("process")
    assert task_row()["process_paused"] is False and task_row()["paused_models"] == []

    # Every action is in mletui's journal for the sample, before Inspect acted on it.
    journal = read_journal(session.folder.journal_path)
    entries = [e for e in journal.entries if e["kind"] == "action"]
    assert [(e["action"], e.get("scope"), e.get("now", False)) for e in entries] == [
        ("pause", "task", False),
        ("pause", "task", True),
        ("resume", "task", False),
        ("pause", "model", True),
        ("resume", "model", False),
        ("pause", "process", False),
        ("resume", "process", False),
    ]
    # Another watcher of the sample reads the same record.
    records = [e for e in InspectSession(s1, process).poll() if isinstance(e, ActionRecord)]
    assert [r.action for r in records] == [e["action"] for e in entries]
    assert records[1].detail == "hard (now), task slow_loop"
    assert session.folder.journal_path.parent.parent.name == "inspect"


def test_model_and_tool_calls_are_the_sample_s_steps(start_eval: type[Eval]) -> None:
    ev = start_eval("--steps", "400", "--sleep", "1", "--samples", "1")
    process = ev.process()
    [row] = ev.rows(process, 1)
    session = InspectSession(row, process)
    reports: list[AgentStep] = []

    def ended(count: int) -> bool:
        reports.extend(e for e in session.poll() if isinstance(e, AgentStep))
        return sum(r.status is not StepStatus.RUNNING and bool(r.seconds) for r in reports) >= count

    wait_for(lambda: ended(4), 60, "four steps that ended, with their durations")
    newest: dict[int, AgentStep] = {}
    for report in reports:
        newest[report.step] = report  # the newest report of a step wins, as in the pane
    steps = [newest[n] for n in sorted(newest)]
    assert [s.step for s in steps] == list(range(1, len(steps) + 1))
    model, tool = steps[0], steps[1]
    assert [s.stage for s in steps[:4]] == ["model", "bash", "model", "bash"]
    # The model's first line, markup as its characters and the escape sequence gone.
    assert model.plan == "step 0: [bold red]running[/] the next command now"
    assert model.status is StepStatus.OK and model.outcome.endswith(" tokens")
    assert tool.plan == "sleep 1.0; echo step 0 output; echo to-stderr >&2"
    assert tool.status is StepStatus.OK and "step 0 output" in tool.outcome
    assert tool.seconds is not None and tool.seconds >= 1.0  # the call slept a second
    # A tool call was first a running step, then the same step ended.
    running = [r.step for r in reports if r.status is StepStatus.RUNNING]
    assert running and all(newest[n].stage == "bash" for n in running[:-1])
    assert all(r.started == r.ts for r in reports)


def test_an_ended_sample_s_steps_are_read_from_its_eval_log(start_eval: type[Eval]) -> None:
    ev = start_eval("--steps", "3", "--sleep", "0.3", "--samples", "1")
    ev.wait(120)
    (row,) = ended_rows(ev.logs).rows
    assert row.log_path and row.state == "completed"

    def read() -> list[AgentStep]:
        session = InspectSession(row, None)  # no process: nothing but the .eval log to read
        return [e for e in session.poll() if isinstance(e, AgentStep)]

    reports = read()
    steps = sorted({r.step: r for r in reports}.values(), key=lambda s: s.step)
    # Every call had ended: one report each, and one more once the next call gave its duration.
    assert all(r.status is StepStatus.OK for r in reports)
    assert len(reports) == 2 * len(steps) - 1
    assert [s.step for s in steps] == list(range(1, 8))
    assert [s.stage for s in steps] == ["model", "bash"] * 3 + ["model"]
    assert steps[0].plan == "step 0: [bold red]running[/] the next command now"
    assert steps[1].plan == "sleep 0.3; echo step 0 output; echo to-stderr >&2"
    assert steps[1].outcome == "to-stderr"  # the output's first line (Inspect puts stderr first)
    assert steps[-1].plan == "All steps done. ANSWER: DONE"
    models = [s for s in steps if s.stage == "model"]
    assert all(s.outcome.endswith(" tokens") for s in models)
    # Tokens in and out from the call's usage (the scripted model counts a word a token).
    assert all(s.tokens_in > 0 and s.tokens_out > 0 for s in models)
    assert all(f"{s.tokens_in + s.tokens_out} tokens" == s.outcome for s in models)
    assert all(s.tokens_in == s.tokens_out == 0 for s in steps if s.stage == "bash")
    # Durations from Inspect's times: each tool call slept, the last call's is not known.
    assert all(s.seconds is not None and s.seconds >= 0.3 for s in steps if s.stage == "bash")
    assert steps[-1].seconds is None
    starts = [s.started or 0.0 for s in steps]
    assert starts == sorted(starts) and starts[0] > 1e9
    # Another reader of the log numbers them the same.
    assert read() == reports


def test_a_model_step_s_tokens_are_counts_or_nothing() -> None:
    """Usage is the provider's word: a step's tokens are whole counts, never below zero."""
    call = {"event": "model", "timestamp": 1e9, "completion": "plan", "tokens": 30}
    assert (event_step({**call, "tokens_in": 20, "tokens_out": 10}, 1).tokens_in) == 20
    for bad in (-5, True, "12", 1.5, 10**40, None):
        step = event_step({**call, "tokens_in": bad, "tokens_out": bad}, 1)
        assert (step.tokens_in, step.tokens_out) == (0, 0)
    # The channel's compact events carry the total only: in and out stay unknown.
    step = event_step(call, 1)
    assert (step.tokens_in, step.tokens_out, step.outcome) == (0, 0, "30 tokens")


def test_cancel_limits_and_the_log(start_eval: type[Eval]) -> None:
    ev = start_eval("--steps", "400", "--sleep", "0.2", "--samples", "3", "--tolerate-errors")
    process = ev.process()
    s1, s2, s3 = ev.rows(process, 3)
    one, two, three = (InspectSession(s, process) for s in (s1, s2, s3))
    lines_until(one, "step 1 output")

    # Limits: Inspect's task config shows them; a message limit ends the third sample.
    limits = three.set_limits(token_limit=1_000_000, time_limit=600)
    assert limits == {"time_limit": 600, "token_limit": 1_000_000, "message_limit": None}
    client = ControlClient(process.socket_path)
    assert client.task_config(s1.task_id)["limits"]["token_limit"] == 1_000_000

    one.cancel("score")
    two.cancel("error")
    with pytest.raises(Exception, match="already ended"):
        status_until(one, RunState.EXITED)
        one.cancel("score")
    three.set_limits(message_limit=4)
    status = status_until(three, RunState.EXITED)
    assert status.end_reason is not None and "message" in status.end_reason
    ev.wait()

    # Inspect's log records what was done: s1 cancelled and scored, s2 as an error.
    from inspect_ai.log import read_eval_log

    (path,) = ev.logs.glob("*.eval")
    log = read_eval_log(str(path))
    samples = {s.id: s for s in log.samples or []}
    assert samples["s1"].limit is not None and samples["s1"].limit.type == "operator"
    assert samples["s1"].scores and samples["s2"].error is not None
    assert samples["s3"].limit is not None and samples["s3"].limit.type == "message"
    assert log.eval.config is not None

    # Ended evals are read from their log files; the sessions go on from the log.
    rows = {r.sample_id: r for r in ended_rows(ev.logs).rows}
    assert rows["s1"].scores == (("includes", "I"),) and rows["s1"].limit == "operator"
    assert rows["s2"].state == "error" and rows["s3"].limit == "message"
    status = status_until(two, RunState.EXITED)
    assert status.end_reason is not None and status.end_reason.startswith("error")
    ended = InspectSession(rows["s1"], None).poll()
    assert [(s.name, s.value) for s in ended if isinstance(s, Score)] == [("includes", 0.0)]
    (status,) = [e for e in ended if isinstance(e, StatusUpdate)]
    assert status.state is RunState.EXITED and status.end_reason == "completed (operator)"

    # A session opened on an ended sample reads its transcript from the log file.
    late = InspectSession(rows["s3"], None)
    texts = [line.text for line in lines_until(late, "step 0 output")]
    assert any(t.startswith("[model scripted/model]") for t in texts)
    assert any(t == "[tool bash output] to-stderr" for t in texts)  # whole, line by line
    assert logged_events(path, "s3", 1)
    with pytest.raises(Exception, match="has ended"):
        late.pause("task")


def test_unknown_api_version_and_stale_files(tmp_path: Path) -> None:
    control = tmp_path / "control"
    control.mkdir()
    sock = tmp_path / "x.sock"
    me = os.getpid()
    (control / f"{me}.json").write_text(
        json.dumps({"pid": me, "socket_path": str(sock), "started_at": 1.0, "api_version": 99})
    )
    dead = subprocess.Popen(["true"])
    dead.wait()
    (control / f"{dead.pid}.json").write_text(json.dumps({"pid": dead.pid, "socket_path": "x"}))
    found = discover(control)
    assert [p.pid for p in found.processes] == [me]  # the dead pid's file is stale: ignored
    problem = found.processes[0].unsupported
    assert problem is not None and "version 99" in problem and "3 to 8" in problem
    with pytest.raises(ControlError, match="version 99"):
        read_live(found.processes[0])
    (control / f"{me}.json").write_text("{not json")
    assert discover(control).processes == ()
    assert "not an Inspect discovery file" in discover(control).problems[0]


def serve_once(path: Path, answer: bytes) -> threading.Thread:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def run() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(answer)
        conn.close()
        server.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def http(status: int, body: bytes) -> bytes:
    return b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n" % (status, len(body)) + body


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (http(200, b"{nope"), "not JSON"),
        (http(404, b'{"detail":"Not Found"}'), "older"),
        (http(409, b'{"error":"no \\u001b[31m way!!"}'), "Inspect refused: no  way!!"),
        (http(200, b"{}"), "not a JSON list"),
        (b"garbage\r\n\r\n", "failed"),
    ],
)
def test_client_answers_are_untrusted(tmp_path: Path, answer: bytes, said: str) -> None:
    path = tmp_path / "c.sock"
    thread = serve_once(path, answer)
    with pytest.raises(ControlError) as caught:
        ControlClient(path, timeout=5).tasks()
    thread.join(5)
    assert said in str(caught.value) and "\x1b" not in str(caught.value)


def test_client_bounds_and_timeouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mletui.integrations.inspect.client as client_module

    monkeypatch.setattr(client_module, "MAX_BODY_BYTES", 1000)
    path = tmp_path / "big.sock"
    body = b"[" + b"1," * 2000 + b"1]"
    thread = serve_once(path, http(200, body))
    with pytest.raises(ControlError, match="over 1000 bytes"):
        ControlClient(path).tasks()
    thread.join(5)
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.bind(str(tmp_path / "silent.sock"))
    silent.listen(1)
    with pytest.raises(ControlError, match=r"did not answer GET /tasks within 0\.3 s"):
        ControlClient(tmp_path / "silent.sock", timeout=0.3).tasks()
    silent.close()
    with pytest.raises(ControlError, match="socket is gone"):
        ControlClient(tmp_path / "none.sock").tasks()
