"""The record can't be rewritten unseen: an agent with the operator's rights that edits a score in
the journal, deletes an entry, re-seals a line with a plain hash, deletes the head or cuts the
tail is named by `mletui audit`, at its line; the key it would need is out of its reach."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from mletui.cli import main
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store import keys
from mletui.store.audit import audit_journal
from mletui.store.runs import ENV_CONFIG_DIR, RunFolder, mletui_home
from tests.conftest import wait_ended

# Reports one score, waits until the supervisor journals it, then does its worst to the journal
# beside its workspace (or, for the head, to the anchor in the folder it was told of: an agent
# with the operator's rights may guess it), and says which line it touched in attacked.json.
TAMPERER = r"""
import hashlib, json, os, sys, time
attack, anchors = sys.argv[1], sys.argv[2]
run_id = os.path.basename(os.path.dirname(os.getcwd()))
journal = os.path.join("..", "journal.jsonl")
control = os.environ.get("MLETUI_CONTROL_DIR")
if control:
    with open(os.path.join(control, "metrics.jsonl"), "a") as f:
        f.write(json.dumps({"step": 1, "name": "accuracy", "value": 0.5,
                            "direction": "higher", "ts": time.time()}) + "\n")
    with open("env.json", "w") as f:
        json.dump(dict(os.environ), f)
while True:
    lines = open(journal, "rb").read().split(b"\n")
    score = [i for i, line in enumerate(lines) if b'"kind": "score"' in line]
    if score:
        break
    time.sleep(0.05)
i = score[0]
start = sum(len(line) + 1 for line in lines[:i])
touched = i + 1
if attack == "edit-score":
    edited = lines[i].replace(b'"value": 0.5', b'"value": 0.9')
    with open(journal, "r+b") as f:
        f.seek(start)
        f.write(edited)
elif attack == "reseal":
    body, sep, _mac = lines[i].replace(b'"value": 0.5', b'"value": 0.9').rpartition(b', "mac": "')
    resealed = body + sep + hashlib.sha256(body + b"}").hexdigest().encode() + b'"}'
    with open(journal, "r+b") as f:
        f.seek(start)
        f.write(resealed)
elif attack == "delete":
    with open(journal, "r+b") as f:
        rest = f.read()
        kept = rest[:start] + rest[start + len(lines[i]) + 1:]
        f.seek(0)
        f.write(kept)
        f.truncate()
elif attack == "delete-head":
    touched = len(open(journal, "rb").read().split(b"\n"))  # the next line to be written
    os.unlink(os.path.join(anchors, run_id + ".head"))
elif attack == "cut-tail":
    os.truncate(journal, start)
with open("attacked.json", "w") as f:
    json.dump({"line": touched}, f)
"""


@pytest.fixture
def tamperer(tmp_path: Path) -> Path:
    path = tmp_path / "tamperer.py"
    path.write_text(TAMPERER)
    return path


def start_tamperer(tamperer: Path, attack: str) -> RunFolder:
    """A run whose agent does ``attack`` to its journal (and, for the head, to the anchor it
    guessed the path of): the run has ended when this returns."""
    anchors = keys.anchor_path("RUN").parent
    folder = start_run(
        resolve_task("digits"), agent_cmd=f"{sys.executable} {tamperer} {attack} {anchors}"
    )
    wait_ended(folder)
    return folder


def touched_line(folder: RunFolder) -> int:
    return int(json.loads((folder.workspace / "attacked.json").read_text())["line"])


def breaks(folder: RunFolder) -> list[tuple[int, str]]:
    return [(b.line, b.what) for b in audit_journal(folder.journal_path).breaks]


def audit_output(folder: RunFolder, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["audit", folder.id]) == 1
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("attack", "what", "sentence"),
    [
        ("edit-score", "changed", "changed: its content no longer matches its mac"),
        (
            "reseal",
            "forged",
            "forged: re-sealed with a plain SHA-256 instead of the operator's key",
        ),
        ("delete", "removed", "removed: the entry written just before it"),
        ("cut-tail", "removed", "removed: the entry written just before it"),
        ("delete-head", "head missing", "head missing: the chain starts over here"),
    ],
)
def test_each_rewrite_of_the_record_is_named_at_its_line(
    tamperer: Path, attack: str, what: str, sentence: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = start_tamperer(tamperer, attack)
    line = touched_line(folder)
    assert breaks(folder) == [(line, what)]
    out = audit_output(folder, capsys)
    assert f"line {line}: {sentence}" in out
    assert "the record is BROKEN" in out


def test_a_tail_cut_after_the_run_ended_is_named(
    tamperer: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the agent leaves behind (here: the same program run again once the run is over,
    as the operator's user) cuts the journal at its score: nothing is written after it."""
    import subprocess

    folder = start_tamperer(tamperer, "none")
    subprocess.run(
        [sys.executable, str(tamperer), "cut-tail", "-"], cwd=folder.workspace, check=True
    )
    line = touched_line(folder)
    assert breaks(folder) == [(0, "tail cut")]
    out = audit_output(folder, capsys)
    assert f"tail cut: entries after line {line - 1} were removed" in out


