"""Search over a known spool: every way of finding a line agrees with cleaning and matching each
line, whatever the line holds; and reading the times an operator types."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from mletui.core.events import Stream
from mletui.store.log_search import (
    LogQuery,
    LogSearch,
    QueryError,
    _raw_search,
    parse_time_target,
)
from mletui.store.spool import LineIndex, LogHistory, LogSpool

T0 = 1_700_000_000.0

# Lines as an agent may print them; each query below is checked against every one.
TRICKY: list[bytes] = [
    b"epoch 1 loss 0.500 Accuracy 0.91",
    b"\x1b[1;31mERROR\x1b[0m: loss is nan",  # colours: shown as "ERROR: loss is nan"
    b"\x1b]0;title\x07epoch 2 loss 0.25",  # an OSC title before the text
    b"tab\tseparated\tloss",  # tabs: shown expanded
    b"progress 10%\rprogress 100% loss",  # a progress bar: shown as its last state
    b"caf\xc3\xa9 CAF\xc3\x89 na\xc3\xafve",  # non-ASCII text
    b"bad \xff\xfe bytes loss",  # invalid UTF-8
    b"lo\x1b[mss split by a colour code",  # "loss" once cleaned
    b"bell\x07ringing loss",  # a control character in the middle
    b"x" * 5_000 + b" loss far past the cut",  # a long line: matched whole
    b"0.5 o 1700000000 looks like a prefix",
    b"",
    b"the end: LOSS",
]

QUERIES: list[LogQuery] = [
    LogQuery("loss"),
    LogQuery("Loss"),  # a capital: case counts
    LogQuery("LOSS", case_sensitive=False),
    LogQuery("error: loss"),
    LogQuery("café"),
    LogQuery("CAFÉ", case_sensitive=False),
    LogQuery("\ufffd\ufffd"),
    LogQuery("o"),  # every record has " o " in its prefix: never a match by itself
    LogQuery("1700000000"),
    LogQuery(r"loss \d\.\d+", regex=True),
    LogQuery(r"^epoch \d", regex=True),  # anchored: runs on the texts without prefixes
    LogQuery(r"loss$", regex=True),
    LogQuery(r"(?<=ERROR): loss", regex=True),  # a lookbehind: every line checked
    LogQuery(r"n.ve", regex=True),
    LogQuery(r"caf[éÉ]", regex=True),  # not ASCII: every line checked
    LogQuery(r"bad \S+ bytes", regex=True),
    LogQuery(r"^$", regex=True),
    LogQuery(r"cut$", regex=True),
    LogQuery("ringing"),
    LogQuery(r"lo\s*ss split", regex=True),
]


@pytest.fixture(scope="module")
def spool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 lines: the tricky ones spread among plain numbered ones, and a malformed record."""
    path = tmp_path_factory.mktemp("search") / "output.log"
    with LogSpool(path) as spool:
        for n in range(1, 3_001):
            line = TRICKY[n % len(TRICKY)] if n % 7 == 0 else b"step %d" % n
            spool.write(Stream.STDERR if n % 5 == 0 else Stream.STDOUT, line, ts=T0 + n)
    with open(path, "ab") as f:
        f.write(b"garbage record without a loss prefix\n")
    return path


@pytest.fixture(scope="module")
def whole_texts(spool: Path) -> list[str]:
    """Every line of the spool as it is shown, whole (index 0: line 1)."""
    history = LogHistory(spool)
    history.poll()
    lines = [history.full_line(n) for n in range(1, history.line_count + 1)]
    return [line.text for line in lines if line is not None]


def brute_force(whole_texts: list[str], query: LogQuery) -> list[int]:
    """Every line cleaned and matched: the meaning of a match."""
    pattern = query.compile()
    return [n for n, text in enumerate(whole_texts, 1) if pattern.search(text)]


@pytest.mark.parametrize("query", QUERIES, ids=[q.describe() for q in QUERIES])
def test_search_agrees_with_cleaning_every_line(
    spool: Path, whole_texts: list[str], query: LogQuery
) -> None:
    index = LineIndex(spool)
    index.update()
    expected = brute_force(whole_texts, query)
    assert len(whole_texts) == index.line_count == 3_001
    for chunk_size in (4096, 1 << 20):  # lines cut across chunks, and one chunk
        search = LogSearch(index, query, chunk_size=chunk_size)
        assert [n for numbers, _ in search.scan() for n in numbers] == expected
        total = index.line_count
        for start in (1, 500, 1_234, total):
            after = [n for n in expected if n >= start]
            before = [n for n in expected if n <= start]
            assert search.find(start, 1) == (after[0] if after else None), start
            assert search.find(start, -1) == (before[-1] if before else None), start


