"""Steps: what the agent is doing and why. The LLM agent's reply streamed into the journal before
its step ends, AIDE's journal.json as a tree of steps, and the recorder's bounds on model output."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual.widgets import OptionList, Static

from mletui.core.events import AgentStep, ModelOutput, StepStatus
from mletui.core.records import decode
from mletui.integrations.mlebench.aide_steps import AideSteps, steps_of
from mletui.integrations.mlebench.runs import read_run
from mletui.integrations.mlebench.session import MlebenchSession
from mletui.run import stepoutput
from mletui.run.stepoutput import ModelOutputGate
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder
from mletui.tui.app import MletuiApp
from mletui.tui.screens.step_detail import StepDetailScreen
from mletui.tui.screens.watch import WatchScreen
from mletui.tui.widgets.code_pane import CodePane
from mletui.tui.widgets.header import RunHeader
from mletui.tui.widgets.scores_pane import ScoresPane
from mletui.tui.widgets.steps_pane import StepsPane, now_line
from mletui.watch.steps import StepBook, code_of
from tests.conftest import until, wait_ended, wait_for
from tests.fake_llm_server import FakeChatServer, code_reply
from tests.test_llm_agent import quick, start_llm_run
from tests.test_mlebench import finished_run

T0 = 1_700_000_000.0


def records(folder: RunFolder) -> list[Any]:
    return [decode(e) for e in read_journal(folder.journal_path).entries]


# --- the LLM agent, streaming ------------------------------------------------------------------


def test_the_reply_grows_in_the_journal_before_its_step_ends() -> None:
    midway = threading.Event()
    plan = "Plan: the sample submission, " + "carefully " * 20
    script = [
        code_reply(plan, quick(0.2), usage=(1234, 567), piece_chars=8, hold_midway=midway),
    ]
    with FakeChatServer(script) as server:
        folder = start_llm_run(server, MLETUI_LLM_MAX_STEPS="1")
        try:

            def half_arrived() -> bool:
                text = "".join(r.text for r in records(folder) if isinstance(r, ModelOutput))
                return text.startswith("Plan: the sample submission, carefully")

            wait_for(half_arrived, 60, "the first half of the reply in the journal")
            steps = [r for r in records(folder) if isinstance(r, AgentStep)]
            assert [s.status for s in steps] == [StepStatus.RUNNING]  # the step is under way
            assert steps[0].stage == "draft" and steps[0].started is not None
            assert not any(isinstance(r, ModelOutput) and r.done for r in records(folder))
        finally:
            midway.set()
        wait_ended(folder, 60)
    got = records(folder)
    output = [r for r in got if isinstance(r, ModelOutput)]
    assert "".join(o.text for o in output) == script[0].content
    assert output[-1].done and len(output) >= 2
    final = [r for r in got if isinstance(r, AgentStep)][-1]
    assert final.status is StepStatus.OK and final.metric == 0.2
    assert (final.tokens_in, final.tokens_out) == (1234, 567)  # the stream's final usage chunk
    assert final.plan.startswith("Plan: the sample submission")


def test_a_failed_solution_is_a_buggy_step_with_its_error_type() -> None:
    script = [code_reply("Plan: break.", quick(fail="no good"))]
    with FakeChatServer(script) as server:
        folder = start_llm_run(server, MLETUI_LLM_MAX_STEPS="1")
        wait_ended(folder, 60)
    final = [r for r in records(folder) if isinstance(r, AgentStep)][-1]
    assert final.status is StepStatus.BUGGY and final.error == "ValueError"
    assert final.analysis == "ValueError: no good"


# --- the recorder's gate on model output ---------------------------------------------------------


def test_model_output_is_coalesced_a_poll_and_capped_a_step_and_a_run(
    monkeypatch: Any,
) -> None:
    gate = ModelOutputGate()
    for piece in "hello":
        assert gate.add({"step": 1, "text": piece}) is None
    gate.add({"step": 2, "text": "x" * (stepoutput.PER_STEP + 10), "done": True})
    first = gate.drain()
    assert [(o.step, o.text[:5], o.done, o.truncated) for o in first] == [
        (1, "hello", False, False),
        (2, "xxxxx", True, True),
    ]
    assert len(first[1].text) == stepoutput.PER_STEP
    gate.add({"step": 2, "text": "more"})  # past its cap: dropped
    assert gate.drain() == []
    assert gate.add({"step": "one", "text": "x"}) is not None
    assert gate.add({"step": 1, "text": 7}) is not None

    monkeypatch.setattr(stepoutput, "PER_RUN", 10 * stepoutput.ENTRY_COST)
    small = ModelOutputGate()
    for step in range(50):  # tiny entries cost an entry's worth each
        small.add({"step": step, "text": "."})
    assert len(small.drain()) == 10 and small.full
    assert "not recorded" in (small.notice() or "") and small.notice() is None


# --- AIDE's journal.json -----------------------------------------------------------------------


def aide_node(
    node_id: str,
    step: int,
    value: float | None,
    buggy: bool = False,
    exc_type: str | None = None,
    analysis: str = "",
) -> dict[str, Any]:
    """A node as AIDE's journal.json holds it (every field AIDE writes)."""
    return {
        "code": f"print({step})",
        "plan": f"plan of step {step}",
        "step": step,
        "id": node_id,
        "ctime": T0 + step * 60,
        "parent": None,
        "children": [],
        "_term_out": [f"running step {step}\n", "Traceback ...\n" if buggy else "ok\n"],
        "exec_time": 12.5,
        "exc_type": exc_type,
        "exc_info": None,
        "exc_stack": None,
        "analysis": analysis or f"analysis of step {step}",
        "metric": {"value": value, "maximize": True},
        "is_buggy": buggy,
    }


