"""The summary cache and the id index: an ended run's journal is summed up once and kept outside
its folder, believed only while the files it was made from are unchanged; a live run's journal
is read a part at a time; an id resolves from the runs folder's listing."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mletui.cli import lookup
from mletui.cli.command import UserError
from mletui.core.events import ActionRecord, ResourceSample, RunState, Score
from mletui.store import summarycache
from mletui.store.journal import Journal
from mletui.store.runs import RunFolder, create_run_folder, make_record, resolve_run, runs_root
from mletui.watch import livestate
from mletui.watch.livestate import summarize


def _ended(run_id: str | None = None, scores: tuple[float, ...] = (0.5, 0.7, 0.6)) -> RunFolder:
    record = make_record("digits", "/tmp/digits", "cmd", ["true"], "local", 60.0)
    if run_id is not None:
        record.id = run_id
    folder = create_run_folder(record)
    journal = Journal(folder.journal_path)
    for step, value in enumerate(scores):
        journal.write(Score(0.0, step, "accuracy", value, "higher"))
        journal.write(ResourceSample(0.0, 50.0, 1 << 30, 3, ""))
    journal.write(ActionRecord(0.0, "hint", "alice", "be quick"))
    with folder.updating() as rec:
        rec.state = RunState.EXITED
        rec.started, rec.ended, rec.exit_code = rec.created, rec.created + 60, 0
    return folder


def _journal_read(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The journals summed up from the journal itself (not the cache) from now on, each call as
    a new process makes it (nothing remembered in memory)."""
    read: list[Path] = []
    follow = livestate._follow

    def counted(folder: RunFolder) -> livestate.JournalTally:
        read.append(folder.journal_path)
        return follow(folder)

    def summed(folder: RunFolder, ended: bool) -> livestate.JournalTally:
        livestate._ENDED.clear()
        livestate._FOLLOWED.clear()
        return tally_of(folder, ended)

    tally_of = livestate._tally_of
    monkeypatch.setattr(livestate, "_tally_of", summed)

    monkeypatch.setattr(livestate, "_follow", counted)
    return read


def test_an_ended_runs_summary_is_read_once_then_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _ended()
    read = _journal_read(monkeypatch)
    first = summarize(folder)
    assert read == [folder.journal_path]
    assert summarycache.entry_path(folder.id).is_file()
    assert not any(p.name == ".cache" for p in folder.path.iterdir())
    again = summarize(folder)
    assert read == [folder.journal_path]  # the second from the cache
    assert again == first
    assert (again.best, again.steps, again.actions) == (0.7, 3, {"hint": 1})


def test_an_appended_journal_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _ended()
    summarize(folder)
    read = _journal_read(monkeypatch)
    Journal(folder.journal_path).write(Score(0.0, 9, "accuracy", 0.9, "higher"))
    summary = summarize(folder)
    assert read == [folder.journal_path]
    assert (summary.best, summary.steps) == (0.9, 4)
    assert summarize(folder) == summary and len(read) == 1


