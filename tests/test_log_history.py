"""The log pane's model on real files: checkpoints, history reads, time lookup, floods."""

from __future__ import annotations

import itertools
import struct
from pathlib import Path

import pytest

from mletui.core.events import LogLine, Stream
from mletui.core.sanitize import MAX_DISPLAY_CHARS
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store.spool import (
    CHECKPOINT_BYTES,
    LineIndex,
    LogFollower,
    LogHistory,
    LogSpool,
    checkpoint_path,
)
from tests.conftest import wait_ended

T0 = 1_700_000_000.0


def numbered(path: Path, first: int, count: int, *, per_write: int = 997) -> None:
    """Lines ``n first`` .. stamped T0 + n, written in blocks of ``per_write``."""
    with LogSpool(path) as spool:
        for start in range(first, first + count, per_write):
            stop = min(start + per_write, first + count)
            for n in range(start, stop):  # one stamp per write, as a pipe chunk has
                spool.write_many(Stream.STDOUT, [b"n %d" % n], ts=T0 + n)


def texts(lines: list[LogLine]) -> list[str]:
    return [line.text for line in lines]


@pytest.fixture(scope="module")
def spool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("history") / "output.log"
    with LogSpool(path) as spool:
        for start in range(1, 300_001, 10_000):
            block = b"".join(b"n %d\n" % n for n in range(start, start + 10_000))
            spool.write_block(Stream.STDOUT, block, ts=T0 + start)
    return path


def test_the_writer_leaves_checkpoints_the_reader_trusts(spool: Path) -> None:
    entries = checkpoint_path(spool).read_bytes()
    assert len(entries) % 16 == 0 and len(entries) // 16 > 20
    pairs = [struct.unpack_from("<QQ", entries, i) for i in range(0, len(entries), 16)]
    counted = LineIndex(spool, use_checkpoint_file=False)
    counted.update()
    for lines_before, offset in pairs[::7]:
        assert counted.lines_before(offset) == lines_before
    assert all(b - a >= CHECKPOINT_BYTES for (_, a), (_, b) in itertools.pairwise(pairs))

    loaded = LineIndex(spool)
    assert loaded.update(max_bytes=1) is True  # the checkpoints cover nearly all of it
    assert loaded.line_count == counted.line_count == 300_000
    for start in (1, 2, 65_537, 123_456, 299_999):
        assert loaded.read(start, 3) == counted.read(start, 3)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-5],  # torn last entry
        lambda data: data + struct.pack("<QQ", 10**9, 10**12),  # past the end of the spool
        lambda data: data[:32] + struct.pack("<QQ", 5, 3) + data[48:],  # lines > offset
        lambda data: data[:16] + struct.pack("<QQ", 999, 12_345) + data[32:],  # not a line start
        lambda data: b"\xff" * 40,  # garbage
    ],
)
def test_damaged_checkpoints_never_misnumber(tmp_path: Path, damage: object) -> None:
    path = tmp_path / "output.log"
    numbered(path, 1, 20_000)
    index_file = checkpoint_path(path)
    index_file.write_bytes(damage(index_file.read_bytes()))  # type: ignore[operator]
    index = LineIndex(path)
    index.update()
    assert index.line_count == 20_000
    assert texts(index.read(1, 2)) == ["n 1", "n 2"]
    assert texts(index.read(12_345, 2)) == ["n 12345", "n 12346"]
    assert texts(index.read(19_999, 5)) == ["n 19999", "n 20000"]