def test_queries_take_the_fast_way_when_they_can() -> None:
    assert _raw_search(LogQuery("loss")) is not None
    assert _raw_search(LogQuery(r"loss \d+", regex=True)) is not None
    anchored = _raw_search(LogQuery(r"^epoch", regex=True))
    assert anchored is not None and anchored.strip
    assert _raw_search(LogQuery(r"[^x]+y", regex=True)) is not None  # ^ in a class is fine
    assert _raw_search(LogQuery(r"(?<=a)b", regex=True)) is None
    assert _raw_search(LogQuery(r"x(?!y)", regex=True)) is None
    assert _raw_search(LogQuery(r"\Aabc", regex=True)) is None
    assert _raw_search(LogQuery(r"caf[é]", regex=True)) is None


def test_smart_case_and_bad_queries() -> None:
    assert LogQuery("loss").ignore_case
    assert not LogQuery("Loss").ignore_case
    assert LogQuery(r"\S+loss", regex=True).ignore_case  # \S names a class, not a capital
    assert not LogQuery("loss", case_sensitive=True).ignore_case
    with pytest.raises(QueryError, match="Not a valid regular expression"):
        LogQuery("loss(", regex=True).compile()
    with pytest.raises(QueryError, match="Type something"):
        LogQuery("").compile()
    assert LogQuery("a.b").compile().search("axb") is None  # plain text is literal


def test_search_reports_progress_and_can_be_cancelled(spool: Path) -> None:
    index = LineIndex(spool)
    index.update()
    search = LogSearch(index, LogQuery("no such text anywhere"), chunk_size=4096)
    seen: list[float] = []
    assert search.find(index.line_count, -1, progress=seen.append) is None
    assert len(seen) > 5 and seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    calls = 0

    def cancel() -> bool:
        nonlocal calls
        calls += 1
        return calls > 2

    assert LogSearch(index, LogQuery("step 1"), chunk_size=4096).find(1, 1) == 1
    assert search.find(index.line_count, -1, cancelled=cancel) is None
    assert calls == 3


def test_scan_follows_a_growing_spool(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    index = LineIndex(path)
    with LogSpool(path) as spool:
        spool.write_many(Stream.STDOUT, [b"a loss", b"b", b"c loss"], ts=T0)
        index.update()
        search = LogSearch(index, LogQuery("loss"))
        found = list(search.scan())
        assert found == [([1, 3], 4)]
        spool.write_many(Stream.STDOUT, [b"d", b"e loss"], ts=T0)
    index.update()
    assert list(search.scan(found[-1][1])) == [([5], 6)]
    assert list(search.scan(6)) == []


LOCAL_NOON = dt.datetime(2026, 11, 30, 12, 0, 0).timestamp()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+1h20m", LOCAL_NOON - 7200 + 4800),
        ("+0:45:00", LOCAL_NOON - 7200 + 2700),
        ("+1:30", LOCAL_NOON - 7200 + 5400),
        ("+90s", LOCAL_NOON - 7200 + 90),
        ("+15", LOCAL_NOON - 7200 + 15),  # a bare number: seconds, as everywhere
        ("2h", LOCAL_NOON),
        ("-10m", LOCAL_NOON - 600),
        ("11:30", LOCAL_NOON - 1800),
        ("11:30:15", LOCAL_NOON - 1785),
        ("13:00", LOCAL_NOON + 3600 - 86400),  # later than the newest line: the day before
        ("2026-11-30 10:00", LOCAL_NOON - 7200),
        ("2026-11-30T10:00:30", LOCAL_NOON - 7170),
    ],
)
def test_time_targets(text: str, expected: float) -> None:
    got = parse_time_target(text, run_start=LOCAL_NOON - 7200, newest=LOCAL_NOON)
    assert got == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "soon", "+", "25:00", "12:61", "+1x", "2026-13-01 10:00"])
def test_bad_time_targets_say_what_to_type(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape("Give a wall-clock time")):
        parse_time_target(text, run_start=LOCAL_NOON, newest=LOCAL_NOON)


def test_a_run_clock_needs_a_start() -> None:
    with pytest.raises(ValueError, match="no start time"):
        parse_time_target("+1h", run_start=None, newest=LOCAL_NOON)