def aide_journal(nodes: list[dict[str, Any]], parents: dict[str, str]) -> str:
    return json.dumps({"nodes": nodes, "node2parent": parents, "__version": "2"})


def test_aide_nodes_are_a_tree_of_steps(tmp_path: Path) -> None:
    nodes = [
        aide_node("a", 0, 0.8),
        aide_node("b", 1, None, buggy=True, exc_type="KeyError"),
        aide_node("c", 2, 0.85),
        aide_node("d", 3, 0.9),
    ]
    steps = steps_of(json.loads(aide_journal(nodes, {"c": "b", "d": "c"})))
    assert [(s.step, s.stage, s.parent) for s in steps] == [
        (0, "draft", None),
        (1, "draft", None),
        (2, "debug", 1),
        (3, "improve", 2),
    ]
    assert [s.status for s in steps] == [StepStatus.OK, StepStatus.BUGGY] + [StepStatus.OK] * 2
    assert steps[1].error == "KeyError" and steps[1].metric is None
    assert steps[1].output == "running step 1\nTraceback ...\n"
    assert steps[3].metric == 0.9 and steps[3].seconds == 12.5
    assert steps[3].analysis == "analysis of step 3" and steps[3].plan == "plan of step 3"
    assert steps[3].started == T0 + 180