def test_a_restarted_writer_numbers_on(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    numbered(path, 1, 5_000)
    with open(path, "ab") as f:
        f.write(b"1700000000.000000 o torn by a cra")  # the writer died mid-record
    checkpoint_path(path).write_bytes(b"junk")
    with LogSpool(path) as spool:
        assert spool.line_count == 5_001
        spool.write_many(Stream.STDERR, [b"after", b"restart"], ts=T0)
    history = LogHistory(path)
    lines = history.poll()
    assert [line.number for line in lines[-3:]] == [5_001, 5_002, 5_003]
    assert texts(lines[-3:]) == ["torn by a cra", "after", "restart"]
    assert LineIndex(path).checkpoints() == []  # nothing loaded before an update
    index = LineIndex(path)
    index.update()
    assert index.read(5_002, 1)[0].stream is Stream.STDERR


def test_write_many_is_one_record_per_line(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    with LogSpool(path) as spool:
        spool.write_many(Stream.STDOUT, [b"a", b"", b"c\r"], ts=1.5)
        spool.write_many(Stream.SYSTEM, (x for x in [b"two\nlines", b"z"]), ts=2.0)
        assert spool.write_block(Stream.STDERR, b"b1\nb2\n", ts=3.0) == 2
        assert spool.write_block(Stream.STDERR, b"unterminated", ts=3.0) == 1
    assert path.read_bytes() == (
        b"1.500000 o a\n1.500000 o \n1.500000 o c\r\n"
        b"2.000000 s two\n2.000000 s lines\n2.000000 s z\n"
        b"3.000000 e b1\n3.000000 e b2\n3.000000 e unterminated\n"
    )


def test_history_hands_over_the_newest_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    history = LogHistory(path, tail_lines=100)
    assert history.poll() == [] and history.line_count == 0  # no spool yet
    numbered(path, 1, 5_000)
    lines = history.poll()
    assert [line.number for line in lines] == list(range(4_901, 5_001))
    assert history.poll() == []
    numbered(path, 5_001, 3)
    assert texts(history.poll()) == ["n 5001", "n 5002", "n 5003"]
    # Everything before stays in the spool and is read back when shown.
    assert texts(history.read(1, 2)) == ["n 1", "n 2"]
    assert history.line(4_000) == LogLine(T0 + 4_000, Stream.STDOUT, "n 4000", 4_000)
    assert history.read(5_003, 10) == [history.line(5_003)]
    assert history.read(9_999, 1) == []


def test_a_flood_hands_over_fewer_lines(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    history = LogHistory(path, tail_lines=100, flood_lines=16)
    numbered(path, 1, 100)
    assert [line.number for line in history.poll()] == list(range(1, 101))  # all: not a flood
    numbered(path, 101, 5_000)
    assert [line.number for line in history.poll()] == list(range(5_085, 5_101))
    assert texts(history.read(101, 1)) == ["n 101"]  # the rest is in the spool


def test_history_numbers_nothing_until_it_has_counted_to_the_end(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    numbered(path, 1, 40_000)
    checkpoint_path(path).unlink()  # a spool written before checkpoints: count it all
    history = LogHistory(path, index=LineIndex(path, chunk_size=16 * 1024))
    polls = 0
    while not (lines := history.poll(max_bytes=64 * 1024)):
        polls += 1
        assert 0 < history.progress() < 1
    assert polls > 3 and history.loaded and history.progress() == 1.0
    assert lines[-1] == LogLine(T0 + 40_000, Stream.STDOUT, "n 40000", 40_000)


def test_a_cut_line_opens_whole(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    big = b"x" * 1_048_576 + b" END"
    with LogSpool(path) as spool:
        spool.write(Stream.STDOUT, b"before", ts=T0)
        spool.write(Stream.STDOUT, big, ts=T0 + 1)
        spool.write(Stream.STDOUT, b"\x1b[31mred\x1b[0m\t\xff", ts=T0 + 2)
    history = LogHistory(path)
    history.poll()
    shown = history.line(2)
    assert shown is not None and len(shown.text) < MAX_DISPLAY_CHARS + 40
    assert shown.text.endswith("[cut: 1,048,580 bytes]")
    whole = history.full_line(2)
    assert whole is not None
    assert whole.text == big.decode() and whole.raw_bytes == len(big)
    assert whole.line == shown
    third = history.full_line(3)
    assert third is not None and third.text == "red     \ufffd"
    assert history.full_line(4) is None


def test_time_lookup(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    numbered(path, 1, 50_000, per_write=1)
    history = LogHistory(path)
    history.poll()
    assert history.number_at_time(0) == 1
    assert history.number_at_time(T0 + 1) == 1
    assert history.number_at_time(T0 + 12_345) == 12_345
    assert history.number_at_time(T0 + 12_345.5) == 12_346
    assert history.number_at_time(T0 + 10**6) == 50_000
    assert LogHistory(tmp_path / "none.log").number_at_time(T0) == 0


def test_nothing_is_lost_in_a_flood(tmp_path: Path) -> None:
    """A real run prints N numbered lines as fast as it can; the spool holds exactly 1..N."""
    n = 300_000
    folder = start_run(resolve_task("digits"), agent_cmd=f"seq 1 {n}; seq 1 5 >&2")
    wait_ended(folder, 120)
    history = LogHistory(folder.log_path)
    history.poll()
    lines = history.read(1, history.line_count)
    out = [line.text for line in lines if line.stream is Stream.STDOUT]
    err = [line.text for line in lines if line.stream is Stream.STDERR]
    assert out == [str(i) for i in range(1, n + 1)]
    assert err == [str(i) for i in range(1, 6)]
    assert [line.number for line in lines] == list(range(1, len(lines) + 1))
    # The writer's checkpoints number the lines as a full count does.
    counted = LineIndex(folder.log_path, use_checkpoint_file=False)
    counted.update()
    assert counted.line_count == history.line_count
    for lines_before, offset in LineIndex(folder.log_path).checkpoints()[::50]:
        assert counted.lines_before(offset) == lines_before
    followed = LogFollower(folder.log_path).read_new(n + 100)
    assert [line.text for line in followed if line.stream is Stream.STDOUT] == out
