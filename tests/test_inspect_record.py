"""mletui's record of an Inspect sample, from a real eval (offline, as in test_inspect): written
as it is watched, taken over by a second watcher without a line twice, and read by replay, pack
and export as any run's."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from mletui.cli import main
from mletui.core.events import AgentStep, LogBatch, LogLine, RunState, StatusUpdate, StepStatus
from mletui.core.records import decode
from mletui.integrations.inspect.record import step_progress
from mletui.integrations.inspect.session import InspectSession, cache_dir
from mletui.store.journal import read_journal
from mletui.store.pack import unpack_run
from mletui.store.runs import RunFolder
from mletui.store.spool import LogFollower
from mletui.tui.app import MletuiApp
from mletui.tui.screens.replay import ReplayScreen
from mletui.tui.widgets.log_view import LogView
from mletui.tui.widgets.steps_pane import StepsPane
from mletui.watch.replay import ReplaySession
from mletui.watch.sources import OpenRequest, ReplayOptions, registry
from tests.conftest import until
from tests.test_inspect import Eval, lines_until, start_eval, wait_for  # noqa: F401
from tests.test_tui import SIZE

pytestmark = pytest.mark.usefixtures("inspect_ai_installed")


def spooled(path: Path) -> list[LogLine]:
    return LogFollower(path).read_new(max_lines=100_000)


def journaled_steps(folder: RunFolder) -> list[AgentStep]:
    entries = read_journal(folder.journal_path).entries
    return [r for r in map(decode, entries) if isinstance(r, AgentStep)]


def newest(steps: list[AgentStep]) -> list[AgentStep]:
    """Each step's newest report, by number (as the steps pane and export take them)."""
    last = {s.step: s for s in steps}
    return [last[n] for n in sorted(last)]


def replayed(session: ReplaySession) -> list[str]:
    session.seek(session.duration)
    return [
        line.text
        for event in session.poll()
        if isinstance(event, LogBatch)
        for line in event.lines
        if line.number  # a skipped-idle marker has no number
    ]


