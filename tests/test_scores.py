"""Live scores on real runs: grades follow submissions, bad submissions are invalid grades, metric
lines in the log become validation scores, and the watch screen ties scores to code and guards the
grade (through the real app and Pilot)."""

from __future__ import annotations

import math
import os
import sys
import textwrap
from pathlib import Path

from rich.text import Text
from textual.widgets import DataTable, Label

from mletui.core.events import FileChange, Grade, GradingInfo, Score, Snapshot
from mletui.grading import resolve_task, score_submission
from mletui.run.launcher import start_run
from mletui.run.scores import SnapshotClock, load_patterns
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder
from mletui.store.snapshots import WorkspaceTimeline
from mletui.tui.app import MletuiApp
from mletui.tui.screens.watch import WatchScreen
from mletui.tui.widgets.code_pane import CodePane
from mletui.tui.widgets.score_chart import ScoreChart
from mletui.tui.widgets.scores_pane import ScoresPane
from mletui.watch.live import WatchSession
from mletui.watch.livestate import summarize
from tests.conftest import until, wait_ended

SIZE = (160, 48)


def entries(folder: RunFolder, kind: str) -> list[dict[str, object]]:
    return [e for e in read_journal(folder.journal_path).entries if e["kind"] == kind]


def code_of(folder: RunFolder, seq: object, path: str = "solution.py") -> str:
    """The text of ``path`` as snapshot ``seq`` recorded it."""
    (snapshot,) = [e for e in entries(folder, "snapshot") if e["seq"] == seq]
    digest = snapshot["files"][path]  # type: ignore[index]
    timeline = WorkspaceTimeline(folder.workspace, folder.snapshots)
    data = timeline.read_object(digest)
    assert data is not None
    return data.decode("utf-8")


def python_agent(tmp_path: Path, source: str, task: str = "digits") -> RunFolder:
    script = tmp_path / "agent.py"
    script.write_text(textwrap.dedent(source), encoding="utf-8")
    return start_run(resolve_task(task), agent_cmd=f'"{sys.executable}" "{script}"')


def shell_agent(command: str, task: str = "digits") -> RunFolder:
    return start_run(resolve_task(task), agent_cmd=command, time_limit_s=120)


# --- the recorder's side ------------------------------------------------------------------------


def test_a_baseline_run_s_grades_follow_its_submissions() -> None:
    task = resolve_task("diabetes")
    # Steps a little apart, so each submission settles before the next (two written within the
    # settle time are graded once: see the test of a rewritten submission below).
    env = {"MLETUI_BASELINE_MAX_STEPS": "2", "MLETUI_BASELINE_STEP_DELAY": "2"}
    folder = start_run(task, agent="baseline", extra_env=env, time_limit_s=300)
    wait_ended(folder, 240)
    journal = read_journal(folder.journal_path).entries
    kinds = [e["kind"] for e in journal]
    grades = [e for e in journal if e["kind"] == "grade"]
    scores = [e for e in journal if e["kind"] == "score"]
    assert len(scores) == 2 and grades, kinds
    assert kinds.index("grading") < kinds.index("grade")
    # The final submission is graded before the run's end is written.
    last_state = max(i for i, k in enumerate(kinds) if k == "state")
    assert max(i for i, k in enumerate(kinds) if k == "grade") < last_state
    # Each grade comes after its submission was written, and points at the code of the step that
    # wrote it: a step whose validation score was the best so far (the baseline keeps the best).
    by_seq = {s["snapshot_seq"]: s for s in scores}
    best_so_far = [
        s
        for n, s in enumerate(scores)
        if all(float(s["value"]) < float(t["value"]) for t in scores[:n])
    ]
    for grade in grades:
        assert float(grade["submission_ts"]) <= float(grade["ts"])
        assert grade["valid"] is True and grade["metric"] == "rmse"
        assert by_seq[grade["snapshot_seq"]] in best_so_far
    assert [g["snapshot_seq"] for g in grades] == [s["snapshot_seq"] for s in best_so_far]
    assert [g["submission"] for g in grades] == list(range(1, len(grades) + 1))
    final = score_submission(task, folder.submission / "submission.csv")
    assert grades[-1]["score"] == round(final, 5)
    assert grades[-1]["report"]["competition_id"] == "diabetes"  # type: ignore[index]
    # Each validation score points at its step's own code, though the agent writes the next
    # step's solution.py the moment it has reported.
    for step, score in enumerate(scores, start=1):
        assert f'"""Step {step}:' in code_of(folder, score["snapshot_seq"])

    events = WatchSession(folder).poll()
    assert any(isinstance(e, GradingInfo) and e.thresholds for e in events)
    typed = [e for e in events if isinstance(e, Grade)]
    assert [g.score for g in typed] == [g["score"] for g in grades]


