"""An agent that asks for help and reports its steps and scores in Rich markup, terminal escape
sequences, bidi overrides, zero-width characters and a huge text, and forges hints in its control
folder (a time of -infinity, a time that is not a number): the overview shows it, its flags, the
summary line and the alerts list printable, bounded and never as markup, the filter takes markup
characters as text, and nothing crashes or hides the run. An agent that sets its control files'
times back and links a hint file out of the folder cannot keep an ended run's kept row stale."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from textual.widgets import DataTable, Static

from mletui.core.events import RunState, Score
from mletui.core.sanitize import inert
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store.journal import Journal, read_journal
from mletui.store.runs import RunFolder, config_dir
from mletui.tui.app import MletuiApp
from mletui.tui.screens.alerts_list import AlertsScreen
from mletui.tui.screens.overview import OverviewScreen
from mletui.tui.screens.watch import WatchScreen
from mletui.watch.alerts import MAX_TEXT
from mletui.watch.livestate import RunSummary
from mletui.watch.sources import OwnRuns
from tests.conftest import until, wait_ended, wait_for

BAD = (
    "[bold red]PWNED[/] [link=file:///etc/passwd]x[/link] \x1b[2J\x1b]52;c;cm0gLXJmIH4=\x07"
    "\x1b]0;title\x07 \u202eevil\u202c \u200bzero\ufeffwidth\r\nend"
)
HUGE = 900_000  # characters: under the protocol's line limit, far over any cell

AGENT = f"""
import json, os, time
from mletui import protocol
BAD = {BAD!r}
control = os.environ["MLETUI_CONTROL_DIR"]
protocol.hello("agent" + BAD)
protocol.report_metric("acc" + BAD, 0.5)
protocol.report_step(1, plan="plan" + BAD, outcome="out" + BAD, status="ok")
protocol.ask("help" + BAD)
protocol.ask("huge" + BAD + "x" * {HUGE})
# Forged hints: mletui never sent them, and their times are no times.
with open(os.path.join(control, "hints.jsonl"), "a") as f:
    f.write(json.dumps({{"id": "forged-1", "text": BAD, "ts": float("-inf")}}) + "\\n")
    f.write(json.dumps({{"id": "forged-2", "text": BAD, "ts": "yesterday"}}) + "\\n")
    f.write(json.dumps({{"id": "forged-3", "text": BAD, "ts": float("nan")}}) + "\\n")
print("asked", flush=True)
time.sleep(600)
"""

RAW = ("\x1b", "\x07", "\r", "\u202e", "\u200b", "\ufeff")


def asked(folder: RunFolder) -> int:
    return sum(1 for e in read_journal(folder.journal_path).entries if e.get("kind") == "ask")


def screen_text(app: MletuiApp) -> str:
    """Every cell of the screen as the terminal gets it, toasts included."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def assert_shown_inert(text: str, bound: int) -> None:
    assert inert(text) == text, repr(text[:200])
    assert not any(raw in text for raw in RAW), repr(text[:200])
    assert "\n" not in text and len(text) <= bound, len(text)


def rows(app: MletuiApp) -> list[str]:
    table = app.screen.query_one(DataTable)
    return [row.key.value or "" for row in table.ordered_rows]