def test_a_deleted_head_after_the_run_ended_is_named(
    tamperer: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = start_tamperer(tamperer, "none")
    keys.anchor_path(folder.id).unlink()
    assert breaks(folder) == [(0, "head missing")]
    out = audit_output(folder, capsys)
    assert f"head missing: the anchor of run {folder.id} outside the run folder was deleted" in out


def test_an_untouched_run_audits_intact_and_says_whose_rights_the_agent_had(
    tamperer: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = start_tamperer(tamperer, "none")
    report = audit_journal(folder.journal_path)
    assert report.intact and report.breaks == []
    kinds = [e.get("kind") for e in _entries(folder)]
    assert {"state", "score", "snapshot", "grading"} <= set(kinds)
    assert report.entries == len(kinds)  # every entry is sealed, not only the operator's
    capsys.readouterr()
    assert main(["audit", folder.id]) == 0
    out = capsys.readouterr().out
    assert f"Run {folder.id}: the record of {len(kinds)} entries is intact." in out
    rights = "The agent ran with the operator's rights (no --agent-user): it could have written"
    assert rights in out
    assert main(["show", folder.id]) == 0
    assert rights in capsys.readouterr().out


def test_the_key_is_private_outside_every_run_folder_and_not_in_the_agent_s_environment(
    tamperer: Path,
) -> None:
    folder = start_tamperer(tamperer, "none")
    key = keys.key_path()
    info = key.lstat()
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert not key.resolve().is_relative_to(mletui_home().resolve())
    assert not keys.anchor_path(folder.id).resolve().is_relative_to(folder.path.resolve())
    secret = key.read_text().strip()
    env = json.loads((folder.workspace / "env.json").read_text())
    assert ENV_CONFIG_DIR not in env
    leaks = [k for k, v in env.items() if str(keys.config_dir()) in v or secret in v]
    assert leaks == []


def test_a_config_folder_found_open_is_closed_before_the_key_goes_in(tamperer: Path) -> None:
    """A config folder another tool made (or a user chmod-ed) 0755 holds the key all the same:
    mletui closes it rather than trusting how it found it (the anchors inside are then out of
    everyone else's reach too)."""
    config = keys.config_dir()
    config.mkdir(parents=True)
    config.chmod(0o755)
    start_tamperer(tamperer, "none")
    assert stat.S_IMODE(config.stat().st_mode) == 0o700


def test_a_journal_from_before_keys_audits_as_not_chained(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mletui.store.runs import create_run_folder, make_record

    folder = create_run_folder(make_record("digits", "/tmp/digits", "cmd", ["true"], "local", 60))
    old = [
        {"ts": 1.0, "kind": "state", "state": "running"},
        {"ts": 2.0, "kind": "action", "action": "hint", "operator": "al", "prev": "0" * 64,
         "hash": "ab" * 32},
    ]  # fmt: skip
    folder.journal_path.write_text("".join(json.dumps(e) + "\n" for e in old))
    report = audit_journal(folder.journal_path)
    assert not report.chained and report.breaks == [] and not report.intact
    assert [e["action"] for _, e in report.actions] == ["hint"]
    assert main(["audit", folder.id]) == 1
    assert f"Run {folder.id}: not chained. This journal was written before" in (
        capsys.readouterr().out
    )


def _entries(folder: RunFolder) -> list[dict[str, object]]:
    from mletui.store.journal import read_journal

    return read_journal(folder.journal_path).entries
