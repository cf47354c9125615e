"""The journal's one schema: every record kind round-trips through its entry, and a damaged entry
of any kind decodes to a value that says what is wrong, never an exception."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mletui.core.events import (
    ActionRecord,
    AgentStep,
    BudgetLimits,
    FileChange,
    GpuDevice,
    ModelOutput,
    ResourceSample,
    RunState,
    Score,
    Snapshot,
    StallFlag,
    StepStatus,
    TokenUsage,
)
from mletui.core.records import (
    KINDS,
    Ack,
    AgentNotice,
    AgentQuestion,
    AlertRecord,
    BadEntry,
    ContainerEvent,
    GradeRecord,
    GradingRecord,
    Hello,
    JournalNotice,
    Record,
    StateChange,
    Validation,
    decode,
    kind_of,
    to_entry,
)

T = 1_700_000_000.5
GPU = GpuDevice(0, "NVIDIA L4", "GPU-1", 63.5, 3 << 30, 24 << 30, 70.2, 72.0, 55.0, 2040, 6250,
                None, 12.5, 1 << 30)  # fmt: skip

RECORDS: list[Record] = [
    StateChange(T, RunState.RUNNING, agent="python agent.py"),
    StateChange(T, RunState.STOPPING, reason="time limit"),
    StateChange(T, RunState.EXITED, exit_code=0, reason=None, oom_killed=False),
    StateChange(T, RunState.KILLED, exit_code=-9, reason="operator", oom_killed=True),
    JournalNotice(T, "a notice"),
    JournalNotice(T, "engine lost", engine="unreachable", error="refused"),
    AgentNotice(T, "retrying", "information"),
    Validation(T, "v-1", "submission.csv", True),
    Validation(T, "v-2", None, False, ("only a file inside submission/ is checked",), refused=True),
    AgentQuestion(T, "q1-1", "which fold?"),
    AlertRecord(T, "ask", "ask:q1-1", "asks for help: which fold?", T),
    AlertRecord(T, "crashed", "crashed", "crashed: exit code 3"),
    Hello(T, {"protocol": 1, "agent": "baseline", "capabilities": ["hints"]}),
    Ack(T, "h-1", "hint", "used", "thanks"),
    ActionRecord(T, "pause", "al@host", "", run_wall_s=12.5, run_active_s=10.0),
    ActionRecord(T, "hint", "al@host", "try trees", 1.0, 1.0, hint_id="h-1"),
    ActionRecord(T, "kill", "al@host", "docker kill", 1.0, 1.0, target="container"),
    ActionRecord(T, "take-driver", "bo", "took over", previous={"operator": "al", "pid": 3}),
    Snapshot(
        3,
        T,
        (
            FileChange("a.py", "added", None, "ab" * 32, 10, True),
            FileChange("d.csv", "modified", "cd" * 32, "ef" * 32, 1 << 30, False),
        ),
        {"a.py": "ab" * 32, "d.csv": "ef" * 32},
    ),
    Score(T, 2, "accuracy", 0.93, "higher", snapshot_seq=3),
    Score(T, 4, "loss", 0.2, "lower", snapshot_seq=None, source="log", line=120),
    GradeRecord(
        T,
        1,
        "submission/submission.csv",
        T - 1,
        2048,
        "ab" * 32,
        3,
        True,
        0.97,
        None,
        "accuracy",
        "higher",
        "bronze",
        True,
        report={"score": 0.97},
    ),
    GradeRecord(
        T,
        2,
        "x.csv",
        T,
        10,
        None,
        None,
        False,
        None,
        "not graded",
        "",
        "higher",
        None,
        False,
        checked_by="the container's grading server",
        server={"valid": False, "text": "bad"},
        grader_error="boom",
    ),
    GradingRecord(
        T,
        "accuracy",
        "higher",
        True,
        "graded on digits",
        thresholds={"gold": 0.99, "median": None},
        teams=100,
        leaderboard_lower_is_better=False,
    ),
    GradingRecord(
        T,
        "",
        "higher",
        False,
        "not graded",
        grader="MLE-bench's grader",
        leaderboard_error="no leaderboard.csv",
    ),
    ResourceSample(T, 150.5, 2 << 30, 3, "GPU: 1 device"),
    ResourceSample(T, 12.0, 1, 1, "", 10, 20, 4 << 30, (GPU,)),
    StallFlag(T, "gpu-idle", True, "GPU idle for 10 min", T - 600),
    StallFlag(T, "log-silent", False, "a log line arrived", T - 60, 60.0),
    AgentStep(T, 1, "draft", "a plan", "ok", 0.5, 100, 20, 0.01, parent=None, seconds=3.5),
    AgentStep(
        T,
        2,
        "debug",
        "fix it",
        "failed: ValueError",
        None,
        5,
        6,
        None,
        parent=1,
        status=StepStatus.BUGGY,
        error="ValueError",
        analysis="the column is text",
        hint_used=True,
        started=T - 4,
        output="Traceback ...",
        snapshot_seq=3,
    ),
    ModelOutput(T, 2, "I will fix"),
    ModelOutput(T, 2, " it.", done=True, truncated=True),
    TokenUsage(T, 100, 20, None, "gpt"),
    BudgetLimits(T, 2.0, None, "gpt"),
    ContainerEvent(T, "die", "exited", engine_ts=T, exit_code=137),
    ContainerEvent(T, "kill", "running", engine_ts=T, signal="9"),
    ContainerEvent(T, "inspect", "paused"),
]


def test_every_kind_is_covered_here() -> None:
    assert {kind_of(r) for r in RECORDS} == set(KINDS.values())


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: kind_of(r))
def test_a_record_round_trips_through_its_journal_entry(record: Record) -> None:
    entry = to_entry(record)
    assert entry["ts"] == T and entry["kind"] == kind_of(record)
    # As the journal writes and reads it: JSON, with the chain's own fields beside the record's.
    line = json.loads(json.dumps({**entry, "prev": "0" * 64, "mac": "1" * 64}))
    assert decode(line) == record


# One field of each kind that a writer never makes anything but a number, text or object.
WRONG: dict[str, tuple[str, Any]] = {
    "state": ("state", 3),
    "notice": ("text", ["x"]),
    "agent_notice": ("text", None),
    "ask": ("text", 42),
    "alert": ("upto", "later"),
    "hello": ("hello", "hi"),
    "ack": ("status", {"a": 1}),
    "action": ("action", 7),
    "snapshot": ("seq", "three"),
    "score": ("value", "0.9"),
    "grade": ("valid", "yes"),
    "grading": ("thresholds", {"gold": "high"}),
    "resources": ("gpus", [{"i": "zero"}]),
    "stall": ("since", "an hour ago"),
    "step": ("tokens_in", True),
    "model_output": ("text", 5),
    "usage": ("cost", "a lot"),
    "budget": ("max_steps", 2.5),
    "container": ("event", None),
    "validation": ("valid", "yes"),
}


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: kind_of(r))
def test_a_wrong_typed_field_decodes_to_a_bad_entry(record: Record) -> None:
    kind = kind_of(record)
    key, value = WRONG[kind]
    bad = decode({**to_entry(record), key: value})
    assert isinstance(bad, BadEntry) and bad.kind == kind and bad.known, bad
    assert bad.ts == T and bad.problem


@pytest.mark.parametrize(
    "entry",
    [
        None,
        [],
        "state",
        {},
        {"kind": 3},
        {"kind": "score"},
        {"kind": "snapshot", "seq": 1, "ts": T, "changes": ["not an object"]},
        {"kind": "snapshot", "seq": 1, "ts": T, "files": {"a": 1}},
        {"kind": "state", "state": "dancing"},
        {"kind": "stall", "flag": "x", "ts": "soon"},
        {"kind": "resources", "cpu": 1, "rss": 1, "procs": 1, "gpus": "many"},
        {"kind": "grade", "submission": 1, "valid": True, "server": [1]},
    ],
)
def test_damaged_entries_never_raise(entry: Any) -> None:
    assert isinstance(decode(entry), BadEntry)


def test_an_unknown_kind_is_said_to_be_unknown() -> None:
    bad = decode({"ts": T, "kind": "from-the-future", "x": 1})
    assert isinstance(bad, BadEntry) and not bad.known


def test_old_entries_without_optional_fields_read_with_their_defaults() -> None:
    score = decode({"ts": T, "kind": "score", "step": 1, "name": "acc", "value": 1})
    assert score == Score(T, 1, "acc", 1.0, "higher")
    action = decode({"ts": T, "kind": "action", "action": "pause"})
    assert isinstance(action, ActionRecord) and action.operator == "?" and action.detail == ""


def test_the_bytes_written_are_the_bytes_written_before_records() -> None:
    """The key order and values of the entries the recorder wrote as dicts."""
    resources = to_entry(ResourceSample(T, 12.345, 1, 2, "gpu", None, None, None))
    assert list(resources) == ["ts", "kind", "cpu", "rss", "procs", "gpu"]
    assert resources["cpu"] == 12.3
    log_score = to_entry(Score(T, 1, "loss", 0.5, "lower", snapshot_seq=2, source="log", line=9))
    assert list(log_score)[2:] == [
        "step", "name", "value", "direction", "score_kind", "source", "line", "snapshot_seq",
    ]  # fmt: skip
    end = to_entry(StateChange(T, RunState.EXITED, exit_code=1))
    assert list(end)[2:] == ["state", "exit_code", "reason", "oom_killed"]
    hint = to_entry(ActionRecord(T, "hint", "al", "x", 1.0, 2.0, hint_id="h"))
    assert list(hint)[2:] == ["action", "operator", "run_wall_s", "run_active_s", "detail",
                              "hint_id"]  # fmt: skip


def test_run_json_keeps_its_state_string_and_an_unknown_one_skips_the_folder_by_name() -> None:
    from mletui.store.runs import create_run_folder, make_record, scan_runs

    folder = create_run_folder(make_record("digits", "/tmp/d", "cmd", ["true"], "local", None))
    assert json.loads(folder.run_json.read_text())["state"] == "created"
    assert folder.read().state is RunState.CREATED
    with folder.updating() as record:
        record.state = RunState.RUNNING
    assert json.loads(folder.run_json.read_text())["state"] == "running"
    data = json.loads(folder.run_json.read_text())
    folder.run_json.write_text(json.dumps({**data, "state": "dancing"}))  # a hostile rewrite
    scan = scan_runs()
    assert scan.folders == [] and len(scan.skipped) == 1
    line = scan.skipped[0].line()
    assert str(folder.path) in line and "not a run state" in line


def test_a_step_from_an_older_journal_is_a_finished_step() -> None:
    entry = to_entry(AgentStep(T, 1, "draft", "p", "ok", None, 0, 0, None))
    assert set(entry) == {
        "ts", "kind", "step", "stage", "parent", "plan", "outcome", "metric", "tokens_in",
        "tokens_out", "cost", "seconds",
    }  # fmt: skip
    step = decode(entry)
    assert isinstance(step, AgentStep) and step.status is StepStatus.OK and not step.hint_used


def test_an_unknown_step_status_is_a_bad_entry() -> None:
    entry = {**to_entry(AgentStep(T, 1, "draft", "p", "ok", None, 0, 0, None)), "status": "meh"}
    bad = decode(entry)
    assert isinstance(bad, BadEntry) and "step status" in bad.problem
