"""An agent that abuses the steps protocol: 100 MB of streamed model output, plans that are huge,
markup or escape sequences, and a parent cycle. The journal stays bounded, the screen shows the
agent's text inert, and nothing crashes."""

from __future__ import annotations

import sys
from pathlib import Path

from textual.widgets import OptionList, Static

from mletui.core.events import AgentStep, ModelOutput
from mletui.core.records import JournalNotice, decode
from mletui.grading.tasks import resolve_task
from mletui.run import stepoutput
from mletui.run.launcher import start_run
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder
from mletui.tui.app import MletuiApp
from mletui.tui.screens.step_detail import StepDetailScreen
from mletui.tui.screens.watch import WatchScreen
from mletui.tui.widgets.steps_pane import StepsPane
from mletui.watch.steps import MAX_OUTPUT
from tests.conftest import until, wait_for
from tests.hostile.test_hostile_recorder import kill

AGENT = r"""
import json, os, time
events = os.path.join(os.environ["MLETUI_CONTROL_DIR"], "events.jsonl")

def put(record):
    with open(events, "a") as f:
        f.write(json.dumps(record) + "\n")

# Steps whose plans are markup, escapes, huge; and parents that make a cycle.
put({"kind": "step", "step": 1, "parent": 2, "outcome": "", "status": "running",
     "plan": "[bold red]not markup[/] \x1b[31mred\x1b]0;t\x07", "started": time.time()})
put({"kind": "step", "step": 2, "parent": 1, "plan": "p" * 900_000, "outcome": "ok",
     "status": "buggy", "error": "E" * 5000, "analysis": "\x1b[2J" * 1000})
put({"kind": "step", "step": 3, "parent": 3, "plan": "self", "outcome": "ok", "status": "ok"})
put({"kind": "step", "step": 4, "plan": "x" * (2 << 20), "outcome": "too long a line"})
put({"kind": "step", "step": 5, "plan": "bad", "outcome": "", "status": "exploded"})
# 100 MB of model output for step 1, in lines just under the protocol's limit ...
piece = "[link=file:///etc]x[/link]\x1b[31m" + "y" * (1000_000 - 40) + "\n"
with open(events, "a") as f:
    for _ in range(100):
        f.write(json.dumps({"kind": "model_output", "step": 1, "text": piece}) + "\n")
# ... and a flood of tiny pieces over many steps: more entries than the run's budget holds.
with open(events, "a") as f:
    for n in range(60_000):
        f.write(json.dumps({"kind": "model_output", "step": 10 + n, "text": "."}) + "\n")
print("done", flush=True)
time.sleep(600)
"""


def records(folder: RunFolder) -> list[object]:
    return [decode(e) for e in read_journal(folder.journal_path).entries]


async def test_a_flood_of_model_output_and_hostile_steps_stay_bounded_and_inert(
    tmp_path: Path,
) -> None:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    folder = start_run(resolve_task("digits"), agent_cmd=f"{sys.executable} {script}")
    try:
        wait_for(
            lambda: any(
                isinstance(r, JournalNotice) and "model output passed" in r.text
                for r in records(folder)
            ),
            120,
            "the notice that the model output's budget is spent",
        )
        got = records(folder)
        steps = [r for r in got if isinstance(r, AgentStep)]
        assert sorted(s.step for s in steps) == [1, 2, 3]  # the too long line and bad status: out
        two = next(s for s in steps if s.step == 2)
        assert len(two.plan) == 2000 and len(two.error or "") == 100
        output = [r for r in got if isinstance(r, ModelOutput)]
        assert sum(len(o.text) for o in output if o.step == 1) == stepoutput.PER_STEP
        assert sum(max(len(o.text), stepoutput.ENTRY_COST) for o in output) <= stepoutput.PER_RUN
        assert folder.journal_path.stat().st_size < 3 * stepoutput.PER_RUN
        said = [r.text for r in got if isinstance(r, JournalNotice)]
        assert any(t.startswith("ignored a line of events.jsonl") for t in said), said

        app = MletuiApp(run_id=folder.id, operator="pilot")
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            assert isinstance(screen, WatchScreen)
            pane = screen.query_one(StepsPane)
            await until(pilot, lambda: {1, 2, 3} <= {r.step.step for r in pane.rows}, 60)
            assert all(len(text) <= MAX_OUTPUT for text in pane.book.output.values())
            listing = pane.query_one(OptionList)
            shown = "\n".join(
                str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)
            )
            assert "[bold red]not markup[/]" in shown  # as text, never as markup
            assert "\x1b" not in shown and "\x07" not in shown
            live = str(pane.query_one("#steps-live", Static).render())
            assert "step 1" in live and "yyyy" in live and "\x1b" not in live
            assert len(pane.book.text_of(1)) == MAX_OUTPUT
            listing.focus()
            listing.highlighted = [r.step.step for r in pane.rows].index(1)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, StepDetailScreen))
            detail = app.screen
            assert isinstance(detail, StepDetailScreen)
            await until(pilot, lambda: detail.diff_text != "")
            summary = str(detail.query_one("#step-detail-summary", Static).render())
            assert "[bold red]not markup[/]" in summary and "yyyy" in summary
            assert "\x1b" not in summary and "\x07" not in summary
            await pilot.press("escape")
    finally:
        kill(folder)
