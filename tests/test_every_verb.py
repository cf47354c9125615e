"""Every command on every run `ls` shows: an MLE-bench run found by a prefix of its id (its
container on the Docker Engine running here, named as MLE-bench names them), the one row shape
of `ls --json` whatever the source, and ids never cut in `ls`'s tables."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from mletui import cli
from mletui.integrations.mlebench.runs import read_run
from mletui.runtimes.docker.attached import AttachedEngine
from mletui.store.runs import create_run_folder, make_record
from tests.test_mlebench import START, finished_run, make_run


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = cli.main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def _own_run(run_id: str) -> None:
    record = make_record("digits", "/tmp/digits", "cmd", ["true"], "local", 60)
    record.id = run_id
    create_run_folder(record)


def test_every_verb_on_an_mlebench_run_found_by_prefix(
    tmp_path: Path,
    docker_engine: Any,
    test_base_image: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tag = uuid.uuid4().hex
    competition = f"verbs{tag[:12]}"  # no other test's container has this name
    container = docker_engine.client.containers.run(
        test_base_image,
        ["sleep", "300"],
        name=f"competition-{competition}-2024-09-18T18-21-42-GMT-{tag}",
        detach=True,
    )
    try:
        root = tmp_path / "runs"
        path = make_run(root, competition, START)
        run_id = read_run(path).id
        prefix = run_id[: len(competition) + 5]
        given = ("--mlebench-runs", str(root))

        # ls shows it; show takes the prefix, as text and as ls's row.
        status, out, _ = _main(capsys, "ls", *given)
        assert status == 0 and run_id in out
        status, out, _ = _main(capsys, "show", prefix, *given)
        assert status == 0 and re.search(rf"^id +{run_id}$", out, re.M) and "running" in out
        status, out, _ = _main(capsys, "show", prefix, "--json", *given)
        shown = json.loads(out)
        assert (shown["id"], shown["state"], shown["source"]) == (run_id, "running", "mlebench")

        # What the agent does not speak: one sentence each.
        status, _, err = _main(capsys, "pause", prefix, *given)
        assert status == 1
        assert err == (
            f"mletui: Cannot pause {run_id}: soft pause unavailable: MLE-bench's agents are "
            "observe-only.\n"
        )
        status, _, err = _main(capsys, "hint", prefix, "try harder", *given)
        assert status == 1 and "hints unavailable: MLE-bench's agents are observe-only" in err

        # Freeze and thaw: docker pause of its container; $MLEBENCH_RUNS serves as the option.
        monkeypatch.setenv("MLEBENCH_RUNS", str(root))
        status, out, err = _main(capsys, "--operator", "ana", "freeze", prefix)
        assert (status, err) == (0, "") and f"Run {run_id} frozen (docker pause)" in out
        container.reload()
        assert container.status == "paused"
        status, _, err = _main(capsys, "freeze", prefix)
        assert (
            status == 1
            and err == f"mletui: Cannot freeze run {run_id}: the run is already frozen.\n"
        )
        status, out, _ = _main(capsys, "thaw", prefix)
        container.reload()
        assert status == 0 and container.status == "running"
        monkeypatch.delenv("MLEBENCH_RUNS")

        # Audit and show read the journal mletui keeps for the run.
        status, out, _ = _main(capsys, "audit", prefix, *given)
        assert status == 0 and "freeze" in out and "thaw" in out and "ana" in out
        status, out, _ = _main(capsys, "show", prefix, *given)
        assert re.search(r"^operator actions +freeze 1, thaw 1$", out, re.M)
        assert re.search(r"^assisted +yes", out, re.M)

        # The verbs that make no sense for it say why, in one sentence.
        for verb in (["pack"], ["replay"], ["export", "--out", str(tmp_path / "x")]):
            status, _, err = _main(capsys, verb[0], prefix, *verb[1:], *given)
            assert status == 1 and err.startswith(f"mletui: {run_id} is an MLE-bench run: ")
            assert err.count("\n") == 1 and "Traceback" not in err
        # Grade is MLE-bench's grader on this machine: without its answers here, it says so.
        no_data = ("--mlebench-data", str(tmp_path / "no-data"))
        status, _, err = _main(capsys, "grade", prefix, *given, *no_data)
        assert status == 1 and err.startswith(f"mletui: Cannot grade {run_id}: no private answers")
        assert err.count("\n") == 1

        # The same prefix rules as for mletui's own runs: ambiguous, unknown.
        make_run(root, competition, START)
        status, _, err = _main(capsys, "freeze", competition[:6], *given)
        assert status == 1 and "matches 2" in err and err.count("\n") == 1
        status, _, err = _main(capsys, "show", "nosuchrun", *given)
        assert status == 1 and err.count("\n") == 1 and "nosuchrun" in err

        # Kill: the two kinds; --container is docker kill of its container.
        status, _, err = _main(capsys, "kill", prefix, "--container", *given)
        assert status == 1 and "add --yes" in err
        status, out, err = _main(capsys, "kill", run_id, "--container", "--yes", *given)
        assert (status, err) == (0, "") and "Container killed (docker kill)" in out
        container.reload()
        assert container.status == "exited"
        status, out, _ = _main(capsys, "audit", prefix, "--json", *given)
        entries = json.loads(out)["operator_entries"]
        assert [(e["action"], e.get("target")) for e in entries][-1] == ("kill", "container")
    finally:
        container.remove(force=True)


def test_kill_kinds_are_for_runs_that_have_two(capsys: pytest.CaptureFixture[str]) -> None:
    _own_run("own-verbs-run")
    status, _, err = _main(capsys, "kill", "own-verbs", "--agent-only", "--yes")
    assert status == 1 and err.startswith("mletui: --agent-only and --container choose how")


def test_ls_json_has_one_row_shape_for_every_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _own_run("own-shape-run")
    root = tmp_path / "runs"
    done = finished_run(root)
    status, out, _ = _main(capsys, "ls", "--json", "--mlebench-runs", str(root))
    assert status == 0
    rows = {r["source"]: r for r in json.loads(out)}
    assert set(rows) == {"mletui", "mlebench"}
    assert list(rows["mletui"]) == list(rows["mlebench"])
    assert "live_state" not in rows["mletui"]
    assert rows["mletui"]["state"] == "starting" and rows["mlebench"]["state"] == "done"
    # show --json is ls's row, for mletui's own runs as for MLE-bench's.
    status, out, _ = _main(capsys, "show", "own-shape-run", "--json")
    shown = json.loads(out)
    assert status == 0 and "live_state" not in shown
    assert (shown["source"], shown["state"]) == ("mletui", "starting")
    assert set(shown) <= set(rows["mletui"])
    # AIDE's journal gives the MLE-bench run's best validation score (the buggy node left out).
    mle = rows["mlebench"]
    assert (mle["id"], mle["best_validation"], mle["direction"]) == (done.name, 0.78, "higher")
    assert mle["steps"] == 2


def test_ls_never_cuts_an_id(tmp_path: Path) -> None:
    own = "own-run-with-a-long-id-" + "x" * 30
    _own_run(own)
    root = tmp_path / "runs"
    done = finished_run(root)
    env = {**os.environ, "COLUMNS": "60", "MLEBENCH_RUNS": str(root)}
    piped = subprocess.run(
        [sys.executable, "-m", "mletui", "ls"], capture_output=True, text=True, env=env, check=True
    )
    assert own in piped.stdout and done.name in piped.stdout
    assert "0.78" in piped.stdout  # the best score of the MLE-bench run

    # At a narrow terminal, the other columns are cut first.
    from rich.console import Console

    from mletui.cli import runs as runs_module

    narrow = Console(width=60, force_terminal=True, highlight=False, record=True)
    monkey = pytest.MonkeyPatch()
    monkey.setattr(runs_module, "_console", lambda: narrow)
    try:
        assert cli.main(["ls", "--mlebench-runs", str(root)]) == 0
    finally:
        monkey.undo()
    text = narrow.export_text()
    assert own in text and done.name in text
    assert max(len(line) for line in text.splitlines()) <= 60


VERBS = (
    ["watch"],
    ["show"],
    ["audit"],
    ["freeze"],
    ["thaw"],
    ["pause"],
    ["resume"],
    ["hint", "try harder"],
    ["kill", "--yes"],
    ["grade"],
    ["export", "--out", "exported"],
    ["pack"],
    ["replay"],
)


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: v[0])
def test_an_unknown_id_is_said_once_with_only_the_reason_that_matters(
    verb: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLEBENCH_RUNS", raising=False)
    # No MLE-bench runs folder, no Inspect logs: nothing about either is said.
    status, out, err = _main(capsys, verb[0], "nothing", *verb[1:])
    assert (status, out) == (1, "")
    assert err == "mletui: No run matches 'nothing'. `mletui ls` lists them.\n"

    # Own runs, and an MLE-bench runs folder holding runs: still one sentence, the closest ids.
    _own_run("own-verbs-run")
    root = tmp_path / "runs"
    finished_run(root)
    status, _, err = _main(
        capsys, verb[0], "own-verbz-run", *verb[1:], "--mlebench-runs", str(root)
    )
    assert status == 1
    closest = "Closest: own-verbs-run. `mletui ls` lists them."
    assert err == f"mletui: No run matches 'own-verbz-run'. {closest}\n"

    # $MLEBENCH_RUNS pointing where there are no run groups: that is why, said once.
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("MLEBENCH_RUNS", str(empty))
    status, _, err = _main(capsys, verb[0], "nothing", *verb[1:])
    assert status == 1
    assert err == f"mletui: No run matches 'nothing': no MLE-bench run groups under {empty}.\n"


def _alive(container: Any, pid: str) -> bool:
    done = container.exec_run(["sh", "-c", f"kill -0 {pid}"], user="root")
    return bool(done.exit_code == 0)


def _pids_of(container: Any, user: str) -> list[str]:
    """The live processes of ``user`` in the container (a zombie has ended: pid 1 here, as in
    many containers, does not reap the orphans)."""
    script = (
        f"u=$(id -u {user}); for p in /proc/[0-9]*; do "
        '[ "$(stat -c %u "$p" 2>/dev/null)" = "$u" ] || continue; '
        'grep -q "^State:[[:space:]]*Z" "$p/status" 2>/dev/null || echo "${p#/proc/}"; done; true'
    )
    return container.exec_run(["sh", "-c", script], user="root").output.decode().split()


def test_kill_agent_only_spares_the_container_and_its_grading_server(
    tmp_path: Path,
    docker_engine: Any,
    test_base_image: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """As MLE-bench runs an agent: the container's own process (its grading server) as root,
    the agent started with ``docker exec --user nonroot``. --agent-only ends the agent's
    processes (one ignoring SIGTERM too) and nothing else; --container ends the container."""
    tag = uuid.uuid4().hex
    competition = f"agentkill{tag[:10]}"
    container = docker_engine.client.containers.run(
        test_base_image,
        ["python3", "-m", "http.server", "5000"],  # the grading server's place: root's process
        name=f"competition-{competition}-2024-09-18T18-21-42-GMT-{tag}",
        detach=True,
    )
    try:
        assert container.exec_run(["useradd", "-m", "nonroot"], user="root").exit_code == 0
        agent = "sleep 300 & sh -c 'trap \"\" TERM; while :; do sleep 1; done' & wait"
        container.exec_run(["sh", "-c", agent], user="nonroot", detach=True)
        deadline = time.monotonic() + 10
        while len(_pids_of(container, "nonroot")) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_pids_of(container, "nonroot")) >= 3

        root = tmp_path / "runs"
        run_id = read_run(make_run(root, competition, START)).id
        given = ("--mlebench-runs", str(root))
        status, out, err = _main(
            capsys, "kill", run_id[:-4], "--agent-only", "--yes", "--grace", "1", *given
        )
        assert (status, err) == (0, "") and "Kill sent to the agent's processes" in out
        deadline = time.monotonic() + 10
        while _pids_of(container, "nonroot") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _pids_of(container, "nonroot") == []  # the TERM-ignoring one too (SIGKILL)
        # mletui counts no process left either: the ended ones pid 1 has not reaped are not alive.
        engine = AttachedEngine(docker_engine.address)
        assert engine.signal_user(container.id, "nonroot", "0") == 0
        container.reload()
        assert container.status == "running" and _alive(container, "1")  # the server lives
        served = container.exec_run(
            ["python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:5000/')"]
        )
        assert served.exit_code == 0

        status, out, _ = _main(capsys, "kill", run_id, "--container", "--yes", *given)
        assert status == 0 and "Container killed (docker kill)" in out
        container.reload()
        assert container.status == "exited"
        status, out, _ = _main(capsys, "audit", run_id, "--json", *given)
        entries = json.loads(out)["operator_entries"]
        assert [(e["action"], e.get("target")) for e in entries] == [
            ("kill", None),
            ("kill", "container"),
        ]
    finally:
        container.remove(force=True)
