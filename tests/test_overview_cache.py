"""The overview's per-second listing keeps an ended run's summary while the stat of what it is
made from stays the same, and reads it again on any change; the scan parses a ``run.json`` again
only when its stat changed, and hands out copies."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from mletui import protocol
from mletui.core.events import RunState, Score
from mletui.store import runs
from mletui.store.journal import Journal
from mletui.store.runs import RunFolder, create_run_folder, make_record, scan_runs
from mletui.watch import sources
from mletui.watch.livestate import RunSummary
from mletui.watch.sources import OwnRuns


def _ended() -> RunFolder:
    record = make_record("digits", "/tmp/digits", "cmd", ["true"], "local", 60.0)
    folder = create_run_folder(record)
    Journal(folder.journal_path).write(Score(0.0, 1, "accuracy", 0.5, "higher"))
    with folder.updating() as rec:
        rec.state = RunState.EXITED
        rec.started, rec.ended, rec.exit_code = rec.created, rec.created + 60, 0
    return folder


def _summaries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the runs summed up from their files from now on."""
    made: list[str] = []
    summarize = sources.summarize

    def counted(folder: RunFolder, record: runs.RunRecord | None = None) -> RunSummary:
        made.append(folder.id)
        return summarize(folder, record)

    monkeypatch.setattr(sources, "summarize", counted)
    return made


def _row(own: OwnRuns, run_id: str) -> RunSummary:
    listing = next(r for r in own.listings().runs if r.id == run_id)
    assert listing.summary is not None
    return listing.summary


def _hint(folder: RunFolder, hint_id: str) -> None:
    line = {"id": hint_id, "text": "try harder", "ts": time.time()}
    with open(folder.control / protocol.HINTS, "a") as f:
        f.write(json.dumps(line) + "\n")


def _folder_stat(folder: RunFolder) -> tuple[int, int]:
    info = os.stat(folder.control)
    return info.st_mtime_ns, info.st_ctime_ns


def test_an_ended_runs_summary_is_kept_while_its_files_stay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = _ended()
    own = OwnRuns()
    made = _summaries(monkeypatch)
    first = _row(own, folder.id)
    assert _row(own, folder.id) == first and _row(own, folder.id) == first
    assert made == [folder.id]


def test_a_grown_journal_is_summed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _ended()
    own = OwnRuns()
    made = _summaries(monkeypatch)
    assert _row(own, folder.id).best == 0.5
    Journal(folder.journal_path).write(Score(0.0, 2, "accuracy", 0.9, "higher"))
    assert _row(own, folder.id).best == 0.9
    assert made == [folder.id, folder.id]


def test_a_rewritten_run_json_is_summed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _ended()
    own = OwnRuns()
    made = _summaries(monkeypatch)
    assert _row(own, folder.id).status.state is RunState.EXITED
    with folder.updating() as rec:
        rec.state, rec.exit_code, rec.end_reason = RunState.KILLED, -9, "operator"
    row = _row(own, folder.id)
    assert (row.status.state, row.record.exit_code) == (RunState.KILLED, -9)
    assert made == [folder.id, folder.id]


def test_a_hint_file_added_then_appended_in_place_is_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = _ended()
    own = OwnRuns()
    assert _row(own, folder.id).hints_sent == 0
    _hint(folder, "h1")  # a new file: the control folder's stat changes too
    assert _row(own, folder.id).hints_sent == 1
    before = _folder_stat(folder)
    _hint(folder, "h2")  # appended in place: the folder's stat stays as it was
    assert _folder_stat(folder) == before
    assert _row(own, folder.id).hints_sent == 2


def test_an_ack_rewritten_in_place_with_its_mtime_set_back_is_read_again() -> None:
    folder = _ended()
    _hint(folder, "h1")
    acks = folder.control / protocol.ACKS
    acks.write_text(json.dumps({"kind": "hint", "id": "h1", "status": "received"}) + "\n")
    own = OwnRuns()
    assert _row(own, folder.id).hints_unacknowledged == 0
    acks.write_text(json.dumps({"kind": "hint", "id": "h0", "status": "received"}) + "\n")
    old = os.stat(acks)
    # The same size, written in place, its mtime set back: only its ctime tells.
    with open(acks, "r+") as f:
        f.write(json.dumps({"kind": "hint", "id": "h9", "status": "received"}) + "\n")
    os.utime(acks, ns=(old.st_atime_ns, old.st_mtime_ns))
    assert os.stat(acks).st_size == old.st_size and os.stat(acks).st_mtime_ns == old.st_mtime_ns
    assert _row(own, folder.id).hints_unacknowledged == 1


def test_a_live_runs_summary_is_made_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    record = make_record("digits", "/tmp/digits", "cmd", ["true"], "local", 60.0)
    folder = create_run_folder(record)
    with folder.updating() as rec:  # alive on another host, as its heartbeat says
        rec.state, rec.host, rec.heartbeat = RunState.RUNNING, "elsewhere", time.time()
        rec.started = rec.created
    assert rec.host != socket.gethostname()
    own = OwnRuns()
    made = _summaries(monkeypatch)
    assert _row(own, folder.id).status.state is RunState.RUNNING
    _row(own, folder.id)
    assert made == [folder.id, folder.id]


def _parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    parsed: list[Path] = []
    read = runs.read_run_json

    def counted(path: Path) -> runs.RunRecord:
        parsed.append(path)
        return read(path)

    monkeypatch.setattr(runs, "read_run_json", counted)
    return parsed


def test_the_scan_parses_a_run_json_again_only_when_it_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = _ended(), _ended()
    parsed = _parses(monkeypatch)
    runs._READ.clear()
    assert {f.id for f in scan_runs().folders} == {a.id, b.id}
    assert sorted(parsed) == sorted([a.path / "run.json", b.path / "run.json"])
    parsed.clear()
    scan_runs()
    assert parsed == []
    with a.updating() as rec:
        rec.exit_code = 4
    parsed.clear()  # updating read it itself
    assert scan_runs().records[a.id].exit_code == 4
    assert parsed == [a.path / "run.json"]


def test_the_scan_hands_out_copies() -> None:
    folder = _ended()
    scan_runs()
    record = scan_runs().records[folder.id]
    record.exit_code = 99
    record.state = RunState.RUNNING
    record.command.append("--evil")
    record.env["X"] = "1"
    record.runtime_options["nested"] = {"k": [1]}
    again = scan_runs().records[folder.id]
    assert (again.exit_code, again.state) == (0, RunState.EXITED)
    assert again.command == ["true"] and "X" not in again.env
    assert "nested" not in again.runtime_options


def test_a_removed_runs_kept_summary_and_record_are_dropped() -> None:
    keep, gone = _ended(), _ended()
    runs._READ.clear()
    own = OwnRuns()
    _row(own, gone.id)
    assert gone.path in own._ended and gone.path / "run.json" in runs._READ
    shutil.rmtree(gone.path)
    assert {r.id for r in own.listings().runs} == {keep.id}
    assert gone.path not in own._ended and gone.path / "run.json" not in runs._READ
    assert keep.path in own._ended
