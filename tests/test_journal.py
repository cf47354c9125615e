from __future__ import annotations

from pathlib import Path

from mletui.store.journal import Journal, JournalFollower, read_journal


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


def test_an_entry_written_by_a_writer_killed_before_its_anchor_still_chains(tmp_path: Path) -> None:
    # A writer SIGKILLed between its line and its anchor leaves a sealed entry the anchor does
    # not know: the next writer chains after it, so the crash never reads as tampering.
    from mletui.store import keys
    from mletui.store.audit import audit_journal
    from mletui.store.journal import read_anchor, sealed_line

    path = tmp_path / "run1" / "journal.jsonl"
    path.parent.mkdir()
    Journal(path).append("first")
    anchor = read_anchor("run1")
    assert anchor is not None
    orphan, _ = sealed_line({"ts": 1.0, "kind": "orphan", "prev": anchor.mac}, keys.journal_key())
    with path.open("ab") as f:
        f.write(orphan)
    Journal(path).append("after")
    report = audit_journal(path)
    assert report.breaks == []
    assert [e["kind"] for e in read_journal(path).entries] == ["first", "orphan", "after"]


def test_a_forged_line_is_not_chained_after(tmp_path: Path) -> None:
    # What the agent appends (no key) is not taken for a killed writer's entry: it stays the one
    # break, and the entries after it chain from the last real one.
    from mletui.store.audit import audit_journal

    path = tmp_path / "run1" / "journal.jsonl"
    path.parent.mkdir()
    Journal(path).append("first")
    with path.open("ab") as f:
        f.write(b'{"ts": 1.0, "kind": "score", "prev": "00", "mac": "' + b"0" * 64 + b'"}\n')
    Journal(path).append("after")
    Journal(path).append("later")
    report = audit_journal(path)
    assert [(b.line, b.what) for b in report.breaks] == [(2, "forged")]


def test_the_journal_is_never_written_through_a_link(tmp_path: Path) -> None:
    import pytest

    from mletui.core.safefs import NotARegularFile

    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched\n")
    path = tmp_path / "run1" / "journal.jsonl"
    path.parent.mkdir()
    path.symlink_to(victim)
    with pytest.raises(NotARegularFile):
        Journal(path).append("score", {"value": 1.0})
    assert victim.read_bytes() == b"untouched\n"
