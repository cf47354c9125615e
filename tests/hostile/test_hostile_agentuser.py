"""A hostile agent run as another user (``mletui run --agent-user NAME``): it tries to rewrite
the record (append to or overwrite the journal, delete its head, rewrite run.json), to write
anywhere else of its run and of mletui's home, to read the operator's config folder (where the
journal's key lives), and to make the operator's root write through a link it planted. Every
attempt fails; its scores are recorded as usual and kill ends every process it started."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from mletui.cli import main
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.run.scores import GRADE_KIND
from mletui.runtimes.local import kill_members, run_members
from mletui.store import keys
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder, list_runs
from mletui.watch.control import RunControl
from tests.conftest import require_root, wait_for
from tests.hostile.test_hostile_kill import alive, cli, recorded_pids
from tests.hostile.test_hostile_kill import containment as containment  # both containments

# Each attempt writes "<name> ok" when it worked and "<name> refused" when it did not.
ATTEMPTS = {
    "journal-append": 'echo \'{"kind": "score", "value": 1.0}\' >> "$RUN/journal.jsonl"',
    "journal-overwrite": 'printf forged > "$RUN/journal.jsonl"',
    "journal-replace": 'echo forged > forged.jsonl && mv -f forged.jsonl "$RUN/journal.jsonl"',
    # The journal's anchor and key live in the operator's config folder (the agent is not told
    # where: the test tells it, as an agent that guessed would know).
    "anchor-delete": 'rm "$ANCHOR"',
    "anchor-overwrite": 'echo \'{"count": 0, "mac": ""}\' > "$ANCHOR"',
    "run-json-rewrite": 'echo \'{"state": "exited"}\' > "$RUN/run.json"',
    "run-json-replace": 'echo {} > r.json && mv -f r.json "$RUN/run.json"',
    "run-folder-plant": 'touch "$RUN/planted"',
    "logs-plant": 'touch "$RUN/logs/planted"',
    "spool-truncate": 'for f in "$RUN"/logs/*; do : > "$f" || exit 1; done',
    "home-plant": 'touch "$RUN/../../planted"',
    "runs-plant": 'mkdir "$RUN/../planted"',
    "config-list": 'ls "$CONFIG" > /dev/null',
    "config-key-read": 'cat "$CONFIG/journal.key" > stolen',
    "config-file-read": 'cat "$CONFIG/patterns.toml" >> stolen',
    "config-plant": 'touch "$CONFIG/planted"',
}

HELLO = (
    """printf '{"protocol": 1, "agent": "intruder", "capabilities": ["hints"]}' """
    '> "$MLETUI_CONTROL_DIR/hello.json"\n'
)

AGENT = (
    'RUN=$(dirname "$MLETUI_WORKSPACE")\nCONFIG="$OPERATOR_CONFIG"\n'
    'ANCHOR="$CONFIG/anchors/$(basename "$RUN").head"\n' + HELLO + "echo $$ >> pids\n"
    "setsid sh -c 'echo $$ >> pids; exec sleep 1000' &\n"
    'while [ ! -e "$MLETUI_CONTROL_DIR/hints.jsonl" ]; do sleep 0.1; done\n'
    + "".join(
        f"if ( {command} ) 2>/dev/null; then echo '{name} ok'; else echo '{name} refused'; fi"
        " >> results\n"
        for name, command in ATTEMPTS.items()
    )
    + 'echo "me $(id -u) $(id -G)" >> results\n'
    + 'for i in 1 2 3; do echo "{\\"step\\": $i, \\"name\\": \\"loss\\", \\"value\\": $i}" '
    '>> "$MLETUI_CONTROL_DIR/metrics.jsonl"; done\n'
    'cp "$MLETUI_DATA_DIR/sample_submission.csv" "$MLETUI_SUBMISSION_DIR/submission.csv"\n'
    "echo done >> results\n"
    "while true; do sleep 0.2; done\n"
)


@pytest.fixture
def agent_user(open_home: Path) -> Iterator[str]:
    """A throwaway system user with no home, removed at the end (after what it left running)."""
    require_root("the --agent-user tests")
    name = f"mletui-t{secrets.token_hex(3)}"
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
    )
    try:
        yield name
    finally:
        for folder in list_runs():
            if run_members(folder.read()):
                kill_members(folder.read())
        subprocess.run(["userdel", name], check=False)


@pytest.fixture
def open_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """MLETUI_HOME and the config folder where another user could reach them (the test's own
    folder is closed to everyone but root): what mletui must close itself. The config folder
    is open to anyone and holds a file readable by anyone, the worst an operator could leave it
    (mletui refuses a journal key others can read, so it makes its own there)."""
    base = Path(tempfile.mkdtemp(prefix="mletui-agentuser-"))
    base.chmod(0o755)
    config = base / "config"
    config.mkdir(mode=0o755)
    secret = config / "patterns.toml"
    secret.write_text("# the operator's own\n")
    secret.chmod(0o644)
    monkeypatch.setenv("MLETUI_HOME", str(base / "home"))
    monkeypatch.setenv("MLETUI_CONFIG_DIR", str(config))
    yield base
    subprocess.run(["rm", "-rf", str(base)], check=False)


def results(folder: RunFolder) -> list[str]:
    path = folder.workspace / "results"
    return path.read_text().splitlines() if path.exists() else []


def scores(folder: RunFolder) -> list[dict[str, object]]:
    entries = read_journal(folder.journal_path).entries
    return [e for e in entries if e["kind"] == "score" and e.get("name") == "loss"]


def test_an_agent_user_can_write_only_its_three_folders(
    agent_user: str, open_home: Path, containment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = os.environ["MLETUI_CONFIG_DIR"]
    folder = start_run(
        resolve_task("digits"),
        agent_cmd=AGENT,
        agent_user=agent_user,
        extra_env={"OPERATOR_CONFIG": config},
    )
    record = folder.read()
    assert record.agent_user == agent_user
    pids = recorded_pids(folder, 1)  # the agent and its setsid child
    RunControl(folder, "tester").hint("the first hint")
    wait_for(lambda: "done" in results(folder), 30, "the agent's attempts")

    uid = int(subprocess.run(["id", "-u", agent_user], capture_output=True).stdout)
    assert results(folder) == [
        *(f"{name} refused" for name in ATTEMPTS),
        f"me {uid} {os.stat(folder.workspace).st_gid}",  # no supplementary groups
        "done",
    ]
    assert keys.anchor_path(folder.id).stat().st_uid == 0  # still mletui's (audited below)
    assert folder.read().id == record.id
    assert (folder.workspace / "stolen").read_text() == ""  # made by the shell, left empty
    assert not list(open_home.rglob("planted"))
    assert stat.S_IMODE((open_home / "config").stat().st_mode) == 0o700
    # The record reads as it should: the metrics and the grade were recorded as usual.
    wait_for(lambda: len(scores(folder)) == 3, 30, "the agent's three scores")
    assert [e["value"] for e in scores(folder)] == [1, 2, 3]
    wait_for(
        lambda: any(e["kind"] == GRADE_KIND for e in read_journal(folder.journal_path).entries),
        60,
        "the grade",
    )
    assert main(["audit", folder.id]) == 0, capsys.readouterr()
    # Only its three folders are its own; nothing mletui made is writable by anyone else.
    for path in folder.path.rglob("*"):
        info = path.lstat()
        mine = path.relative_to(folder.path).parts[0] in ("workspace", "submission", "control")
        if mine or path.is_symlink():
            continue
        assert info.st_uid == 0, path
        assert not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH), (path, oct(info.st_mode))
    for name in ("workspace", "submission", "control"):
        assert (folder.path / name).stat().st_uid == uid
    assert folder.path.stat().st_uid == 0

    # Freeze and kill reach every process of the user's run, its setsid child too.
    control = RunControl(folder, "tester")
    control.freeze()
    stopped = {psutil.STATUS_STOPPED}
    wait_for(lambda: {psutil.Process(p).status() for p in pids} == stopped, 5, "all stopped")
    control.thaw()
    result = cli("kill", folder.id, "--yes", "--grace", "1")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: not alive(pids), 10, "every process of the agent's user gone")
    assert folder.read().state == "killed"


# The agent plants links in control/, which it owns, where mletui (root) writes the operator's
# pause and hints: writing through them would let it overwrite any file of the machine.
LINKS_AGENT = (
    HELLO
    + r"""