def test_a_malformed_submission_is_an_invalid_grade_and_the_next_one_is_graded() -> None:
    sample = resolve_task("digits").public_dir / "sample_submission.csv"
    folder = shell_agent(
        'printf "id,prediction\\n1,2\\n" > "$MLETUI_SUBMISSION_DIR/submission.csv"; sleep 2; '
        f'cp "{sample}" "$MLETUI_SUBMISSION_DIR/submission.csv"; sleep 2'
    )
    wait_ended(folder, 60)
    grades = entries(folder, "grade")
    assert [g["valid"] for g in grades] == [False, True]
    assert grades[0]["score"] is None
    assert grades[0]["reason"] == (
        "Submission submission.csv lacks column 'label'; expected columns: id, label."
    )
    assert grades[1]["score"] == round(score_submission(resolve_task("digits"), sample), 5)


def test_a_submission_rewritten_before_it_settled_points_at_the_code_that_wrote_it_last() -> None:
    # Two submissions a moment apart are graded once, as the later one: its grade must point at
    # the code current when the later one was written, not when the first was.
    sample = resolve_task("digits").public_dir / "sample_submission.csv"
    folder = shell_agent(
        'echo "v = 1" > solution.py; sleep 1.5; '
        'printf "id,prediction\\n1,2\\n" > "$MLETUI_SUBMISSION_DIR/submission.csv"; '
        'echo "v = 2" > solution.py; sleep 0.1; '
        f'cp "{sample}" "$MLETUI_SUBMISSION_DIR/submission.csv"; sleep 3'
    )
    wait_ended(folder, 60)
    (grade,) = entries(folder, "grade")
    assert grade["valid"] is True
    assert code_of(folder, grade["snapshot_seq"]).strip() == "v = 2"


def test_metric_lines_in_the_log_become_validation_scores(tmp_path: Path) -> None:
    config = Path(os.environ["MLETUI_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "patterns.toml").write_text(
        textwrap.dedent(
            r"""
            [[pattern]]
            agent = "cmd"
            regex = 'epoch (?P<step>\d+) .*val_loss=(?P<value>[0-9.]+)'
            name = "val_loss"
            direction = "lower"

            [[pattern]]
            agent = "some-other-agent"
            regex = 'val_acc=(?P<value>[0-9.]+)'

            [[pattern]]
            agent = "cmd"
            regex = '(unclosed'
            """
        ),
        encoding="utf-8",
    )
    folder = python_agent(
        tmp_path,
        """
        print("epoch 1 train_loss=0.9 val_loss=0.50 val_acc=0.7", flush=True)
        print("\\x1b[31mepoch 2 val_loss=0.40\\x1b[0m", flush=True)
        print("epoch 3 val_loss=nan", flush=True)
        print("val_loss=oops", flush=True)
        """,
    )
    wait_ended(folder, 60)
    scores = entries(folder, "score")
    assert [(s["name"], s["step"], s["value"], s["direction"], s["source"]) for s in scores] == [
        ("val_loss", 1, 0.5, "lower", "log"),
        ("val_loss", 2, 0.4, "lower", "log"),
    ]
    assert all(isinstance(s["line"], int) for s in scores)
    notices = [str(n["text"]) for n in entries(folder, "notice")]
    assert any("pattern 3: the regex does not compile" in n for n in notices), notices
    typed = [e for e in WatchSession(folder).poll() if isinstance(e, Score)]
    assert [s.source for s in typed] == ["log", "log"]


def test_patterns_file_problems_are_sentences(tmp_path: Path) -> None:
    path = tmp_path / "patterns.toml"
    path.write_text('[[pattern]]\nagent = "cmd"\nregex = "no value group"\n', encoding="utf-8")
    patterns, warnings = load_patterns(path)
    assert patterns == [] and "has no (?P<value>...) group" in warnings[0]
    path.write_text("pattern = [", encoding="utf-8")
    assert "cannot be read" in load_patterns(path)[1][0]
    assert load_patterns(tmp_path / "absent.toml") == ([], [])


def test_a_score_belongs_to_the_code_written_before_it() -> None:
    clock = SnapshotClock()
    for seq in (1, 2):
        change = FileChange(f"v{seq}.py", "added", None, "h", 1)
        clock.add(Snapshot(seq, 1000.0 * seq + 0.3, (change,)), {f"v{seq}.py": 1000.0 * seq})
    assert clock.at(999.0) is None
    assert clock.at(1500.0) == 1
    # A score reported at the moment the next file was written is the earlier code's.
    assert clock.at(2000.0) == 1
    assert clock.at(2000.2) == 2


# --- the watch screen ---------------------------------------------------------------------------


def panes(app: MletuiApp) -> tuple[ScoresPane, CodePane]:
    screen = app.screen
    assert isinstance(screen, WatchScreen)
    return screen.query_one(ScoresPane), screen.query_one(CodePane)


def label(pane: ScoresPane, selector: str) -> str:
    content = pane.query_one(selector, Label).content
    return content.plain if isinstance(content, Text) else str(content)


STEPPER = """
    import os, time
    from pathlib import Path
    from mletui import protocol

    workspace = Path(os.environ["MLETUI_WORKSPACE"])
    protocol.hello("stepper")
    time.sleep(2.0)  # the recorder's workspace watcher is up
    for step, value in enumerate([0.5, 0.7, 0.6], start=1):
        (workspace / "solution.py").write_text(f"# step {step}\\nMODEL = {step}\\n")
        time.sleep(1.5)  # training; the watcher takes its snapshot meanwhile
        protocol.report_metric("accuracy", value, step=step, direction="higher")
        # ...and at once the next step's code, as the baseline does
    time.sleep(120)
"""


async def test_choosing_a_score_shows_the_code_that_produced_it(tmp_path: Path) -> None:
    folder = python_agent(tmp_path, STEPPER)
    app = MletuiApp(run_id=folder.id, operator="pilot")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(panes(app)[0].scores) == 3 and len(panes(app)[1].snapshots))
        scores, code = panes(app)
        seqs = [s.snapshot_seq for s in scores.scores]
        for step, seq in enumerate(seqs, start=1):  # each score's own code
            assert code_of(folder, seq).startswith(f"# step {step}\n")
        newest = code.snapshots[-1].seq
        assert code.selected_seq == newest  # following the newest code

        table = scores.query_one("#scores-table", DataTable)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("enter")
        await until(pilot, lambda: code.selected_seq == seqs[0])

        chart = scores.query_one(ScoreChart)
        chart.focus()
        await pilot.press("home", "right", "enter")
        await until(pilot, lambda: code.selected_seq == seqs[1])
        assert chart.selected == "v1" and table.cursor_row == 1

        # The best validation score is starred, in the table and on the chart.
        assert [p.best for p in chart.points] == [False, True, False]
        assert "best 0.7 ★ step 2" in label(scores, "#scores-validation")