async def test_a_hostile_agent_in_the_overview_its_summary_and_alerts(tmp_path: Path) -> None:
    script = tmp_path / "agent.py"
    script.write_text(AGENT, encoding="utf-8")
    folder = start_run(resolve_task("digits"), agent_cmd=f"{sys.executable} {script}")
    wait_for(lambda: asked(folder) == 2, 60, "both questions journaled")
    settings = config_dir() / "alerts.toml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text("[alerts]\npoll_seconds = 0.2\n", encoding="utf-8")
    app = MletuiApp(alerts=True, operator="pilot")
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen) and rows(app))
        overview = app.screen
        assert isinstance(overview, OverviewScreen)
        assert rows(app) == [folder.id]  # the forged hints hide no run
        table = overview.query_one(DataTable)
        await until(pilot, lambda: "needs you" in table.get_cell(folder.id, "flags").plain)
        for column in table.columns:
            cell = table.get_cell(folder.id, column)
            assert_shown_inert(cell.plain, table.columns[column].width)
            assert not cell.spans or column in ("state", "flags", "mark")  # styled by us only

        summary = overview.query_one("#summary", Static)
        line = str(summary.render())
        assert_shown_inert(line, 400)
        assert "1 need you" in line
        assert "unanswered" not in line  # the forged hints: none that mletui sent

        await pilot.press("h", *"[bold]look[/] at the data", "enter")  # a real hint, as text
        await until(pilot, lambda: "needs you" not in table.get_cell(folder.id, "flags").plain)
        await until(pilot, lambda: "oldest unanswered hint" in str(summary.render()))
        line = str(summary.render())
        assert_shown_inert(line, 400)
        assert f"oldest unanswered hint: {folder.id}, 0:00:0" in line  # seconds ago, not ages

        # The filter takes what it is typed, markup characters included, as text.
        await pilot.press("slash", *"[bold")
        await until(pilot, lambda: rows(app) == [])
        await pilot.press("home", "exclamation_mark", "enter")  # "![bold": everything else
        await until(pilot, lambda: rows(app) == [folder.id])
        assert overview.filter == "![bold"
        await pilot.press("escape")
        await until(pilot, lambda: overview.filter == "" and rows(app) == [folder.id])
        text = screen_text(app)
        assert not any(raw in text for raw in RAW)
        assert "PWNED" not in text or "[bold red]PWNED[/]" in text

        await until(pilot, lambda: len(journaled_alerts(folder)) >= 2, timeout=30)
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, AlertsScreen))
        alerts = app.screen
        assert isinstance(alerts, AlertsScreen)
        await until(pilot, lambda: len(alerts.alerts) >= 3)  # two questions, the new best
        times = [alert.ts for alert in alerts.alerts]
        assert times == sorted(times, reverse=True)  # newest first
        listing = alerts.query_one(DataTable)
        texts = []
        for index in range(listing.row_count):
            for cell in listing.get_row_at(index):
                assert_shown_inert(cell.plain, 2 * MAX_TEXT)  # of 900,000 characters
                assert not cell.spans  # never markup turned into style
            texts.append(listing.get_row_at(index)[3].plain)
        asking = [t for t in texts if t.startswith("asks for help")]
        assert len(asking) == 2 and all("[bold red]PWNED[/]" in t for t in asking)
        assert any("new best acc[bold red]PWNED[/]" in t for t in texts)
        text = screen_text(app)
        assert not any(raw in text for raw in RAW)
        await pilot.press("enter")  # the newest alert's run opens
        await until(pilot, lambda: isinstance(app.screen, WatchScreen))
        watch = app.screen
        assert isinstance(watch, WatchScreen) and watch.session.record.id == folder.id


def journaled_alerts(folder: RunFolder) -> list[dict[str, object]]:
    return [e for e in read_journal(folder.journal_path).entries if e.get("kind") == "alert"]


PINNER = r"""
import json, os, pathlib
control = pathlib.Path(os.environ["MLETUI_CONTROL_DIR"])
run = control.parent
with open(control / "acks.jsonl", "a") as f:
    f.write(json.dumps({"kind": "hint", "id": "forged", "status": "used"}) + "\n")
outside = run / "workspace" / "later.jsonl"
outside.parent.mkdir(exist_ok=True)
outside.write_text("")
(control / "hints.jsonl").symlink_to(outside)  # to write hints through after the end
# Every stat it can reach set back to 1970, so that a later change would look like none.
for path in (control / "acks.jsonl", control / "hints.jsonl", control, run / "run.json",
             run / "journal.jsonl"):
    try:
        os.utime(path, (0, 0), follow_symlinks=False)
    except OSError:
        pass
print("pinned", flush=True)
"""


def test_pinned_control_files_cannot_keep_an_ended_runs_row_stale(tmp_path: Path) -> None:
    script = tmp_path / "pinner.py"
    script.write_text(PINNER)
    folder = start_run(resolve_task("digits"), agent_cmd=f"{sys.executable} {script}")
    wait_ended(folder, 60)
    assert folder.read().exit_code == 0, folder.log_path.read_text()
    assert (folder.control / "hints.jsonl").is_symlink(), folder.log_path.read_text()
    own = OwnRuns()

    def row() -> RunSummary:
        kept = next(r for r in own.listings().runs if r.id == folder.id)
        fresh = next(r for r in OwnRuns().listings().runs if r.id == folder.id)
        assert kept == fresh  # what is kept is what reading every file again says
        assert kept.summary is not None
        return kept.summary

    first = row()
    # What the agent left behind writes through its link: still no hint, still the same row.
    line = {"id": "late", "text": "x", "ts": folder.read().created + 1}
    (folder.path / "workspace" / "later.jsonl").write_text(json.dumps(line) + "\n")
    assert row() == first and first.hints_sent == 0
    # mletui's own changes after the end: the run marked killed, then a score journaled.
    with folder.updating() as rec:
        rec.state, rec.end_reason = RunState.KILLED, "operator"
    killed = row()
    assert killed != first and killed.status.state is RunState.KILLED
    Journal(folder.journal_path).write(Score(0.0, 7, "accuracy", 0.99, "higher"))
    assert row().best == 0.99
