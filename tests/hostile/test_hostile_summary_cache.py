"""Hostile summary cache: an agent that forges the summary cache (inside its run folder, where a
careless reader might look, and in mletui's own cache folder, which it can reach on the local
runtime) and lays links named like it changes nothing `ls` says of its run."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store import summarycache
from tests.conftest import wait_ended

FORGER = r"""
import hashlib, json, os, pathlib
control = pathlib.Path(os.environ["MLETUI_CONTROL_DIR"])
with open(control / "metrics.jsonl", "a") as f:
    metric = {"step": 1, "name": "accuracy", "value": 0.42, "direction": "higher"}
    f.write(json.dumps(metric) + "\n")
run = control.parent
home = run.parent.parent
name = hashlib.sha256(run.name.encode()).hexdigest()[:32] + ".json"
forged = {"version": 1, "run": run.name, "stamp": [], "summary": {"best": 0.99, "steps": 99}}
body = json.dumps(forged).encode()
entry = body + b'\n{"mac": "' + b"0" * 64 + b'"}\n'
for where in (run / ".cache" / "summaries", run / "cache" / "summaries"):
    where.mkdir(parents=True, exist_ok=True)
    (where / name).write_bytes(entry)
(run / "summaries").symlink_to(run / ".cache" / "summaries")
(run / "workspace" / "entry.json").write_bytes(entry)
real = home / ".cache" / "summaries"
real.mkdir(parents=True, exist_ok=True)
(real / name).symlink_to(run / "workspace" / "entry.json")  # mletui's own entry, a link
(home / ".cache" / "index.json").write_bytes(b'{"version": 1, "entries": {}}')
print("forged")
"""


def _ls() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mletui", "ls"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return done.stdout


def test_a_forged_summary_cache_changes_nothing_ls_says(tmp_path: Path) -> None:
    script = tmp_path / "forger.py"
    script.write_text(FORGER)
    forger = start_run(resolve_task("digits"), agent_cmd=f"{sys.executable} {script}")
    wait_ended(forger, 60)
    assert forger.read().exit_code == 0, forger.log_path.read_text()
    entry = summarycache.entry_path(forger.id)  # the agent laid a link there (the supervisor's
    # own summary at the end may have replaced it already)

    first = _ls()
    row = next(line for line in first.splitlines() if forger.id in line)
    assert "0.99" not in row and "0.42" in row.split()
    assert not entry.is_symlink()  # replaced by a sealed entry of mletui's own
    sealed = json.loads(entry.read_bytes().rpartition(b'\n{"mac"')[0])
    assert sealed["summary"]["best"] == 0.42
    assert _ls() == first  # from the cache now, and the same
    name = hashlib.sha256(forger.id.encode()).hexdigest()[:32] + ".json"
    assert (forger.path / ".cache" / "summaries" / name).exists()  # never read, never removed