def test_a_rewritten_run_json_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _ended()
    summarize(folder)
    read = _journal_read(monkeypatch)
    with folder.updating() as rec:
        rec.exit_code = 3
    summary = summarize(folder)
    assert read == [folder.journal_path]
    assert summary.record.exit_code == 3 and summary.best == 0.7


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"{not json",
        b'{"version": 1}\n{"mac": "' + b"0" * 64 + b'"}\n',
        b"\xff\xfe" * 100,
    ],
)
def test_a_corrupt_or_forged_entry_is_recomputed(
    damage: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _ended()
    first = summarize(folder)
    summarycache.entry_path(folder.id).write_bytes(damage)
    read = _journal_read(monkeypatch)
    assert summarize(folder) == first
    assert read == [folder.journal_path]
    assert summarycache.load(folder, summarycache.stamp(folder) or ()) is not None  # rewritten


def test_an_entry_changed_by_hand_is_not_believed(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _ended()
    first = summarize(folder)
    path = summarycache.entry_path(folder.id)
    path.write_bytes(path.read_bytes().replace(b'"best": 0.7', b'"best": 0.99'))
    read = _journal_read(monkeypatch)
    assert summarize(folder).best == first.best == 0.7
    assert read == [folder.journal_path]


def test_another_runs_entry_is_not_this_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    good = _ended(scores=(0.99,))
    other = _ended(scores=(0.1,))
    summarize(good)
    summarize(other)
    shutil.copy(summarycache.entry_path(good.id), summarycache.entry_path(other.id))
    read = _journal_read(monkeypatch)
    assert summarize(other).best == 0.1
    assert read == [other.journal_path]


def test_a_process_reads_an_ended_runs_entry_once(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _ended()
    summarize(folder)
    livestate._ENDED.clear()
    loaded: list[str] = []
    load = summarycache.load

    def counted(folder: RunFolder, now: summarycache.Stamp) -> dict[str, Any] | None:
        loaded.append(folder.id)
        return load(folder, now)

    monkeypatch.setattr(summarycache, "load", counted)
    first = summarize(folder)
    assert summarize(folder) == first and loaded == [folder.id]  # the overview asks every second
    Journal(folder.journal_path).write(Score(0.0, 9, "accuracy", 0.95, "higher"))
    assert summarize(folder).best == 0.95


def test_a_run_folder_replaced_by_another_of_that_name_is_read_again() -> None:
    folder = _ended("aa000001", scores=(0.3,))
    assert summarize(folder).best == 0.3
    shutil.rmtree(folder.path)
    replaced = _ended("aa000001", scores=(0.8,))
    assert summarize(replaced).best == 0.8


def test_a_live_journal_is_read_a_part_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    record = make_record("digits", "/tmp/digits", "cmd", ["true"], "local", 60.0)
    folder = create_run_folder(record)
    journal = Journal(folder.journal_path)
    journal.write(Score(0.0, 0, "loss", 0.5, "lower"))
    added: list[int] = []
    add = livestate.JournalTally.add

    def counted(self: livestate.JournalTally, entries: list[dict[str, Any]]) -> None:
        added.append(len(entries))
        add(self, entries)

    monkeypatch.setattr(livestate.JournalTally, "add", counted)
    assert livestate._journal_tally(folder, ended=False).best == 0.5
    journal.write(Score(0.0, 1, "loss", 0.2, "lower"))
    tally = livestate._journal_tally(folder, ended=False)
    assert (tally.best, tally.steps) == (0.2, 2)
    assert added == [1, 1]  # the second call decoded the new entry only
    with folder.journal_path.open("ab") as f:
        f.write(b'{"kind": "score", "ts": 0')  # a line still being written: counted as torn
    assert livestate._journal_tally(folder, ended=False).skipped == 1
    with folder.journal_path.open("ab") as f:
        f.write(b', "step": 2, "name": "loss", "value": 0.1, "direction": "lower"}\n')
    tally = livestate._journal_tally(folder, ended=False)
    assert (tally.best, tally.steps, tally.skipped) == (0.1, 3, 0)
    folder.journal_path.unlink()  # a new journal in its place is read from its start
    Journal(folder.journal_path).write(Score(0.0, 0, "loss", 0.4, "lower"))
    assert livestate._journal_tally(folder, ended=False).steps == 1


def _mletui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mletui", *args], capture_output=True, text=True, timeout=120
    )


def test_ls_is_the_same_with_and_without_the_cache() -> None:
    for n in range(3):
        _ended(scores=(0.1 * n, 0.2))
    cold = _mletui("ls")
    assert cold.returncode == 0, cold.stderr
    assert len(list(summarycache.cache_dir().iterdir())) == 3
    warm = _mletui("ls")
    assert warm.stdout == cold.stdout
    assert _mletui("ls", "--json").stdout == _mletui("ls", "--json").stdout
    shutil.rmtree(summarycache.cache_dir())
    assert _mletui("ls").stdout == cold.stdout


def test_the_piped_table_is_laid_out_as_rich_would() -> None:
    from rich.console import Console
    from rich.table import Table

    from mletui.cli.runs import _print_table
    from mletui.core.sanitize import plain_cells

    header = ("ID", "TASK", "BEST")
    rows = [("abcd1234", "数字 digits", "0.5"), ("ef", "[red]x", "-"), ("0123456789ab", "", "")]
    console = Console(highlight=False, width=10_000, record=True, file=io.StringIO())
    table = Table(box=None, header_style="bold")
    table.add_column("ID", no_wrap=True, min_width=12)
    for col in header[1:]:
        table.add_column(col, overflow="ellipsis")
    for row in rows:
        table.add_row(*plain_cells(row))
    console.print(table)
    expected = console.export_text()

    class Piped:
        is_terminal = False

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _print_table(header, rows, Piped())
    assert out.getvalue() == expected


def test_a_prefix_resolves_beside_broken_folders(capsys: pytest.CaptureFixture[str]) -> None:
    good = _ended("ab123456")
    root = runs_root()
    (root / "ab-cut").mkdir()
    (root / "ab-cut" / "run.json").write_text('{"id": "ab-cut", "ta')
    (root / "abstray").write_text("not a run")
    lookup._SKIPS_SAID.clear()
    assert lookup.resolve("ab").id == good.id  # a prefix never matches a broken folder
    assert resolve_run("ab1").id == good.id
    err = capsys.readouterr().err
    assert f"skipped {root}/ab-cut: run.json is cut short or not JSON" in err
    assert f"skipped {root}/abstray: it is a file, not a run folder" in err
    lookup._SKIPS_SAID.clear()
    assert lookup.resolve(good.id).id == good.id  # the fast path names them too, from the index
    err = capsys.readouterr().err
    assert "ab-cut: run.json is cut short" in err and "abstray: it is a file" in err
    with pytest.raises(UserError, match=r"ab-cut is not usable: run\.json is cut short"):
        lookup.resolve("ab-cut")
    (root / "ab-cut" / "run.json").write_text(json.dumps({**good.read().to_json(), "id": "x"}))
    lookup._SKIPS_SAID.clear()
    lookup.resolve(good.id)  # the verdict follows the run.json's change
    assert "ab-cut: its run.json is the record of run 'x'" in capsys.readouterr().err
