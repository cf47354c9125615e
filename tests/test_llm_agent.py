"""The LLM agent, run for real against a local Chat Completions server that replies from a script.

No paid service: ``tests/fake_llm_server.py`` speaks the protocol on 127.0.0.1. The agent runs as
a real process (under the local runtime, or bare with the protocol's folders), and its scripted
replies hold real code: scikit-learn on the digits task where the model matters, a few lines of
the standard library where only the agent's own behaviour is under test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from mletui import protocol
from mletui.agents import llm
from mletui.cli import main as cli_main
from mletui.core.events import (
    AgentStep,
    BudgetLimits,
    Notice,
    RunState,
    StatusUpdate,
    StepStatus,
    TokenUsage,
)
from mletui.core.records import AgentNotice, kind_of
from mletui.grading.submission import score_submission
from mletui.grading.tasks import Task, resolve_task
from mletui.run.launcher import start_run
from mletui.run.recorder import parse_agent_event
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder, list_runs
from mletui.tui.app import MletuiApp
from mletui.tui.screens.watch import WatchScreen
from mletui.tui.widgets.budget import BudgetLine
from mletui.watch.live import WatchSession, event_from_entry
from tests.conftest import wait_ended, wait_for
from tests.fake_llm_server import (
    FOREST,
    FOREST_BUGGY,
    FakeChatServer,
    Reply,
    code_reply,
    digits_script,
    error_reply,
    forest,
)

REPO = Path(__file__).resolve().parent.parent
KEY = "sk-test-not-a-real-key"
T0 = 1_700_000_000.0


def quick(value: float = 0.25, fail: str | None = None) -> str:
    """A solution in a few lines of the standard library: the sample submission, a fixed score."""
    failure = f"raise ValueError({fail!r})\n" if fail else ""
    return (
        "import csv, os\n"
        "from pathlib import Path\n"
        'data = Path(os.environ["MLETUI_DATA_DIR"])\n'
        'rows = list(csv.reader(open(data / "sample_submission.csv")))\n'
        f"{failure}"
        'with open(os.environ["MLETUI_PREDICTIONS_PATH"], "w", newline="") as f:\n'
        "    csv.writer(f).writerows(rows)\n"
        f'print("VALIDATION_METRIC: {value}")\n'
    )


def llm_env(server: FakeChatServer, **extra: str) -> dict[str, str]:
    env = {
        llm.ENV_BASE_URL: server.url,
        llm.ENV_API_KEY: KEY,
        llm.ENV_MODEL: "fake-model",
        llm.ENV_PRICE_IN: "1",
        llm.ENV_PRICE_OUT: "2",
        llm.ENV_BACKOFF: "0.05",
    }
    env.update(extra)
    return env


def start_llm_run(server: FakeChatServer, time_limit_s: float = 120, **extra: str) -> RunFolder:
    """The LLM agent on the digits task, its model ``server``, with ``extra`` in its environment."""
    return start_run(
        resolve_task("digits"),
        agent="llm",
        time_limit_s=time_limit_s,
        extra_env=llm_env(server, **extra),
    )


class BareRun:
    """The agent as a plain subprocess, with the folders the runtime would give it."""

    def __init__(self, task: Task, root: Path, env: dict[str, str]) -> None:
        self.task = task
        self.control, self.workspace, self.submission, self.logs = (
            root / name for name in ("control", "workspace", "submission", "logs")
        )
        for folder in (self.control, self.workspace, self.submission, self.logs):
            folder.mkdir()
        base = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), base.get("PYTHONPATH")]))
        base.update(
            {
                protocol.ENV_CONTROL_DIR: str(self.control),
                llm.ENV_DATA_DIR: str(task.public_dir),
                llm.ENV_WORKSPACE: str(self.workspace),
                llm.ENV_SUBMISSION_DIR: str(self.submission),
                llm.ENV_LOGS_DIR: str(self.logs),
                llm.ENV_TASK_ID: task.id,
                llm.ENV_TASK_METRIC: task.metric,
                llm.ENV_TASK_LOWER_IS_BETTER: "1" if task.lower_is_better else "0",
            }
        )
        base.update(env)
        self.env = base

    def start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-u", "-m", "mletui.agents.llm"],
            cwd=self.workspace,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run(self, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-u", "-m", "mletui.agents.llm"],
            cwd=self.workspace,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def hint(self, hint_id: str, text: str) -> None:
        record = {"id": hint_id, "text": text, "ts": time.time()}
        protocol.append_jsonl(self.control / protocol.HINTS, record)

    def acks(self) -> list[dict[str, Any]]:
        return protocol.read_jsonl(self.control / protocol.ACKS)

    def answer(self, hint_id: str) -> dict[str, Any]:
        """The agent's last word on a hint: used or ignored, with its message."""
        return [a for a in self.acks() if a["id"] == hint_id and a["status"] != "received"][-1]

    def events(self, kind: str) -> list[dict[str, Any]]:
        records = protocol.read_jsonl(self.control / protocol.EVENTS)
        return [r for r in records if r["kind"] == kind]