def test_aide_steps_follow_a_file_rewritten_in_place(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    follower = AideSteps(path)
    assert follower.poll() == []  # not there yet
    first = [aide_node("a", 0, 0.8), aide_node("b", 1, None, buggy=True, exc_type="ValueError")]
    path.write_text(aide_journal(first, {}))
    assert [s.step for s in follower.poll()] == [0, 1]
    assert follower.poll() == []  # unchanged

    # The next step, and the first node's analysis rewritten: half a write first.
    second = [
        aide_node("a", 0, 0.8, analysis="looked again"),
        first[1],
        aide_node("c", 2, 0.9),
    ]
    whole = aide_journal(second, {"c": "b"})
    path.write_text(whole[: len(whole) // 2])
    assert follower.poll() == []
    path.write_text(whole)
    changed = follower.poll()
    assert [(s.step, s.analysis) for s in changed] == [
        (0, "looked again"),
        (2, "analysis of step 2"),
    ]
    assert changed[1].stage == "debug" and changed[1].parent == 1


# --- the watch screen ----------------------------------------------------------------------------


async def test_the_steps_pane_shows_the_reply_growing_and_a_step_in_full() -> None:
    midway = threading.Event()
    plan = "Plan: the sample submission, " + "carefully " * 20
    script = [
        code_reply(plan, quick(0.2), piece_chars=8, hold_midway=midway),
        code_reply("Plan: the sample submission, again.", quick(0.3)),
    ]
    with FakeChatServer(script) as server:
        folder = start_llm_run(server, MLETUI_LLM_MAX_STEPS="2")
        app = MletuiApp(run_id=folder.id, operator="pilot")
        try:
            async with app.run_test(size=(180, 50)) as pilot:
                screen = app.screen
                assert isinstance(screen, WatchScreen)
                pane = screen.query_one(StepsPane)
                live = pane.query_one("#steps-live", Static)

                def live_text() -> str:
                    return str(live.render())

                # Half the reply is in: the pane shows it while the step still runs.
                await until(pilot, lambda: "carefully" in live_text())
                assert pane.has_class("-active")
                assert [r.step.status for r in pane.rows] == [StepStatus.RUNNING]
                assert "the model is replying" in now_line(pane.book, time.time())
                header = screen.query_one(RunHeader)
                await until(pilot, lambda: "now: step 1 (draft)" in str(header.render()))
                midway.set()
                await until(
                    pilot,
                    lambda: [r.step.status for r in pane.rows] == [StepStatus.OK] * 2,
                )
                assert pane.book.output[1] == plan + script[0].content[len(plan) :]

                # Enter on the first step: its plan, output and code.
                listing = pane.query_one(OptionList)
                listing.focus()
                listing.highlighted = 0
                await pilot.press("enter")
                await until(pilot, lambda: isinstance(app.screen, StepDetailScreen))
                detail = app.screen
                assert isinstance(detail, StepDetailScreen)
                await until(pilot, lambda: detail.diff_text != "")
                assert detail.step.step == 1 and detail.step.plan.startswith("Plan: the sample")
                assert "VALIDATION_METRIC: 0.2" in detail.output_text  # its stretch of the log
                assert "solution.py (added)" in detail.diff_text
                await pilot.press("escape")
                await until(pilot, lambda: app.screen is screen)
                # Behind it, the scores pane moved to that step's score, the code pane to its code.
                scores = screen.query_one(ScoresPane)
                chosen = scores.selected_score
                assert chosen is not None and (chosen.step, chosen.value) == (1, 0.2)
                code = screen.query_one(CodePane)
                mine = code_of(code.snapshots, detail.step)
                assert mine is not None and code.selected_seq == mine.seq

                # Step 2 against step 1: the one line that differs.
                listing.highlighted = 1
                await pilot.press("enter")
                await until(pilot, lambda: isinstance(app.screen, StepDetailScreen))
                second = app.screen
                assert isinstance(second, StepDetailScreen)
                await until(pilot, lambda: second.diff_text != "")
                assert '-print("VALIDATION_METRIC: 0.2")' in second.diff_text
                assert '+print("VALIDATION_METRIC: 0.3")' in second.diff_text
                await pilot.press("escape")

                # The code pane: mark the first snapshot, select the newest: diffed against it.
                code = screen.query_one(CodePane)
                await until(pilot, lambda: len(code.snapshots) >= 2)
                first, newest = code.snapshots[0].seq, code.snapshots[-1].seq
                code.select_seq(first)
                code.query_one(OptionList).focus()
                await pilot.press("m")
                assert code.marked_seq == first
                code.select_seq(newest)
                await until(pilot, lambda: code.shown_base == first)
        finally:
            midway.set()
        wait_ended(folder, 60)


def test_the_step_book_draws_a_tree_and_breaks_a_parent_cycle() -> None:
    def step(number: int, parent: int | None) -> AgentStep:
        return AgentStep(T0 + number, number, "s", "", "", None, 0, 0, None, parent=parent)

    book = StepBook()
    for number, parent in ((1, None), (2, None), (3, 1), (4, 3), (5, 1), (6, 7), (7, 6), (8, 8)):
        book.add_step(step(number, parent))
    assert book.branches
    rows = [(r.step.step, r.depth) for r in book.rows()]
    assert rows == [(1, 0), (3, 1), (4, 2), (5, 1), (2, 0), (8, 0), (6, 0), (7, 1)]
    assert book.parent_or_previous(4) == book.steps[3]

    line = StepBook()
    for number in (1, 2, 3):
        line.add_step(step(number, number - 1 if number > 1 else None))
    assert not line.branches and [r.depth for r in line.rows()] == [0, 0, 0]
    line.add_step(replace(line.steps[2], status=StepStatus.RUNNING))  # the newest report wins
    assert line.running() == line.steps[2] and list(line.steps) == [1, 3, 2]


def test_an_mlebench_session_gives_aides_steps(tmp_path: Path) -> None:
    run = read_run(finished_run(tmp_path / "runs"))
    session = MlebenchSession(run, cache=tmp_path / "cache", live=False)
    steps = [e for e in session.poll() if isinstance(e, AgentStep)]
    assert [(s.step, s.status, s.metric) for s in steps] == [
        (0, StepStatus.OK, 0.71),
        (1, StepStatus.BUGGY, None),
        (2, StepStatus.OK, 0.78),
    ]
    assert steps[1].error == "ValueError" and steps[0].output == "ok"
    assert not any(isinstance(e, AgentStep) for e in session.poll())  # each once, unless it changes
