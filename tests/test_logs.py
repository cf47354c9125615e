"""The log spool on real files: splitter, writer, follower, index, scroll-back."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mletui.core.ansi import Sgr
from mletui.core.events import LogLine, Stream
from mletui.store.spool import (
    MALFORMED_PREFIX,
    LineBlock,
    LineIndex,
    LineSplitter,
    LogFollower,
    LogSpool,
    read_lines,
    spool_path,
)

SAMPLE = b"alpha\nbeta\r\n\ngamma \xe2\x82\xac\n\x1b[31mred\x1b[0m\nlast"
SAMPLE_LINES = [b"alpha", b"beta\r", b"", b"gamma \xe2\x82\xac", b"\x1b[31mred\x1b[0m"]


def _split(chunks: list[bytes], splitter: LineSplitter | None = None) -> list[bytes]:
    splitter = splitter or LineSplitter()
    out: list[bytes] = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
    return out + splitter.flush()


# ------------------------------------------------------------------------------------ splitter


def test_splitter_one_chunk() -> None:
    assert _split([SAMPLE]) == [*SAMPLE_LINES, b"last"]


def test_splitter_every_boundary() -> None:
    for i in range(len(SAMPLE) + 1):
        assert _split([SAMPLE[:i], SAMPLE[i:]]) == [*SAMPLE_LINES, b"last"], i
        for j in range(i, len(SAMPLE) + 1):
            chunks = [SAMPLE[:i], SAMPLE[i:j], SAMPLE[j:]]
            assert _split(chunks) == [*SAMPLE_LINES, b"last"], (i, j)


def test_splitter_byte_by_byte() -> None:
    assert _split([SAMPLE[i : i + 1] for i in range(len(SAMPLE))]) == [*SAMPLE_LINES, b"last"]


def test_splitter_flush_without_remainder() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"a\nb\n") == [b"a", b"b"]
    assert splitter.pending_bytes == 0
    assert splitter.flush() == []


def test_splitter_caps_a_long_line() -> None:
    splitter = LineSplitter(max_line_bytes=10)
    assert splitter.feed(b"x" * 25 + b"\nok\n") == [b"x" * 10, b"x" * 10, b"x" * 5, b"ok"]
    # Unterminated: full pieces leave as they fill, the rest waits for more.
    assert splitter.feed(b"y" * 7) == []
    assert splitter.feed(b"y" * 7) == [b"y" * 10]
    assert splitter.pending_bytes == 4
    assert splitter.feed(b"\n") == [b"y" * 4]
    # Exactly the cap: no empty piece when the newline comes next.
    assert splitter.feed(b"z" * 10) == []
    assert splitter.feed(b"\n") == [b"z" * 10]


def test_splitter_cap_keeps_utf8_characters_whole() -> None:
    euro = "€".encode()  # 3 bytes
    lines = _split([euro * 7 + b"\n"], LineSplitter(max_line_bytes=10))
    assert lines == [euro * 3, euro * 3, euro]
    assert all(line.decode() for line in lines)


def test_splitter_cap_chunk_by_chunk() -> None:
    splitter = LineSplitter(max_line_bytes=16)
    data = bytes(range(48, 58)) * 10 + b"\n"
    out = _split([data[i : i + 3] for i in range(0, len(data), 3)], splitter)
    assert b"".join(out) == data[:-1]
    assert all(len(piece) <= 16 for piece in out)


# ------------------------------------------------------------------------------------ round trip


def _texts(lines: list[LogLine]) -> list[str]:
    return [line.text for line in lines]


def test_spool_round_trip_with_half_written_line(tmp_path: Path) -> None:
    path = spool_path(tmp_path)
    follower = LogFollower(path)
    assert follower.read_new() == []  # the file does not exist yet

    n = 5_000
    got: list[LogLine] = []
    with LogSpool(path) as spool:
        for i in range(1, n + 1):
            stream = Stream.STDERR if i % 7 == 0 else Stream.STDOUT
            spool.write(stream, b"line %d" % i, ts=1_700_000_000.0 + i / 1000)
            if i % 997 == 0:
                spool.flush()
                got.extend(follower.read_new())
    got.extend(follower.read_new())
    got.extend(follower.read_new(max_lines=100))
    while batch := follower.read_new(max_lines=123):
        got.extend(batch)

    assert [line.number for line in got] == list(range(1, n + 1))
    assert _texts(got) == [f"line {i}" for i in range(1, n + 1)]
    assert got[6].stream is Stream.STDERR and got[7].stream is Stream.STDOUT
    assert got[0].ts == pytest.approx(1_700_000_000.001)

    # A record being written: not a line until its newline lands.
    with open(path, "ab") as f:
        f.write(b"1700000100.000000 o half")
    assert follower.read_new() == []
    with open(path, "ab") as f:
        f.write(b" written")
    assert follower.read_new() == []
    with open(path, "ab") as f:
        f.write(b" done\n1700000101.500000 e next\n")
    tail = follower.read_new()
    assert tail == [
        LogLine(1_700_000_100.0, Stream.STDOUT, "half written done", n + 1),
        LogLine(1_700_000_101.5, Stream.STDERR, "next", n + 2),
    ]
    assert follower.offset == path.stat().st_size
    follower.close()


def test_spool_keeps_raw_bytes_and_cleans_on_read(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "output.log"
    raw = [b"\x1b]0;title\x07\x1b[32mok\x1b[0m", b"caf\xe9", b"", b"a\tb\r", b"[bold]x[/]"]
    with LogSpool(path) as spool:
        spool.write_many(Stream.STDOUT, raw, ts=12.5)
        spool.write(Stream.SYSTEM, b"supervisor: agent started", ts=13.0)
    assert path.read_bytes() == b"".join(b"12.500000 o " + r + b"\n" for r in raw) + (
        b"13.000000 s supervisor: agent started\n"
    )
    lines = LogFollower(path).read_new()
    assert lines == [
        LogLine(12.5, Stream.STDOUT, "ok", 1, ((0, 2, Sgr(fg=2)),)),  # the colour kept as a style
        LogLine(12.5, Stream.STDOUT, "caf\ufffd", 2),
        LogLine(12.5, Stream.STDOUT, "", 3),
        LogLine(12.5, Stream.STDOUT, "a       b", 4),
        LogLine(12.5, Stream.STDOUT, "[bold]x[/]", 5),
        LogLine(13.0, Stream.SYSTEM, "supervisor: agent started", 6),
    ]


def test_spool_splits_embedded_newlines(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    with LogSpool(path) as spool:
        spool.write(Stream.SYSTEM, b"first\nsecond\n", ts=1.0)
    assert path.read_bytes() == b"1.000000 s first\n1.000000 s second\n"


def test_spool_ends_a_torn_record_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    path.write_bytes(b"1.000000 o complete\n2.000000 o torn by a cra")
    with LogSpool(path) as spool:
        spool.write(Stream.STDOUT, b"after restart", ts=3.0)
    lines = LogFollower(path).read_new()
    assert _texts(lines) == ["complete", "torn by a cra", "after restart"]
    assert [line.number for line in lines] == [1, 2, 3]


def test_spool_shared_by_threads(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    spool = LogSpool(path, buffer_size=64)

    def pump(stream: Stream) -> None:
        for i in range(2_000):
            spool.write(stream, b"%s %d" % (stream.value.encode(), i))

    threads = [threading.Thread(target=pump, args=(s,)) for s in (Stream.STDOUT, Stream.STDERR)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spool.close()
    lines = LogFollower(path).read_new(max_lines=10_000)
    assert len(lines) == 4_000
    for stream in (Stream.STDOUT, Stream.STDERR):
        mine = [line.text for line in lines if line.stream is stream]
        assert mine == [f"{stream.value} {i}" for i in range(2_000)]


# ------------------------------------------------------------------------------------ malformed


def test_malformed_record_is_a_system_line(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    path.write_bytes(
        b"garbage without prefix \x1b[2J\n"
        b"5.000000 o good\n"
        b"nan o not a time\n"
        b"6.000000 x bad stream\n"
        b"7.000000 ojoined\n"
        b"8.000000 e\n"
        b"9.000000 o last\n"
    )
    lines = LogFollower(path).read_new()
    assert lines == [
        LogLine(5.0, Stream.SYSTEM, MALFORMED_PREFIX + "garbage without prefix ", 1),
        LogLine(5.0, Stream.STDOUT, "good", 2),
        LogLine(5.0, Stream.SYSTEM, MALFORMED_PREFIX + "nan o not a time", 3),
        LogLine(5.0, Stream.SYSTEM, MALFORMED_PREFIX + "6.000000 x bad stream", 4),
        LogLine(5.0, Stream.SYSTEM, MALFORMED_PREFIX + "7.000000 ojoined", 5),
        LogLine(8.0, Stream.STDERR, "", 6),
        LogLine(9.0, Stream.STDOUT, "last", 7),
    ]
    assert read_lines(path, 3, 2) == lines[2:4]


# ------------------------------------------------------------------------------ tail and index


def _write_numbered(path: Path, n: int) -> None:
    with LogSpool(path, buffer_size=1 << 20) as spool:
        for i in range(1, n + 1):
            spool.write(Stream.STDOUT, b"line %d %s" % (i, b"." * (i % 50)), ts=float(i))


def _expected(i: int) -> str:
    return f"line {i} " + "." * (i % 50)


@pytest.fixture(scope="module")
def big_spool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "output.log"
    _write_numbered(path, 200_000)
    return path


def test_tail_start_on_large_file(big_spool: Path) -> None:
    follower = LogFollower(big_spool)
    follower.start_at_tail(10)
    lines = follower.read_new()
    assert [line.number for line in lines] == list(range(199_991, 200_001))
    assert _texts(lines) == [_expected(i) for i in range(199_991, 200_001)]
    assert lines[0].ts == 199_991.0
    assert follower.read_new() == []
    # The index that numbered the tail now serves scroll-back with no further counting.
    assert follower.index.line_count == 200_000
    assert _texts(read_lines(big_spool, 1_000, 3, index=follower.index)) == [
        _expected(i) for i in (1_000, 1_001, 1_002)
    ]


def test_tail_option_then_follow(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    _write_numbered(path, 1_000)
    with open(path, "ab") as f:
        f.write(b"1001.000000 o unfinis")  # a torn last record is not one of the last lines
    follower = LogFollower(path, tail=3)
    assert [line.number for line in follower.read_new()] == [998, 999, 1000]
    with open(path, "ab") as f:
        f.write(b"hed\n")
    assert follower.read_new() == [LogLine(1001.0, Stream.STDOUT, "unfinished", 1001)]


def test_tail_larger_than_file_and_zero(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    _write_numbered(path, 5)
    assert [line.number for line in LogFollower(path, tail=100).read_new()] == [1, 2, 3, 4, 5]
    follower = LogFollower(path, tail=0)
    assert follower.read_new() == []
    assert follower.next_number == 6


def test_tail_before_the_file_exists(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    follower = LogFollower(path)
    follower.start_at_tail(2)
    assert follower.read_new() == []
    _write_numbered(path, 50)
    assert [line.number for line in follower.read_new()] == [49, 50]


@pytest.mark.parametrize("block_size", [1, 100, 4096])
def test_read_lines_matches_a_full_read(tmp_path: Path, block_size: int) -> None:
    path = tmp_path / "out.log"
    _write_numbered(path, 700)
    everything = LogFollower(path).read_new()
    index = LineIndex(path, block_size=block_size, chunk_size=4096)
    for start, count in [(1, 1), (1, 10), (63, 5), (64, 1), (65, 3), (129, 70), (690, 20)]:
        got = read_lines(path, start, count, index=index)
        assert got == everything[start - 1 : start - 1 + count], (start, count)
    assert read_lines(path, 701, 5, index=index) == []
    assert read_lines(path, 5, 0, index=index) == []


def test_index_built_in_chunks_follows_growth(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    index = LineIndex(path, block_size=300, chunk_size=1024)
    assert index.update() is True and index.line_count == 0  # no file yet
    _write_numbered(path, 2_000)
    steps = 0
    while not index.update(max_bytes=4096):
        steps += 1
    assert steps > 5
    assert index.line_count == 2_000
    assert index.indexed_bytes == path.stat().st_size
    with open(path, "ab") as f:
        f.write(b"2001.000000 o grown\n2002.000000 o par")
    assert index.update() is True
    assert index.line_count == 2_001
    assert read_lines(path, 2_000, 5, index=index)[-1].text == "grown"
    assert index.lines_before(index.indexed_bytes) == 2_001


def test_read_lines_shared_index_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    assert read_lines(path, 1, 5) == []  # no file yet
    _write_numbered(path, 300)
    assert _texts(read_lines(path, 150, 2)) == [_expected(150), _expected(151)]
    _write_numbered(path, 10)  # appends lines 301..310 (numbered 1..10 in their text)
    assert _texts(read_lines(path, 301, 2)) == [_expected(1), _expected(2)]
    with pytest.raises(ValueError):
        read_lines(path, 0, 5)


def test_long_records_cross_chunks(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    big = b"x" * 50_000
    with LogSpool(path) as spool:
        for i in range(20):
            spool.write(Stream.STDOUT, b"%d " % i + big, ts=1.0)
    follower = LogFollower(path, chunk_size=4096)
    lines = follower.read_new()
    assert [line.number for line in lines] == list(range(1, 21))
    assert lines[3].text.startswith("3 xxx") and lines[3].text.endswith("[cut: 50,002 bytes]")
    index = LineIndex(path, block_size=100, chunk_size=4096)
    assert read_lines(path, 18, 5, index=index) == lines[17:]
    tail = LogFollower(path, tail=2, chunk_size=4096).read_new()
    assert tail == lines[18:]


def test_a_chunk_of_lines_stays_one_block_to_the_spool(tmp_path: Path) -> None:
    splitter = LineSplitter()
    lines = splitter.feed(b"one\ntwo\nthr")
    assert isinstance(lines, LineBlock) and lines.block == b"one\ntwo\n"
    assert len(lines) == 2 and list(lines) == [b"one", b"two"] and lines[1] == b"two"
    assert lines == [b"one", b"two"] and lines != [b"one"]
    more = splitter.feed(b"ee\n\n")
    assert more == [b"three", b""] and len(more) == 2
    path = tmp_path / "out.log"
    with LogSpool(path) as spool:
        spool.write_many(Stream.STDOUT, lines, ts=1.0)
        spool.write_many(Stream.STDERR, more, ts=2.0)
    assert path.read_bytes() == (b"1.000000 o one\n1.000000 o two\n2.000000 e three\n2.000000 e \n")
