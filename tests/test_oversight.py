"""The audit trail and the driver lock, on real runs and real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from mletui.cli import main
from mletui.core.events import ActionRecord
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store.audit import audit_journal
from mletui.store.driverlock import current_driver
from mletui.store.runs import RunFolder
from mletui.watch.control import ActionError, RunControl
from mletui.watch.live import WatchSession
from mletui.watch.livestate import summarize
from tests.conftest import wait_ended, wait_for


def protocol_agent() -> RunFolder:
    """A run whose agent says hello and idles, so soft pause and hints are available."""
    script = (
        "from mletui import protocol; import time; protocol.hello('idle');"
        "[(protocol.checkpoint(), time.sleep(0.1)) for _ in range(600)]"
    )
    folder = start_run(resolve_task("digits"), agent_cmd=f'{sys.executable} -c "{script}"')
    wait_for(lambda: (folder.control / "hello.json").exists(), 20, "hello")
    return folder


def test_operator_entries_are_chained_and_audited(capsys: pytest.CaptureFixture[str]) -> None:
    folder = protocol_agent()
    control = RunControl(folder, "alice")
    control.hint("try gradient boosting")
    control.pause()
    control.resume()
    control.kill(grace_s=1)
    report = audit_journal(folder.journal_path)
    assert report.intact
    assert [e["action"] for _, e in report.actions] == ["hint", "pause", "resume", "kill"]
    assert all(e["operator"] == "alice" for _, e in report.actions)
    assert all("run_wall_s" in e and "run_active_s" in e for _, e in report.actions)
    assert summarize(folder).assisted
    assert main(["audit", folder.id]) == 0
    out = capsys.readouterr().out
    assert "intact" in out and "assisted" in out and "try gradient boosting" in out
    main(["grade", folder.id, "--json"])  # no submission: an invalid grade, still marked
    (report,) = json.loads(capsys.readouterr().out)["competition_reports"]  # MLE-bench's summary
    assert report["assisted"] is True and report["valid_submission"] is False


def test_every_tampered_byte_of_an_operator_entry_is_found_at_that_entry() -> None:
    folder = protocol_agent()
    control = RunControl(folder, "alice")
    control.hint("first")
    control.hint("second")
    control.hint("third")
    control.kill(grace_s=1)
    wait_ended(folder)  # nothing appends while the journal is rewritten below
    original = folder.journal_path.read_bytes()
    lines = original.split(b"\n")
    target = next(i for i, line in enumerate(lines) if b'"second"' in line and b'"action"' in line)
    start = sum(len(line) + 1 for line in lines[:target])
    for offset in range(len(lines[target])):
        data = bytearray(original)
        data[start + offset] ^= 0x01
        folder.journal_path.write_bytes(bytes(data))
        report = audit_journal(folder.journal_path)
        assert not report.intact, f"byte {offset} changed unnoticed"
        assert report.breaks[0].line == target + 1, (offset, report.breaks)
    folder.journal_path.write_bytes(original)
    assert audit_journal(folder.journal_path).intact


def test_removed_and_cut_off_entries_are_found() -> None:
    folder = protocol_agent()
    control = RunControl(folder, "alice")
    for text in ("one", "two", "three"):
        control.hint(text)
    control.kill(grace_s=1)
    wait_ended(folder)
    original = folder.journal_path.read_text()
    lines = original.splitlines(keepends=True)
    two = next(i for i, line in enumerate(lines) if '"two"' in line and '"action"' in line)
    folder.journal_path.write_text("".join(lines[:two] + lines[two + 1 :]))
    report = audit_journal(folder.journal_path)
    assert [(b.line, b.what) for b in report.breaks] == [(two + 1, "removed")]
    three = next(i for i, line in enumerate(lines) if '"three"' in line and '"action"' in line)
    folder.journal_path.write_text("".join(lines[:three]))
    report = audit_journal(folder.journal_path)
    assert [(b.line, b.what) for b in report.breaks] == [(0, "tail cut")]
    assert f"entries after line {three} were removed" in report.breaks[0].problem
    assert main(["audit", folder.id]) == 1


DRIVER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from mletui.watch.live import WatchSession
    from mletui.store.runs import RunFolder
    from pathlib import Path
    session = WatchSession(RunFolder(Path(sys.argv[1])), "bob")
    assert session.take_driver() is None
    session.control.pause()
    print("driving", flush=True)
    while True:
        session.poll()
        time.sleep(0.1)
    """
)


def test_one_driver_many_watchers_and_takeover_after_the_driver_dies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("mletui.store.driverlock.STALE_S", 2.0)
    folder = protocol_agent()
    watcher = WatchSession(folder, "carol")
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER_SCRIPT, str(folder.path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "MLETUI_DRIVER_STALE_S": "2"},
    )
    try:
        assert driver.stdout is not None and driver.stdout.readline().strip() == "driving"
        holder = current_driver(folder)
        assert holder is not None and holder.operator == "bob"
        with pytest.raises(ActionError, match=r"bob .* drives it"):
            watcher.control.hint("from a watcher")
        with pytest.raises(ActionError, match="drives it"):
            RunControl(folder, "dave").resume()  # a one-shot command is refused too
        seen = [e for e in watcher.poll() if isinstance(e, ActionRecord)]
        assert [(a.action, a.operator) for a in seen] == [("drive", "bob"), ("pause", "bob")]
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    wait_for(lambda: current_driver(folder) is None, 10, "the dead driver's lock to go stale")
    watcher.control.resume()  # takes over
    assert current_driver(folder) is not None
    entries = [json.loads(line) for line in folder.journal_path.read_text().splitlines()]
    actions = [(e["action"], e["operator"]) for e in entries if e.get("kind") == "action"]
    assert actions[-2:] == [("take-driver", "carol"), ("resume", "carol")]
    watcher.close()
    assert current_driver(folder) is None
    assert audit_journal(folder.journal_path).intact