def entries(folder: RunFolder, kind: str) -> list[dict[str, Any]]:
    return [e for e in read_journal(folder.journal_path).entries if e["kind"] == kind]


def ended(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reports of how steps ended (each step is reported running first)."""
    return [s for s in steps if s.get("status") != "running"]


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return out


def releasing(server: FakeChatServer, number: int, then: Callable[[], None]) -> None:
    """Wait until request ``number`` (1-based) is in, do ``then`` (while it is held)."""
    wait_for(lambda: len(server.completions) >= number, 60, f"request {number}")
    then()


# --- a whole run under the local runtime --------------------------------------------------------


def test_a_run_drafts_debugs_and_improves_with_real_models() -> None:
    task = resolve_task("digits")
    with FakeChatServer(digits_script()) as server:
        folder = start_run(
            task,
            agent="llm",
            time_limit_s=300,
            extra_env=llm_env(server, **{llm.ENV_MAX_STEPS: "4", llm.ENV_DRAFTS: "2"}),
        )
        wait_ended(folder, 180)
        requests = server.completions
    record = folder.read()
    log = folder.log_path.read_text(errors="replace")
    assert record.state == "exited" and record.exit_code == 0, log

    # What the server received: four calls, the key, the model, and prompts that build on
    # what came before: the failed script and its traceback, then the best script.
    assert len(requests) == 4
    assert {r.body["model"] for r in requests} == {"fake-model"}
    assert {r.headers.get("authorization") for r in requests} == {f"Bearer {KEY}"}
    assert "Write a first solution" in requests[0].prompt
    debug = requests[2].prompt
    assert "Step 2's script failed" in debug
    assert FOREST_BUGGY.strip() in debug
    assert "NameError: name 'RandomForestClassifier' is not defined" in debug
    improve = requests[3].prompt
    assert "Improve the best solution so far, step 3" in improve
    assert FOREST.strip() in improve
    assert "OVERSEER" not in improve  # no hint was sent

    # What the run produced: step summaries in the journal, scores, code, a submission.
    steps = ended(entries(folder, "step"))
    assert [s["stage"] for s in steps] == ["draft", "draft", "debug", "improve"]
    assert [s["parent"] for s in steps] == [None, None, 2, 3]
    assert steps[1]["outcome"].startswith("failed: exit code 1: NameError")
    assert steps[1]["metric"] is None
    assert all(s["tokens_in"] > 0 and s["tokens_out"] > 0 and s["cost"] > 0 for s in steps)
    assert steps[0]["plan"].startswith("Plan: a scaled logistic regression")
    usage = entries(folder, "usage")
    assert len(usage) == 4
    assert sum(u["tokens_in"] for u in usage) == sum(s["tokens_in"] for s in steps)
    assert entries(folder, "budget")[0]["max_steps"] == 4

    scores = entries(folder, "score")
    assert [s["step"] for s in scores] == [1, 3, 4]
    assert all(0.9 < s["value"] <= 1.0 for s in scores)
    assert (folder.workspace / "solution.py").read_text() == forest(150).strip() + "\n"
    code_snapshots = [
        e
        for e in entries(folder, "snapshot")
        if any(c["path"] == "solution.py" for c in e["changes"])
    ]
    assert len(code_snapshots) >= 3
    assert not [p for p in folder.workspace.iterdir() if p.name != "solution.py"]
    best = max(s["value"] for s in scores)
    assert score_submission(task, folder.submission / "submission.csv") == pytest.approx(
        best, abs=0.05
    )
    assert "training ExtraTreesClassifier" in log  # the solution's own output reaches the log

    # What a watcher gets: the typed events behind the budget line.
    events = WatchSession(folder).poll()
    steps = [e for e in events if isinstance(e, AgentStep)]
    assert len([s for s in steps if s.status is not StepStatus.RUNNING]) == 4
    assert len([e for e in events if isinstance(e, TokenUsage)]) == 4
    assert [e.max_steps for e in events if isinstance(e, BudgetLimits)] == [4]


def test_retries_are_shown_and_bad_replies_are_failed_steps() -> None:
    script = [
        error_reply(429, "rate limited", headers={"retry-after-ms": "20"}),
        error_reply(500, "the server fell over"),
        code_reply("Plan: the sample submission.", quick(0.2)),
        Reply(body=b"this is not JSON"),
        Reply(content="I would use a random forest here, but I will not write code."),
        code_reply("Plan: the sample submission again.", quick(0.3)),
    ]
    with FakeChatServer(script) as server:
        folder = start_llm_run(server, **{llm.ENV_MAX_STEPS: "4"})
        wait_ended(folder, 60)
        assert len(server.completions) == 6
    log = folder.log_path.read_text(errors="replace")
    assert folder.read().exit_code == 0, log
    notices = [e["text"] for e in entries(folder, "agent_notice")]
    assert len(notices) == 2, notices
    assert "rate limited (429); retry 1 of 5 in 0.0 s" in notices[0]
    assert "server error (500); retry 2 of 5" in notices[1]
    assert "retry 1 of 5" in log and "retry 2 of 5" in log
    shown = [event_from_entry(e) for e in entries(folder, "agent_notice")]
    assert all(isinstance(n, Notice) and n.text.startswith("agent: ") for n in shown)

    outcomes = [s["outcome"] for s in ended(entries(folder, "step"))]
    assert outcomes[0].startswith("validation accuracy 0.2000")
    assert outcomes[1].startswith("model call failed: malformed reply")
    assert outcomes[2] == "failed: no usable code in the reply"
    assert outcomes[3].startswith("validation accuracy 0.3000")
    assert [s["step"] for s in entries(folder, "score")] == [1, 4]


def test_a_slow_reply_is_retried_and_retries_run_out(tmp_path: Path) -> None:
    script = [
        code_reply("Plan: too slow.", quick(0.2), delay=3.0),
        error_reply(503, "overloaded"),
    ]
    with FakeChatServer(script) as server:
        env = llm_env(
            server,
            **{llm.ENV_MAX_STEPS: "1", llm.ENV_RETRIES: "1", llm.ENV_REQUEST_TIMEOUT: "0.5"},
        )
        run = BareRun(resolve_task("digits"), tmp_path, env)
        result = run.run(timeout=60)
        assert len(server.completions) == 2
    assert result.returncode == llm.EXIT_FAILED, result.stdout
    [notice] = run.events("notice")
    assert "model call for step 1: no reply within 0.5 s; retry 1 of 1 in " in notice["text"]
    [step] = ended(run.events("step"))
    assert step["outcome"] == "model call failed: server error (503); gave up after 1 retries"


def test_a_server_that_refuses_stream_options_is_asked_again_without_them(
    tmp_path: Path,
) -> None:
    replies = [
        code_reply("Plan: the sample.", quick(0.2), usage=(700, 30), usage_always=True),
        code_reply("Plan: the sample again.", quick(0.3)),  # no usage chunk at all
    ]

    def strict(number: int, body: dict[str, Any]) -> Reply:
        # As some OpenAI-compatible servers answer a field they do not know.
        if "stream_options" in body:
            return error_reply(400, "Unrecognized request argument supplied: stream_options")
        return replies.pop(0) if replies else error_reply(400, "script exhausted")

    with FakeChatServer(strict) as server:
        env = llm_env(server, **{llm.ENV_MAX_STEPS: "2"})
        run = BareRun(resolve_task("digits"), tmp_path, env)
        result = run.run(timeout=60)
        sent = [r.body for r in server.completions]
    assert result.returncode == 0, result.stdout
    # Refused once; every call after it, the retry included, goes without them, streamed.
    assert ["stream_options" in body for body in sent] == [True, False, False]
    assert all(body.get("stream") for body in sent)
    steps = ended(run.events("step"))
    assert [s["outcome"].split(" ")[:2] for s in steps] == [["validation", "accuracy"]] * 2
    first, second = run.events("usage")
    assert (first["tokens_in"], first["tokens_out"]) == (700, 30)  # the stream's own count
    prompt = sum(len(str(m["content"])) for m in sent[2]["messages"])
    assert second["tokens_in"] == prompt // 4  # estimated, and said so once
    notices = [n["text"] for n in run.events("notice")]
    assert notices.count("the model server refuses stream_options: asked again without them") == 1
    assert notices.count("the model server counts no tokens: usage from here is an estimate") == 1


def test_pause_holds_the_agent_and_a_hint_reaches_the_next_prompt(tmp_path: Path) -> None:
    hold = threading.Event()
    script = [
        code_reply("Plan: first.", quick(0.2), hold=hold),
        code_reply("Plan: second.", quick(0.3)),
    ]
    hint = "Please try gradient boosting with early stopping"
    with FakeChatServer(script) as server:
        run = BareRun(resolve_task("digits"), tmp_path, llm_env(server, **{llm.ENV_MAX_STEPS: "2"}))
        proc = run.start()
        try:

            def pause_and_hint() -> None:
                (run.control / protocol.PAUSE).write_text("")
                run.hint("h1", hint)
                hold.set()

            releasing(server, 1, pause_and_hint)
            # The reply is in and its code written; the agent holds before running it.
            wait_for(lambda: any(a["status"] == "paused" for a in run.acks()), 30, "paused")
            time.sleep(1.0)
            assert len(server.completions) == 1  # no model call while paused
            assert not (run.control / protocol.METRICS).exists()  # and no code run
            assert (run.workspace / "solution.py").is_file()
            (run.control / protocol.PAUSE).unlink()
            out = finish(proc)
        finally:
            hold.set()
        requests = server.completions
    assert proc.returncode == 0, out
    assert len(requests) == 2
    assert hint not in requests[0].prompt
    assert "# Guidance from the human overseer" in requests[1].prompt
    assert f"OVERSEER (hint h1): {hint}" in requests[1].prompt
    answer = run.answer("h1")
    assert answer["status"] == "used"
    assert "in the prompt of step 2 (draft) as guidance from the human overseer" in str(
        answer["message"]
    )
    assert [a["status"] for a in run.acks() if a["kind"] == "pause"] == ["paused", "resumed"]


def test_commands_stop_drafting_revert_to_best_and_stop(tmp_path: Path) -> None:
    holds = [threading.Event() for _ in range(4)]
    script = [
        code_reply("Plan: draft one.", quick(0.4), hold=holds[0]),
        code_reply("Plan: draft two.", quick(fail="draft two is broken"), hold=holds[1]),
        code_reply("Plan: fix draft two.", quick(fail="still broken"), hold=holds[2]),
        code_reply("Plan: improve draft one.", quick(0.5), hold=holds[3]),
    ]
    with FakeChatServer(script) as server:
        run = BareRun(resolve_task("digits"), tmp_path, llm_env(server, **{llm.ENV_DRAFTS: "3"}))
        proc = run.start()
        try:
            holds[0].set()
            releasing(server, 2, lambda: (run.hint("h1", "stop drafting"), holds[1].set()))
            releasing(server, 3, lambda: (run.hint("h2", "revert to best"), holds[2].set()))
            releasing(server, 4, lambda: (run.hint("h3", "stop"), holds[3].set()))
            out = finish(proc)
        finally:
            for hold in holds:
                hold.set()
        requests = server.completions
    assert proc.returncode == 0, out
    assert len(requests) == 4
    # Without "stop drafting", step 3 would have been a third draft.
    assert "Step 2's script failed: exit code 1: ValueError: draft two is broken" in (
        requests[2].prompt
    )
    # Without "revert to best", step 4 would have debugged step 3.
    assert "Improve the best solution so far, step 1" in requests[3].prompt
    assert "OVERSEER" not in requests[3].prompt  # bare commands are not guidance
    steps = ended(run.events("step"))
    assert [s["stage"] for s in steps] == ["draft", "draft", "debug", "improve"]
    assert steps[-1]["outcome"] == "not run: the overseer said stop"
    assert [m["step"] for m in protocol.read_jsonl(run.control / protocol.METRICS)] == [1]
    assert "no more drafts after 2" in run.answer("h1")["message"]
    assert (
        "after step 3 the next step improves the best solution (step 1,"
        in (run.answer("h2")["message"])
    )
    assert run.answer("h3")["message"].startswith("stopping; keeping the best submission (step 1")
    assert (run.submission / "submission.csv").is_file()


def test_code_that_hangs_is_killed_at_its_timeout(tmp_path: Path) -> None:
    pids = tmp_path / "pids.txt"
    hanging = (
        "import os, subprocess, sys, time\n"
        'child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])\n'
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "print('training forever; key given:', 'OPENAI_API_KEY' in os.environ, flush=True)\n"
        "time.sleep(600)\n"
    )
    with FakeChatServer([code_reply("Plan: wait a long time.", hanging)]) as server:
        env = llm_env(server, **{llm.ENV_MAX_STEPS: "1", llm.ENV_STEP_TIMEOUT: "1.5"})
        (tmp_path / "run").mkdir()
        run = BareRun(resolve_task("digits"), tmp_path / "run", env)
        started = time.monotonic()
        result = run.run(timeout=60)
    assert time.monotonic() - started < 30
    assert result.returncode == llm.EXIT_FAILED, result.stdout
    assert "training forever; key given: False" in result.stdout  # never to the model's code
    [step] = ended(run.events("step"))
    assert step["outcome"] == "failed: killed at its time-out of 1.5 s"
    for pid in map(int, pids.read_text().split()):
        wait_for(lambda pid=pid: not _alive(pid), 10, f"pid {pid} to be gone")


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_max_cost_stops_before_the_call_that_would_pass_it(tmp_path: Path) -> None:
    # $1000 a million tokens both ways: 1000 tokens in and 1000 out cost $2 a call.
    script = [code_reply("Plan: cheap.", quick(0.2), usage=(1000, 1000))] * 3
    with FakeChatServer(script) as server:
        env = llm_env(
            server,
            **{llm.ENV_PRICE_IN: "1000", llm.ENV_PRICE_OUT: "1000", llm.ENV_MAX_COST: "3"},
        )
        run = BareRun(resolve_task("digits"), tmp_path, env)
        result = run.run()
        assert len(server.completions) == 1
    assert result.returncode == 0, result.stdout
    assert "past the limit of $3" in result.stdout
    [budget] = run.events("budget")
    assert budget["max_cost"] == 3.0
    [usage] = run.events("usage")
    assert usage["cost"] == pytest.approx(2.0)


def test_without_a_key_or_a_base_url_it_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = BareRun(resolve_task("digits"), tmp_path, {llm.ENV_MODEL: "gpt-4o-mini"})
    result = run.run()
    assert result.returncode == llm.EXIT_UNUSABLE
    for words in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "--agent baseline"):
        assert words in result.stderr
    assert not (run.control / protocol.HELLO).exists()

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert cli_main(["run", "digits", "--agent", "llm", "--model", "gpt-4o-mini"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "OPENAI_API_KEY" in err and "--agent baseline" in err
    assert list_runs() == []


def test_a_refused_key_ends_the_run_with_a_sentence(tmp_path: Path) -> None:
    with FakeChatServer([error_reply(401, "invalid api key")]) as server:
        run = BareRun(resolve_task("digits"), tmp_path, llm_env(server))
        result = run.run()
        assert len(server.completions) == 1  # not retried
    assert result.returncode == llm.EXIT_UNUSABLE
    assert "refused the credentials (401); check OPENAI_API_KEY." in result.stdout
    assert run.events("notice")[-1]["severity"] == "error"


# --- pieces -------------------------------------------------------------------------------------


def test_agent_events_are_validated_before_the_journal() -> None:
    step = {"kind": "step", "step": 3, "plan": "x" * 5000, "outcome": "ok", "tokens_in": 10}
    parsed = parse_agent_event(step)
    assert isinstance(parsed, AgentStep) and len(parsed.plan) == 2000 and parsed.cost is None
    assert parse_agent_event({"kind": "notice", "text": "retrying"}) == AgentNotice(
        0.0, "retrying", "warning"
    )
    for bad in (
        {"kind": "step", "plan": "no step number"},
        {"kind": "step", "step": True},
        {"kind": "step", "step": 1, "metric": float("nan")},
        {"kind": "usage", "tokens_in": -5},
        {"kind": "usage", "tokens_in": float("inf")},
        {"kind": "usage", "cost": "a lot"},
        {"kind": "notice", "text": ""},
        {"kind": "something else"},
    ):
        assert parse_agent_event(bad) is None, bad


def test_the_protocol_writes_events_that_the_recorder_accepts(tmp_path: Path) -> None:
    control = protocol.Control(tmp_path)
    control.report_budget(max_cost=2.0, max_steps=10, model="m")
    control.report_usage(120, 30, cost=0.001, model="m")
    control.report_step(1, plan="p", outcome="ok", stage="draft", metric=0.5, tokens_in=120)
    control.report_notice("retrying", severity="information")
    records = protocol.read_jsonl(tmp_path / protocol.EVENTS)
    parsed = [parse_agent_event(r) for r in records]
    assert [kind_of(p) for p in parsed if p] == ["budget", "usage", "step", "agent_notice"]
    protocol.Control(None).report_step(1, plan="", outcome="")  # no control folder: a no-op


def test_replies_are_split_into_plan_and_code() -> None:
    plan, code = llm.split_reply("Use a forest.\n\n```python\nprint(1)\n```\n")
    assert (plan, code) == ("Use a forest.", "print(1)\n")
    plan, code = llm.split_reply("```bash\npip install x\n```\n```\nprint(2)\n```")
    assert code == "print(2)\n"
    assert llm.split_reply("No code at all.") == ("No code at all.", None)
    assert llm.split_reply("Cut off:\n```python\nimport os\nprint(") == (
        "Cut off:",
        "import os\nprint(\n",
    )
    assert llm.split_reply("import os\nprint(os.sep)") == ("", "import os\nprint(os.sep)\n")
    assert llm.parse_metric("VALIDATION_METRIC: 0.5\nVALIDATION_METRIC: 0.75\n") == 0.75
    assert llm.parse_metric("VALIDATION_METRIC: nan\n") is None
    assert llm.price_of("openai/gpt-4o-mini-2024-07-18") == llm.PRICES["gpt-4o-mini"]
    assert llm.price_of("my-local-model") is None
    for text in ("stop", "Stop now.", "please stop the run"):
        assert llm.is_stop(text), text
    for text in ("stop using forests", "stop drafting", "don't stop"):
        assert not llm.is_stop(text), text


def test_settings_come_from_the_environment() -> None:
    config = llm.read_config({llm.ENV_API_KEY: "k", llm.ENV_MODEL: "gpt-4o"})
    assert config.price == llm.PRICES["gpt-4o"] and config.max_steps == llm.DEFAULT_MAX_STEPS
    assert config.cost(1_000_000, 0) == pytest.approx(2.5)
    with pytest.raises(llm.SetupError, match="--max-cost needs the price"):
        llm.read_config(
            {llm.ENV_BASE_URL: "http://x/v1", llm.ENV_MODEL: "m", "MLETUI_LLM_MAX_COST": "1"}
        )
    with pytest.raises(llm.SetupError, match="must be a number"):
        llm.read_config({llm.ENV_API_KEY: "k", llm.ENV_MODEL: "m", llm.ENV_MAX_STEPS: "many"})


# --- what the operator sees ---------------------------------------------------------------------


def _status(active_s: float, left_s: float | None) -> StatusUpdate:
    return StatusUpdate(RunState.RUNNING, active_s + 5, active_s, left_s, None, None, False, "llm")


async def test_the_budget_line_adds_up_usage_against_the_limits() -> None:
    line = BudgetLine()

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield line

    async with Host().run_test(size=(160, 3)) as pilot:
        assert not line.display  # hidden for agents that report no usage (the baseline)
        line.update_status(_status(192, 1608))
        line.set_limits(BudgetLimits(T0, 1.0, 10, "gpt\x1b[31m-4o"))
        for tokens_in, tokens_out in ((8000, 2000), (4345, 2560)):
            line.add_usage(TokenUsage(T0, tokens_in, tokens_out, 0.02105, "gpt-4o"))
        line.add_step(AgentStep(T0, 3, "debug", "fix it", "ok", 0.9, 1, 1, 0.01))
        await pilot.pause()
        assert line.display
        text = line.render().plain
        for part in (
            "time 0:03:12 left 0:26:48",
            "steps 3 of 10",
            "tokens 12.3k in 4.56k out",
            "cost ≈ $0.0421 of $1.00",
            "model gpt\ufffd[31m-4o",  # the agent's text, never a control sequence
        ):
            assert part in text, (part, text)
        line.add_usage(TokenUsage(T0, 10, 10, None, "gpt-4o"))
        assert "cost unknown" in line.render().plain


async def test_watching_an_llm_run_pause_hint_and_kill_act_within_a_model_call() -> None:
    def endless(number: int, body: dict[str, Any]) -> Reply:
        return code_reply(f"Plan: attempt {number + 1}.", quick(0.1 + number / 100), delay=0.3)

    with FakeChatServer(endless) as server:
        folder = start_llm_run(server, 300, **{llm.ENV_MAX_STEPS: "200", llm.ENV_DRAFTS: "2"})
        app = MletuiApp(run_id=folder.id, operator="pilot")
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            assert isinstance(screen, WatchScreen)
            line = screen.query_one(BudgetLine)
            await until(pilot, lambda: line.display and line.tokens_in > 0 and line.steps >= 1)
            assert "tokens" in line.render().plain and "of 200" in line.render().plain

            # The budget line reads the journal, the keys the run's status: a loaded machine can
            # show steps before the status poll says the run is running (then `p` only says why).
            await until(pilot, lambda: screen.reason_unavailable("toggle_pause") is None)
            await pilot.press("p")
            await until(pilot, lambda: _acked(folder, "paused"))
            calls = len(server.completions)
            await pilot.pause(1.0)
            assert len(server.completions) == calls  # held within one model call
            await pilot.press("p")
            await until(pilot, lambda: _acked(folder, "resumed"))

            await pilot.press("h")
            await pilot.press(*"use more trees")
            await pilot.press("enter")
            await until(
                pilot,
                lambda: any(
                    "OVERSEER" in r.prompt and "use more trees" in r.prompt
                    for r in server.completions
                ),
            )
            await until(pilot, lambda: _acked(folder, "used"))

            await pilot.press("K")
            await pilot.press("y")
            await until(pilot, lambda: folder.read().state == "killed", timeout=30)
            calls = len(server.completions)
            await pilot.pause(1.0)
            assert len(server.completions) == calls


def _acked(folder: RunFolder, status: str) -> bool:
    return any(
        a.get("status") == status for a in protocol.read_jsonl(folder.control / protocol.ACKS)
    )


async def until(pilot: Pilot[None], predicate: Callable[[], object], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.1)