ln -s "$TARGET" "$MLETUI_CONTROL_DIR/hints.jsonl"
ln -s "$TARGET" "$MLETUI_CONTROL_DIR/pause"
echo planted > planted
while true; do sleep 0.2; done
"""
)


def test_the_operator_never_writes_through_a_link_the_agent_user_planted(
    agent_user: str, open_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = open_home / "root-only"
    target.write_text("untouched\n")
    monkeypatch.setenv("TARGET", str(target))
    folder = start_run(resolve_task("digits"), agent_cmd=LINKS_AGENT, agent_user=agent_user)
    wait_for(lambda: (folder.workspace / "planted").exists(), 30, "the agent's links")
    hint = cli("hint", folder.id, "overwrite it")
    assert hint.returncode == 1
    assert hint.stderr == (
        "mletui: control/hints.jsonl of the run is a symbolic link, not a regular file; "
        "nothing was written through it.\n"
    )
    pause = cli("pause", folder.id)
    assert pause.returncode == 1
    assert pause.stderr == (
        "mletui: control/pause of the run is a symbolic link, not a regular file; "
        "nothing was written through it.\n"
    )
    assert target.read_text() == "untouched\n"
    assert cli("kill", folder.id, "--yes", "--grace", "1").returncode == 0


def test_the_operator_never_writes_through_a_hard_link_in_control(
    agent_user: str, open_home: Path
) -> None:
    # Where fs.protected_hardlinks is 0 the agent's user can hard-link any file it can see into
    # control/, which it owns; the test plants the links itself (this machine protects them),
    # exactly as such an agent would.
    target = open_home / "root-only"
    target.write_text("untouched\n")
    folder = start_run(resolve_task("digits"), agent_cmd=HELLO + "sleep 60", agent_user=agent_user)
    wait_for(lambda: (folder.control / "hello.json").exists(), 30, "the agent's hello")
    for name in ("hints.jsonl", "pause"):
        os.link(target, folder.control / name)
    for command, name in (
        (("hint", folder.id, "overwrite it"), "hints.jsonl"),
        (("pause", folder.id), "pause"),
    ):
        done = cli(*command)
        assert done.returncode == 1
        assert done.stderr == (
            f"mletui: control/{name} of the run has 3 hard links; nothing was written through it.\n"
        )
    assert target.read_text() == "untouched\n"
    assert cli("kill", folder.id, "--yes", "--grace", "1").returncode == 0
