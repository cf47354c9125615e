"""Attaching to MLE-bench runs: fixtures in MLE-bench's own layout, written by the tests.

A run group ``<ts>_run-group_<agent>/`` with runs ``<competition>_<uuid4>/``, a ``run.log`` in
MLE-bench's format (``[asctime] [file:line] message``; the agent's chunks as ``[run.py:63]
[Container] ...`` holding several lines; harness lines; a traceback), AIDE's ``journal.json``
rewritten during the test (a torn write included), and ``code/`` as MLE-bench copies it out.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from mletui import cli
from mletui.core.events import (
    ActionRecord,
    Grade,
    LogBatch,
    LogLine,
    ResourceSample,
    RunState,
    Score,
    Snapshot,
    StatusUpdate,
    Stream,
)
from mletui.integrations.mlebench.aide import AideScores, TornJournal, parse_journal, read_journal
from mletui.integrations.mlebench.runlog import RunLogFollower
from mletui.integrations.mlebench.runs import (
    MlebenchLookupError,
    list_mlebench_runs,
    read_run,
    resolve_mlebench_run,
    runs_folder,
)
from mletui.integrations.mlebench.session import NO_CONTAINER, MlebenchSession
from mletui.integrations.mlebench.source import MlebenchSource
from mletui.store.journal import JournalFollower
from mletui.tui.app import MletuiApp
from mletui.tui.screens.watch import WatchScreen
from mletui.tui.widgets.code_pane import CodePane
from mletui.tui.widgets.log_view import LogView
from mletui.tui.widgets.scores_pane import ScoresPane
from mletui.watch.control import ActionError
from mletui.watch.session import Capability, Freezing, Killing
from mletui.watch.sources import registry
from tests.conftest import until
from tests.mlebench_fixtures import GMT_GROUP, T0, chunk, make_run, record
from tests.test_mlebench_grading import DATA as GRADING_DATA
from tests.test_mlebench_grading import VALID
from tests.test_tui import SIZE

START = (
    record(T0, "\x1b[35mRun started: runs/x\x1b[0m", "run.py:120")  # purple(), as run.py logs it
    + record(T0 + 0.5, "Running agent...", "run.py:58")
    + chunk(T0 + 1, "[2024-09-18 18:21:43,100] INFO: Starting run\nloading data\n")
    + chunk(T0 + 2, "epoch 1 loss 0.9\nepoch 2 loss 0.5\nepoch 3 loss 0.3")
)
DONE = record(T0 + 60, "Run completed in 60.25 seconds.", "run.py:150") + record(
    T0 + 61, "Cleaning up container: competition-spaceship-x", "run.py:70"
)
FAILED = record(T0 + 30, "Run failed for seed 0", "run_agent.py:96") + (
    "Traceback (most recent call last):\n"
    '  File "run_agent.py", line 90, in worker\n'
    "RuntimeError: The grading server failed to start within 60 seconds.\n"
)


def node(
    step: int, value: float | None, buggy: bool = False, maximize: bool = True
) -> dict[str, Any]:
    return {
        "code": f"print({step})\n",
        "plan": f"plan {step}",
        "step": step,
        "id": f"{step:02d}" + "ab" * 15,
        "ctime": T0 + 10 * step,
        "parent": None,
        "children": [],
        "_term_out": ["ok"],
        "exec_time": 1.5,
        "exc_type": "ValueError" if buggy else None,
        "exc_info": None,
        "exc_stack": None,
        "analysis": "",
        "metric": {"value": value, "maximize": None if value is None else maximize},
        "is_buggy": buggy,
    }


def journal(*nodes: dict[str, Any]) -> str:
    return json.dumps({"nodes": list(nodes), "node2parent": {}, "__version": "2"})


def finished_run(root: Path) -> Path:
    path = make_run(root, "spaceship-titanic", START + DONE)
    (path / "logs").mkdir()
    (path / "logs" / "journal.json").write_text(
        journal(node(0, 0.71), node(1, None, buggy=True), node(2, 0.78)), encoding="utf-8"
    )
    (path / "code").mkdir()
    (path / "code" / "solution.py").write_text("import pandas\nprint('best solution')\n")
    (path / "code" / "node_id.txt").write_text("02" + "ab" * 15)
    (path / "submission").mkdir()
    (path / "submission" / "submission.csv").write_text("PassengerId,Transported\n1,True\n")
    return path


# --- discovery ---------------------------------------------------------------------------------


def test_run_groups_runs_states_and_prefixes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "runs"
    queued = make_run(root, "aerial-cactus", None)
    running = make_run(root, "denoising-dirty", START)
    done = make_run(root, "spaceship-titanic", START + DONE)
    (done / "submission").mkdir()  # MLE-bench copies the outputs out before it logs the end
    failed = make_run(root, "jigsaw-toxic", START + FAILED)
    (root / "not-a-group").mkdir()
    make_run(root, "ignored", START, group="random-folder")

    runs = {r.path: r for r in list_mlebench_runs(root)}
    assert set(runs) == {queued, running, done, failed}
    assert runs[queued].state == "queued"
    assert runs[running].state == "running" and runs[running].ended is None
    assert runs[done].state == "done" and runs[done].seconds == 60.25
    assert runs[failed].state == "failed"
    assert runs[done].agent == "aide" and runs[done].competition == "spaceship-titanic"
    assert runs[done].started == pytest.approx(T0)
    assert runs[done].ended == pytest.approx(T0 + 61)
    assert runs[done].created == T0  # the group's name, in GMT

    # metadata.json (after the whole group) says a run failed: failed, whatever the log says.
    meta = {"run_group": GMT_GROUP, "created_at": "x", "runs": {running.name: {"success": False}}}
    (root / GMT_GROUP / "metadata.json").write_text(json.dumps(meta))
    assert read_run(running).state == "failed"

    assert resolve_mlebench_run(root, "spaceship").path == done
    assert resolve_mlebench_run(root, done.name).path == done
    make_run(root, "spaceship-titanic", START)
    with pytest.raises(MlebenchLookupError, match="matches 2"):
        resolve_mlebench_run(root, "spaceship")
    with pytest.raises(MlebenchLookupError, match="No MLE-bench run 'nothing'"):
        resolve_mlebench_run(root, "nothing")

    monkeypatch.chdir(tmp_path)  # ./runs holds run groups: found without being named
    monkeypatch.delenv("MLEBENCH_RUNS", raising=False)
    assert runs_folder() == Path("runs")
    monkeypatch.setenv("MLEBENCH_RUNS", str(tmp_path / "elsewhere"))
    assert runs_folder() == tmp_path / "elsewhere"
    assert runs_folder(str(root)) == root


# --- run.log -----------------------------------------------------------------------------------


def texts(lines: list[LogLine]) -> list[tuple[str, str]]:
    return [(line.stream.value, line.text) for line in lines]


def test_run_log_is_followed_like_tail_f_and_unwrapped(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    follower = RunLogFollower(log)
    assert follower.read_new() == []  # not there yet (queued)

    log.write_text(START, encoding="utf-8")
    lines = follower.read_new()
    assert texts(lines) == [
        ("s", "[mle-bench] Run started: runs/x"),  # the harness's colour codes are gone
        ("s", "[mle-bench] Running agent..."),
        ("o", "[2024-09-18 18:21:43,100] INFO: Starting run"),  # AIDE's own format, untouched
        ("o", "loading data"),
        ("o", "epoch 1 loss 0.9"),
        ("o", "epoch 2 loss 0.5"),
        ("o", "epoch 3 loss 0.3"),
    ]
    assert [line.ts for line in lines[2:]] == pytest.approx([T0 + 1] * 2 + [T0 + 2] * 3)
    assert [line.number for line in lines] == list(range(1, 8))

    # A record written in two pieces: nothing until its line is whole.
    half = chunk(T0 + 3, "epoch 4 loss 0.2\nepoch 5 loss 0.1")
    with log.open("a", encoding="utf-8") as f:
        f.write(half[:20])
        f.flush()
        assert follower.read_new() == []
        f.write(half[20:] + FAILED)
    assert texts(follower.read_new()) == [
        ("o", "epoch 4 loss 0.2"),
        ("o", "epoch 5 loss 0.1"),
        ("s", "[mle-bench] Run failed for seed 0"),
        ("s", "[mle-bench] Traceback (most recent call last):"),
        ("s", '[mle-bench]   File "run_agent.py", line 90, in worker'),
        ("s", "[mle-bench] RuntimeError: The grading server failed to start within 60 seconds."),
    ]

    # Replaced (a new run.log under the same name): followed from its start, as tail -F does.
    replacement = tmp_path / "run.log.new"
    replacement.write_text(chunk(T0 + 100, "fresh"), encoding="utf-8")
    replacement.replace(log)
    assert texts(follower.read_new()) == [("o", "fresh")]

    # A flood comes out in bounded batches, none lost.
    with log.open("a", encoding="utf-8") as f:
        f.write(chunk(T0 + 101, "\n".join(f"line {i}" for i in range(250))))
    first, second = follower.read_new(max_lines=200), follower.read_new(max_lines=200)
    assert len(first) == 200 and len(second) == 50
    assert second[-1].text == "line 249"


# --- AIDE's journal.json -----------------------------------------------------------------------


def test_aide_scores_survive_torn_writes(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    scores = AideScores(path)
    assert scores.poll() == ([], [])  # not there yet

    path.write_text(journal(node(0, 0.8, maximize=False), node(1, None, buggy=True)))
    got, buggy = scores.poll()
    assert [(s.step, s.value, s.direction, s.name) for s in got] == [
        (0, 0.8, "lower", "validation")
    ]
    assert [n.step for n in buggy] == [1]

    # AIDE rewrites the file in place: caught mid-write, nothing is read and nothing is lost.
    whole = journal(node(0, 0.8, maximize=False), node(1, None, True), node(2, 0.6, maximize=False))
    path.write_text(whole[: len(whole) // 2])
    assert scores.poll() == ([], []) and scores.torn_reads == 1
    path.write_text(whole)
    got, buggy = scores.poll()
    assert [(s.step, s.value) for s in got] == [(2, 0.6)] and buggy == []
    assert scores.poll() == ([], [])  # unchanged: nothing again

    # A read that catches the write half done tries again and gets the whole file.
    path.write_text(whole[:10])

    def finish() -> None:
        time.sleep(0.05)
        path.write_text(whole)

    writer = threading.Thread(target=finish)
    writer.start()
    nodes = read_journal(path, retries=50, retry_s=0.01)
    writer.join()
    assert [n.step for n in nodes] == [0, 1, 2]

    with pytest.raises(TornJournal):
        parse_journal('{"nodes": [')


# --- the session -------------------------------------------------------------------------------


def poll_until(session: MlebenchSession, want: type, timeout: float = 5.0) -> list[Any]:
    seen: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += session.poll()
        if any(isinstance(e, want) for e in seen):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"no {want.__name__}")


def test_session_of_a_finished_run(tmp_path: Path) -> None:
    run = read_run(finished_run(tmp_path / "runs"))
    session = MlebenchSession(run, cache=tmp_path / "cache", live=False)
    events = session.poll()
    status = next(e for e in events if isinstance(e, StatusUpdate))
    assert status.state is RunState.EXITED and status.exit_code == 0
    assert status.observe_only and status.wall_s == 60
    batch = next(e for e in events if isinstance(e, LogBatch))
    texts_ = [line.text for line in batch.lines]
    assert "epoch 3 loss 0.3" in texts_ and "[mle-bench] Run completed in 60.25 seconds." in texts_
    assert any("is buggy" in t for t in texts_)  # AIDE's buggy node, shown as such
    assert [(s.step, s.value) for s in events if isinstance(s, Score)] == [(0, 0.71), (2, 0.78)]

    snapshot = next(e for e in events if isinstance(e, Snapshot))
    assert sorted(c.path for c in snapshot.changes) == [
        "code/node_id.txt",
        "code/solution.py",
        "submission/submission.csv",
    ]
    diffs = {path: diff for path, _status, diff in session.diff(snapshot)}
    assert "+print('best solution')" in diffs["code/solution.py"]
    assert not (run.path / "snapshots").exists()  # MLE-bench's folder is never written

    # No container: freeze and kill say so; soft pause and hints: observe-only (not capabilities
    # of the session, and the control has no such actions).
    control = session.control
    assert isinstance(control, Freezing) and isinstance(control, Killing)
    for act in (control.freeze, control.kill):
        with pytest.raises(ActionError, match=NO_CONTAINER):
            act()
    for capability in (Capability.SOFT_PAUSE, Capability.HINTS):
        assert capability not in session.capabilities
        assert "observe-only" in (session.unavailable(capability, None) or "")
    assert not hasattr(control, "pause") and not hasattr(control, "hint")


def test_session_follows_a_live_run_to_its_end(tmp_path: Path) -> None:
    path = make_run(tmp_path / "runs", "spaceship-titanic", START)
    session = MlebenchSession(read_run(path), cache=tmp_path / "cache", live=False)
    events = session.poll()
    assert next(e for e in events if isinstance(e, StatusUpdate)).state is RunState.RUNNING
    with (path / "run.log").open("a") as f:
        f.write(chunk(T0 + 5, "Drafted new node x\nREPL is executing code"))
    lines = [ln.text for e in session.poll() if isinstance(e, LogBatch) for ln in e.lines]
    assert lines == ["Drafted new node x", "REPL is executing code"]

    # The end: MLE-bench copies code/ and logs/ out, then logs the completion.
    (path / "code").mkdir()
    (path / "code" / "solution.py").write_text("x = 1\n")
    (path / "logs").mkdir()
    (path / "logs" / "journal.json").write_text(journal(node(0, 0.5)))
    with (path / "run.log").open("a") as f:
        f.write(DONE)
    session.invalidate_status()
    seen = poll_until(session, Snapshot)
    assert any(isinstance(e, StatusUpdate) and e.state is RunState.EXITED for e in seen)
    assert [s.value for s in seen if isinstance(s, Score)] == [0.5]


# --- the live container, through the Engine's archive API ----------------------------------------


def put_files(container: Any, files: dict[str, bytes], mtime: float) -> None:
    """Write files into a container the way the agent would (through the archive API here)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name.lstrip("/"))
            info.size, info.mtime = len(content), int(mtime)
            tar.addfile(info, io.BytesIO(content))
    assert container.put_archive("/", data.getvalue())


