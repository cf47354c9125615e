from __future__ import annotations

from pathlib import Path

from mletui.journal import Journal, JournalFollower, read_journal


def test_append_and_read(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append("state", {"state": "running"})
    journal.append("action", {"action": "pause"}, sync=True)
    read = read_journal(journal.path)
    assert [e["kind"] for e in read.entries] == ["state", "action"]
    assert read.skipped == 0
    assert all(isinstance(e["ts"], float) for e in read.entries)


def test_torn_last_line_is_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    Journal(path).append("state", {"state": "running"})
    with path.open("ab") as f:
        f.write(b'{"ts": 1.0, "kind": "act')  # a crash mid-write
    read = read_journal(path)
    assert [e["kind"] for e in read.entries] == ["state"]
    assert read.skipped == 1


def test_a_new_writer_seals_a_torn_line_so_nothing_after_it_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    Journal(path).append("state", {"state": "running"})
    with path.open("ab") as f:
        f.write(b'{"ts": 1.0, "kind": "act')
    Journal(path).append("action", {"action": "kill"}, sync=True)
    read = read_journal(path)
    assert [e["kind"] for e in read.entries] == ["state", "action"]
    assert read.skipped == 1


def test_follower_returns_each_complete_line_once(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    follower = JournalFollower(path)
    assert follower.read_new() == ([], 0)  # no file yet
    journal = Journal(path)
    journal.append("a")
    with path.open("ab") as f:
        f.write(b'{"ts": 2.0, "kind": "b"')
    entries, skipped = follower.read_new()
    assert [e["kind"] for e in entries] == ["a"] and skipped == 0
    with path.open("ab") as f:
        f.write(b"}\nnonsense\n")
    entries, skipped = follower.read_new()
    assert [e["kind"] for e in entries] == ["b"] and skipped == 1
    assert follower.read_new() == ([], 0)
