from __future__ import annotations

import pytest

from mletui.core.clock import parse_duration
from mletui.store.runs import RunLookupError, create_run_folder, make_record, resolve_run


def _run(run_id: str) -> None:
    record = make_record("digits", "/tmp/digits", "baseline", ["true"], "local", None)
    record.id = run_id
    create_run_folder(record)


def test_run_folder_layout_and_round_trip() -> None:
    record = make_record("digits", "/tmp/digits", "baseline", ["true"], "local", 60.0)
    folder = create_run_folder(record)
    for sub in ("logs", "workspace", "snapshots", "submission", "control"):
        assert (folder.path / sub).is_dir()
    assert folder.read() == record
    with folder.updating() as rec:
        rec.state = "running"
    assert folder.read().state == "running"


def test_prefixes_resolve_like_git() -> None:
    _run("abc12345")
    _run("abd99999")
    _run("ff000000")
    assert resolve_run("abc").id == "abc12345"
    assert resolve_run("ff000000").id == "ff000000"
    with pytest.raises(RunLookupError, match="matches 2 runs: abc12345, abd99999"):
        resolve_run("ab")
    with pytest.raises(RunLookupError, match="Closest: abc12345"):
        resolve_run("abc12346")
    with pytest.raises(RunLookupError, match="No run 'zzz'"):
        resolve_run("zzz")


def test_no_runs_yet_says_how_to_start_one() -> None:
    with pytest.raises(RunLookupError, match="mletui demo"):
        resolve_run("abc")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1h30m", 5400), ("1.5h", 5400)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "m5", "5m3"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