def test_live_code_and_scores_from_inside_the_container(
    tmp_path: Path,
    docker_engine: Any,
    test_base_image: str,
    mlebench_data: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mletui.integrations.mlebench import grading
    from mletui.integrations.mlebench import session as session_module
    from mletui.runtimes.docker.attached import AttachedEngine

    monkeypatch.setattr(session_module, "LIVE_EVERY_S", 0.0)
    monkeypatch.setattr(session_module, "CODE_EVERY_S", 0.0)
    monkeypatch.setattr(session_module, "RESOURCES_EVERY_S", 0.0)
    monkeypatch.setattr(grading, "SETTLE_S", 0.0)
    client = docker_engine.client
    tag = uuid.uuid4().hex
    decoy = client.containers.run(
        test_base_image, ["sleep", "300"], name=f"competition-other-{tag}", detach=True
    )
    # An earlier run's container of the same competition, left over (never started).
    leftover = client.containers.create(
        test_base_image, ["true"], name=f"competition-toy-comp-2024-09-18T18-21-40-GMT-{tag}"
    )
    # As MLE-bench starts one: named by its pattern, its grading server baked in and running.
    container = client.containers.create(
        test_base_image,
        ["python3", "/private/grading_server.py"],
        name=f"competition-toy-comp-2024-09-18T18-21-42-GMT-{tag}",
    )
    server = (GRADING_DATA / "grading_server.py").read_bytes()
    put_files(container, {"/private/grading_server.py": server}, time.time())
    container.start()
    try:
        path = make_run(tmp_path / "runs", "toy-comp", START)
        whole = journal(node(0, 0.7))
        put_files(
            container,
            {
                "/home/code/solution.py": b"x = 1\n",
                "/home/logs/journal.json": whole[: len(whole) // 2].encode(),  # mid-write
            },
            time.time() - 10,
        )
        engine = AttachedEngine(docker_engine.address)
        session = MlebenchSession(
            read_run(path),
            cache=tmp_path / "cache",
            engine=engine,
            grader=grading.HostGrader(mlebench_data),
        )
        seen = poll_until(session, Snapshot)
        assert session.container is not None and session.container.id == container.id
        snapshot = next(e for e in seen if isinstance(e, Snapshot))
        assert [c.path for c in snapshot.changes] == ["code/solution.py"]
        assert not [e for e in seen if isinstance(e, Score)]  # the torn journal gave nothing

        # Only what changed is fetched: nothing changed, nothing fetched.
        fetches = [m.fetches for m in session._mirrors]
        session.poll()
        session.poll()
        assert [m.fetches for m in session._mirrors] == fetches

        # The agent writes: its best code, AIDE's live workspace, the journal, a submission.
        put_files(
            container,
            {
                "/home/code/solution.py": b"x = 2\n",
                "/home/logs/journal.json": whole.encode(),
                "/home/agent/workspaces/exp/runfile.py": b"print('node 1')\n",
                "/home/submission/submission.csv": VALID,
            },
            time.time(),
        )
        seen = poll_until(session, Snapshot)
        seen += poll_until(session, Score)
        later = next(e for e in seen if isinstance(e, Snapshot))
        diffs = {p: d for p, _status, d in session.diff(later)}
        assert "-x = 1" in diffs["code/solution.py"] and "+x = 2" in diffs["code/solution.py"]
        assert "+print('node 1')" in diffs["workspace/runfile.py"]
        assert [s.value for s in seen if isinstance(s, Score)] == [0.7]

        # The submission: checked by the container's grading server, scored on the host.
        grades = [e for e in poll_until(session, Grade, timeout=60) if isinstance(e, Grade)]
        assert grades[0].valid and grades[0].score == 0.75 and grades[0].medal == "bronze"
        assert grades[0].checked_by == grading.GRADER
        entry = next(
            e
            for e in JournalFollower(session.folder.journal_path).read_new()[0]
            if e["kind"] == "grade"
        )
        assert entry["server"] == {"valid": True, "text": "Submission is valid."}

        # Resources: the Engine's stats of the container.
        sample = next(
            e for e in poll_until(session, ResourceSample) if isinstance(e, ResourceSample)
        )
        assert sample.processes >= 1 and sample.rss_bytes > 0

        # Freeze and thaw: docker pause / unpause; the state comes from the Engine's events.
        session.control.freeze()
        container.reload()
        assert container.status == "paused"
        seen = poll_until(session, ActionRecord)
        deadline = time.monotonic() + 10
        while session.container_state != "paused" and time.monotonic() < deadline:
            seen += session.poll()
            time.sleep(0.05)
        session.invalidate_status()
        seen += poll_until(session, StatusUpdate)
        assert [e.action for e in seen if isinstance(e, ActionRecord)] == ["freeze"]
        assert [e.state for e in seen if isinstance(e, StatusUpdate)][-1] is RunState.FROZEN
        logged = [ln.text for e in seen if isinstance(e, LogBatch) for ln in e.lines]
        assert "[engine] container frozen (docker pause)" in logged
        with pytest.raises(ActionError, match="already frozen"):
            session.control.freeze()
        session.control.thaw()
        container.reload()
        assert container.status == "running"

        # Kill stops the agent's processes (MLE-bench's agent user), not the container.
        assert container.exec_run(["useradd", "-M", "nonroot"]).exit_code == 0
        container.exec_run(["sleep", "300"], user="nonroot", detach=True)
        container.exec_run(["sleep", "301"], user="nonroot", detach=True)
        assert session.engine is not None
        wait = time.monotonic() + 5
        while (
            session.engine.signal_user(container.id, "nonroot", "0") < 2 and time.monotonic() < wait
        ):
            time.sleep(0.05)
        session.invalidate_status()
        session.poll()
        session.control.kill(grace_s=2)
        assert session.engine.signal_user(container.id, "nonroot", "0") == 0
        container.reload()
        assert container.status == "running"  # the harness can still copy the outputs out

        # The second, separate choice: the container itself.
        session.container_control.kill_container()
        container.reload()
        assert container.status == "exited"
        actions = [
            e
            for e in JournalFollower(session.folder.journal_path).read_new()[0]
            if e["kind"] == "action" and e["action"] == "kill"
        ]
        assert [a.get("target") for a in actions] == [None, "container"]
        deadline = time.monotonic() + 10
        logged = []
        while "[engine] the container stopped (exit code 137)" not in logged:
            assert time.monotonic() < deadline, logged
            logged += [ln.text for e in session.poll() if isinstance(e, LogBatch) for ln in e.lines]
            time.sleep(0.05)
        session.invalidate_status()
        status = next(e for e in poll_until(session, StatusUpdate) if isinstance(e, StatusUpdate))
        assert status.state is RunState.EXITED and "its container stopped" in (
            status.end_reason or ""
        )
        session.close()
    finally:
        container.remove(force=True)
        decoy.remove(force=True)
        leftover.remove(force=True)


# --- the watch screen --------------------------------------------------------------------------


async def test_watch_screen_shows_an_mlebench_run(tmp_path: Path) -> None:
    path = finished_run(tmp_path / "runs")
    (path / "run.log").write_text(START, encoding="utf-8")  # still running
    sources = registry().add(MlebenchSource(tmp_path / "runs"))
    app = MletuiApp(run_id=read_run(path).id, sources=sources)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, WatchScreen) and isinstance(screen.session, MlebenchSession)
        log = screen.query_one(LogView)
        await until(pilot, lambda: any(ln.text == "epoch 3 loss 0.3" for ln in log.lines), 10)
        system = [ln for ln in log.lines if ln.stream is Stream.SYSTEM]
        assert system and all(ln.text.startswith(("[mle-bench]", "[aide]")) for ln in system)
        scores = screen.query_one(ScoresPane)
        await until(pilot, lambda: len(scores.scores) == 2, 10)
        code = screen.query_one(CodePane)
        await until(pilot, lambda: len(code.snapshots) == 1, 10)

        with (path / "run.log").open("a") as f:  # the log grows while watched
            f.write(chunk(T0 + 6, "Node 02ab is the best node so far") + DONE)
        await until(pilot, lambda: any("best node" in ln.text for ln in log.lines), 10)
        await until(pilot, lambda: screen.status is not None and screen.status.state.ended, 10)

        for action in ("toggle_pause", "hint"):
            assert "observe-only" in (screen.reason_unavailable(action) or "")
        for action in ("toggle_freeze", "kill"):
            assert "already ended" in (screen.reason_unavailable(action) or "")
        await pilot.press("F")  # greyed out: says why, does nothing
        await pilot.pause(0.2)
        await pilot.press("q")


async def test_runs_overview_lists_mlebench_runs_and_opens_one(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    done = finished_run(root)
    app = MletuiApp(sources=registry().add(MlebenchSource(root)))
    async with app.run_test(size=(240, 48)) as pilot:  # wide: no column shortened
        table = app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == 1, 10)
        mark, *cells = [str(c) for c in table.get_row_at(0)[:6]]
        assert mark == ""  # not selected
        assert cells == [done.name, "spaceship-titanic", "aide", "mle-bench", "done"]
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, WatchScreen), 10)
        assert isinstance(app.screen.session, MlebenchSession)
        scores = app.screen.query_one(ScoresPane)
        await until(pilot, lambda: len(scores.scores) == 2, 10)
        await pilot.press("q")  # back to the overview
        await until(pilot, lambda: not isinstance(app.screen, WatchScreen), 10)