async def test_revealing_a_grade_is_asked_journaled_and_shown() -> None:
    sample = resolve_task("digits").public_dir / "sample_submission.csv"
    folder = shell_agent(f'cp "{sample}" "$MLETUI_SUBMISSION_DIR/submission.csv"; sleep 120')
    app = MletuiApp(run_id=folder.id, operator="pilot")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: panes(app)[0].grades)
        scores, _code = panes(app)
        table = scores.query_one("#scores-table", DataTable)
        grade_row = table.get_row("g0")
        assert str(grade_row[3]) == "hidden" and str(grade_row[7]) == "graded, hidden"
        assert "1 graded, hidden · R reveals" in label(scores, "#scores-grade")
        assert all(p.series != "grade" for p in scores.query_one(ScoreChart).points)
        assert summarize(folder).grades is not None

        await pilot.press("R")
        await pilot.press("n")  # keeps it hidden, records nothing
        await pilot.pause(0.3)
        assert not scores.grades_shown and not entries(folder, "action")

        await pilot.press("R")
        await pilot.press("y")
        await until(pilot, lambda: scores.grades_shown)
        actions = entries(folder, "action")
        assert [(a["action"], a["operator"]) for a in actions] == [("reveal-grade", "pilot")]
        value = scores.grades[0].score
        assert value is not None and math.isclose(value, 0.10222)
        assert str(table.get_row("g0")[3]) == "0.10222"
        assert "latest 0.10222" in label(scores, "#scores-grade")
        assert [p.series for p in scores.query_one(ScoreChart).points] == ["grade"]

    summary = summarize(folder)
    assert summary.grades is not None and summary.grades.seen_by == ("pilot",)
    assert summary.assisted


async def test_a_malformed_submission_shows_its_reason_and_the_watcher_goes_on() -> None:
    sample = resolve_task("digits").public_dir / "sample_submission.csv"
    folder = shell_agent(
        'printf "id,label\\n1,3\\n" > "$MLETUI_SUBMISSION_DIR/submission.csv"; sleep 3; '
        f'cp "{sample}" "$MLETUI_SUBMISSION_DIR/submission.csv"; sleep 120'
    )
    app = MletuiApp(run_id=folder.id, operator="pilot")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: panes(app)[0].grades)
        scores, _code = panes(app)
        first = scores.grades[0]
        assert not first.valid and first.reason is not None
        assert "has 1 rows, but the test set has 450 ids" in first.reason
        assert "latest submission invalid: Submission submission.csv has 1 rows" in label(
            scores, "#scores-grade"
        )
        assert str(scores.query_one("#scores-table", DataTable).get_row("g0")[3]) == "invalid"
        await until(pilot, lambda: len(scores.grades) == 2)  # the watcher went on
        assert scores.grades[1].valid and "1 graded" not in label(scores, "#scores-grade")
        assert "2 graded, hidden" in label(scores, "#scores-grade")


async def test_the_demo_shows_grades_openly_and_says_so_in_the_journal() -> None:
    sample = resolve_task("digits").public_dir / "sample_submission.csv"
    folder = shell_agent(f'cp "{sample}" "$MLETUI_SUBMISSION_DIR/submission.csv"; sleep 120')
    app = MletuiApp(run_id=folder.id, operator="demo", show_grades=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: panes(app)[0].grades)
        scores, _code = panes(app)
        assert scores.grades_shown
        assert "latest 0.10222" in label(scores, "#scores-grade")
        await until(pilot, lambda: entries(folder, "action"))
    (action,) = entries(folder, "action")
    assert action["action"] == "reveal-grade" and "demo" in str(action["detail"])