async def test_a_watched_sample_is_a_run_for_replay_pack_and_export(
    start_eval: type[Eval],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ev = start_eval("--steps", "6", "--sleep", "0.3", "--samples", "1")
    ev.watched(monkeypatch)
    process = ev.process()
    (row,) = ev.rows(process, 1)

    # The first watcher records; a second one at the same time only shows.
    first = InspectSession(row, process)
    second = InspectSession(row, process)
    assert first.recorder.recording and not second.recorder.recording
    lines_until(first, "step 1 output", 60)
    first.close()  # it quits mid-eval: the second takes over at its next refresh
    shown = [line.text for line in lines_until(second, "step 5 output", 60)]
    assert second.recorder.recording
    ev.wait()

    def ended() -> bool:  # the rest of the transcript, until the sample is seen ended
        second.invalidate_status()
        events = second.poll()
        shown.extend(line.text for e in events if isinstance(e, LogBatch) for line in e.lines)
        return any(isinstance(e, StatusUpdate) and e.state is RunState.EXITED for e in events)

    wait_for(ended, 60, "the sample to end")
    shown.extend(line.text for e in second.poll() if isinstance(e, LogBatch) for line in e.lines)
    second.close()

    folder = RunFolder(cache_dir(row))
    # Every line the transcript has, once each, in its order, with Inspect's times.
    lines = spooled(folder.log_path)
    assert [line.text for line in lines] == shown
    assert sum(t.startswith("[tool bash output]") and "step 1 output" in t for t in shown) == 1
    assert all(line.ts > 1e9 for line in lines)
    record = json.loads(folder.run_json.read_text())
    assert (record["id"], record["task"], record["agent"], record["runtime"]) == (
        row.id,
        "slow_loop",
        "scripted/model",
        "inspect",
    )
    assert record["state"] == "exited" and record["ended"] >= record["started"]

    # The model and tool calls as the journal's steps: each step journaled only as it went
    # further (running, ended, its duration known), the takeover writing none of them again.
    reports = journaled_steps(folder)
    for number in {r.step for r in reports}:
        progress = [step_progress(r) for r in reports if r.step == number]
        assert progress == sorted(set(progress)), (number, progress)
    steps = newest(reports)
    assert [s.step for s in steps] == list(range(1, len(steps) + 1))
    # The last calls came after the eval's channel closed: read from its log, as the same steps.
    assert [s.stage for s in steps] == ["model", "bash"] * 6 + ["model"]
    assert steps[-1].plan == "All steps done. ANSWER: DONE"
    bash = [s for s in steps if s.stage == "bash"]
    assert [s.plan.split(";")[1] for s in bash] == [f" echo step {k} output" for k in range(6)]
    assert all(s.status is StepStatus.OK and s.started and s.started > 1e9 for s in steps)
    assert all(s.seconds is not None and s.seconds >= 0.3 for s in bash)  # each slept 0.3 s
    # Tokens in and out of every model call: those read live (the channel gives a total only)
    # filled in from the log once the eval ended, each journaled once more for it.
    models = [s for s in steps if s.stage == "model"]
    assert all(s.tokens_in > 0 and s.tokens_out > 0 for s in models)
    assert all(s.outcome == f"{s.tokens_in + s.tokens_out} tokens" for s in models)

    # replay: through the registry, as `mletui replay ID` opens it, and on the screen.
    session = registry().open(row.id, OpenRequest(replay=ReplayOptions(speed=500)))
    assert isinstance(session, ReplaySession)
    assert replayed(session) == shown
    session.seek(0)
    session.seek(session.duration)
    assert newest([e for e in session.poll() if isinstance(e, AgentStep)]) == steps
    app = MletuiApp(replay_id=row.id, speed=500)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, ReplayScreen)
        log = app.screen.query_one(LogView)
        await until(pilot, lambda: any("step 5 output" in ln.text for ln in log.lines), 30)
        pane = app.screen.query_one(StepsPane)
        await until(pilot, lambda: len(pane.rows) == len(steps), 30)
        assert [row.step.plan for row in pane.rows] == [s.plan for s in steps]
        await pilot.press("q")

    # pack: one file, replayed on another machine as an own run.
    pack = tmp_path / "sample.tar.gz"
    assert main(["pack", row.id, "--out", str(pack)]) == 0
    assert f"Run {row.id} packed" in capsys.readouterr().out
    unpacked = unpack_run(pack)
    assert [line.text for line in spooled(unpacked.log_path)] == shown
    assert replayed(ReplaySession(unpacked)) == shown

    # export: the sample's row, its score, its state.
    out = tmp_path / "tables"
    assert main(["export", row.id, "--format", "csv", "--out", str(out)]) == 0
    capsys.readouterr()
    with (out / "runs.csv").open() as f:
        (run,) = csv.DictReader(f)
    assert (run["run_id"], run["task"], run["runtime"], run["state"]) == (
        row.id,
        "slow_loop",
        "inspect",
        "exited",
    )
    with (out / "scores.csv").open() as f:
        scores = list(csv.DictReader(f))
    assert [(s["name"], float(s["value"])) for s in scores] == [("includes", 1.0)]
    with (out / "steps.csv").open() as f:
        exported = list(csv.DictReader(f))
    assert [(int(e["step"]), e["stage"], e["plan"], e["status"]) for e in exported] == [
        (s.step, s.stage, s.plan, "ok") for s in steps
    ]

    # audit: the journal the recorder wrote into is intact.
    assert main(["audit", row.id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["intact"] is True


def test_a_sample_only_in_a_log_is_recorded_when_asked(
    start_eval: type[Eval],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ev = start_eval("--steps", "2", "--sleep", "0.1", "--samples", "1")
    ev.watched(monkeypatch)
    ev.wait(120)
    assert main(["ls", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    sample = listed["id"]
    # Never watched: pack reads its log into the record first.
    pack = tmp_path / "p.tar.gz"
    assert main(["pack", sample, "--out", str(pack)]) == 0
    unpacked = unpack_run(pack)
    texts = [line.text for line in spooled(unpacked.log_path)]
    assert any("step 1 output" in t for t in texts)
    steps = newest(journaled_steps(unpacked))  # its steps too, read from the log
    assert [s.stage for s in steps] == ["model", "bash", "model", "bash", "model"]
    assert all(s.status is StepStatus.OK for s in steps)
    # With its log gone, the record still replays.
    for log in ev.logs.glob("*.eval"):
        log.unlink()
    session = registry().open(sample, OpenRequest(replay=ReplayOptions(speed=500)))
    assert isinstance(session, ReplaySession) and replayed(session) == texts