# --- the command line --------------------------------------------------------------------------


def test_ls_and_watch_find_mlebench_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "runs"
    done = finished_run(root)
    make_run(root, "aerial-cactus", None)
    assert cli.main(["ls", "--mlebench-runs", str(root)]) == 0
    out = capsys.readouterr().out
    assert "MLE-bench runs" in out and "spaceship-titanic" in out and "queued" in out
    assert "done" in out

    assert cli.main(["ls", "--json", "--mlebench-runs", str(root)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {(r["source"], r["task"], r["state"]) for r in rows} == {
        ("mlebench", "spaceship-titanic", "done"),
        ("mlebench", "aerial-cactus", "queued"),
    }

    opened: list[Any] = []
    monkeypatch.setattr(
        MletuiApp,
        "run",
        lambda self: opened.append((self.run_id, self.sources.get("mle-bench").root)),
    )
    assert cli.main(["watch", "spaceship", "--mlebench-runs", str(root)]) == 0
    assert opened == [(done.name, root)]
    opened.clear()
    monkeypatch.setenv("MLEBENCH_RUNS", str(root))
    assert cli.main(["watch"]) == 0  # the overview, MLE-bench's runs listed too
    assert opened == [(None, root)]
    assert cli.main(["watch", "nothing", "--mlebench-runs", str(root)]) == 1
    assert capsys.readouterr().err == "mletui: No run matches 'nothing'. `mletui ls` lists them.\n"


async def test_kill_asks_whether_the_agent_or_the_container() -> None:
    from textual.app import App

    from mletui.tui.dialogs import KillChoiceDialog

    app: App[None] = App()
    chosen: list[str | None] = []
    async with app.run_test() as pilot:
        for key in ("a", "enter", "c", "n", "escape"):
            app.push_screen(KillChoiceDialog(), chosen.append)
            await pilot.pause()
            await pilot.press(key)
            await pilot.pause()
    assert chosen == ["agent", "agent", "container", None, None]
