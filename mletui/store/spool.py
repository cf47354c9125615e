"""The log spool: every line the agent prints, kept raw with a timestamp, and read back for display.

A run's spool is one file, ``logs/output.log``, one record per line of agent output::

    <epoch seconds, 6 decimals> <stream: o|e|s> <raw bytes of the line>\\n

The raw bytes are kept exactly as the agent wrote them (only the newline goes), so nothing is lost;
cleaning for display (:func:`mletui.core.sanitize.clean_line`) happens when a line is read back.
Line numbers are record numbers in the file, from 1, the same for every reader.

Beside it, ``logs/output.log.idx`` holds checkpoints: ``(lines before, byte offset)`` of a record
start about every :data:`CHECKPOINT_BYTES`, 16 bytes each, appended by the writer. A reader that
attaches to a long run loads them instead of counting every line, so the tail is numbered at once.
The checkpoints are a cache: a reader checks them against the spool and counts what they lack.

- :class:`LineSplitter` cuts a byte stream (chunks of any size) into lines.
- :class:`LogSpool` appends records; the supervisor pumping the agent's stdout and stderr owns it.
- :class:`LineIndex` knows where lines start (a checkpoint every :data:`CHECKPOINT_BYTES`, built
  in chunks as the file grows), so any line is one seek and a short read away (scroll-back).
- :class:`LogHistory` is what the log pane shows: the whole log as numbered lines, read from the
  spool on demand, with the newest lines handed over as they come.
- :class:`LogFollower` follows a growing spool and returns every new complete line as
  :class:`~mletui.core.events.LogLine` (never a half-written one); it can start at the tail.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import os
import struct
import sys
import threading
import time
from abc import ABC, abstractmethod
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self, overload

from mletui.core.ansi import styled_line
from mletui.core.events import LogLine, Stream
from mletui.core.safefs import read_regular, write_file
from mletui.core.sanitize import clean_line

__all__ = [
    "CHECKPOINT_BYTES",
    "LIVE_BYTES",
    "LIVE_RELATIVE_PATH",
    "MALFORMED_PREFIX",
    "MAX_LINE_BYTES",
    "SPOOL_RELATIVE_PATH",
    "FullLine",
    "LineBlock",
    "LineIndex",
    "LineSplitter",
    "LogFollower",
    "LogHistory",
    "LogSpool",
    "StampedLines",
    "checkpoint_path",
    "live_path",
    "parse_prefix",
    "parse_records",
    "read_lines",
    "read_live",
    "spool_path",
    "write_live",
]

SPOOL_RELATIVE_PATH = Path("logs") / "output.log"

MAX_LINE_BYTES = 8 * 1024 * 1024
"""A line longer than this is split into pieces of at most this size (memory stays bounded)."""

LIVE_BYTES = 1 << 16
"""The most of a line still being written that is kept for the live row (its end)."""

LIVE_RELATIVE_PATH = Path("logs") / "live"
"""The line the agent is still writing (``<ts> <stream> <raw bytes>``), rewritten as it changes
and emptied once it ends; not part of the log (the finished line is)."""

MALFORMED_PREFIX = "malformed log record: "
"""Text in front of a spool record that does not parse (shown as a SYSTEM line, never raised)."""

CHECKPOINT_BYTES = 1 << 16
"""Bytes of spool between two index checkpoints: a line is at most this far from a seek."""

_READ_CHUNK = 1 << 20
_TAIL_BLOCK = 1 << 16
_SCROLL_READ = 1 << 15
_TAGS = {Stream.STDOUT: b" o ", Stream.STDERR: b" e ", Stream.SYSTEM: b" s "}
_STREAMS = {b"o": Stream.STDOUT, b"e": Stream.STDERR, b"s": Stream.SYSTEM}
_CHECKPOINT = struct.Struct("<QQ")

PathLike = str | os.PathLike[str]


def spool_path(run_dir: PathLike) -> Path:
    """Where a run folder keeps its log spool."""
    return Path(run_dir) / SPOOL_RELATIVE_PATH


def checkpoint_path(spool: PathLike) -> Path:
    """Where the checkpoints of a spool are kept (beside it)."""
    path = Path(spool)
    return path.with_name(path.name + ".idx")


# --------------------------------------------------------------------------------------- splitter


def _utf8_cut(data: bytes, limit: int) -> int:
    """A cut position at or a little before ``limit`` that does not split a UTF-8 character."""
    for pos in range(limit, max(limit - 3, 1) - 1, -1):
        if data[pos] & 0xC0 != 0x80:  # not a continuation byte: a character starts here
            return pos
    return limit  # not UTF-8 anyway


class _ClosedOnExit(ABC):
    """``with`` closes it: the spool's writer and follower hold a file open between calls."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class LineSplitter:
    """Cuts a stream of byte chunks into lines (without their ``\\n``).

    A chunk may hold half a line or many lines. ``\\r`` is kept (``\\r\\n`` endings and progress
    bars are the display's business). A line longer than ``max_line_bytes`` is emitted in pieces
    of at most that size, cut between UTF-8 characters where possible.
    """

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        if max_line_bytes < 4:
            raise ValueError("max_line_bytes must be at least 4")
        self._max = max_line_bytes
        self._parts: list[bytes] = []  # the unterminated line so far, as the chunks came
        self._size = 0

    @property
    def pending_bytes(self) -> int:
        """Bytes of the current, unterminated line held back."""
        return self._size

    def pending(self, limit: int = LIVE_BYTES) -> bytes:
        """The unterminated line so far (its last ``limit`` bytes): what a progress bar shows."""
        if len(self._parts) > 1:
            self._parts = [b"".join(self._parts)]
        return self._parts[0][-limit:] if self._parts else b""

    def feed(self, chunk: bytes) -> Sequence[bytes]:
        """Add bytes; return the lines they complete (and pieces of an over-long line): a
        :class:`LineBlock` as they came, or a list where a line had to be cut."""
        last = chunk.rfind(b"\n")
        if last < 0:
            if chunk:
                self._parts.append(chunk)
                self._size += len(chunk)
                if self._size > self._max:
                    return self._cut_pending()
            return []
        if self._parts:
            self._parts.append(chunk[: last + 1])
            block = b"".join(self._parts)
        else:
            block = chunk[: last + 1]
        rest = chunk[last + 1 :]
        self._parts = [rest] if rest else []
        self._size = len(rest)
        if len(block) <= self._max and self._size <= self._max:  # no line over the cap
            return LineBlock(block)
        lines = [piece for line in block[:-1].split(b"\n") for piece in self._pieces(line)]
        if self._size > self._max:
            lines.extend(self._cut_pending())
        return lines

    def flush(self) -> list[bytes]:
        """End of stream: the unterminated remainder as a last line (an empty list if none)."""
        if not self._parts:
            return []
        data = b"".join(self._parts)
        self._parts = []
        self._size = 0
        return [data]

    def _pieces(self, line: bytes) -> list[bytes]:
        if len(line) <= self._max:
            return [line]
        pieces = []
        while len(line) > self._max:
            cut = _utf8_cut(line, self._max)
            pieces.append(line[:cut])
            line = line[cut:]
        pieces.append(line)
        return pieces

    def _cut_pending(self) -> list[bytes]:
        """Emit full pieces of an over-long unterminated line; keep the tail (never empty)."""
        pieces = self._pieces(b"".join(self._parts))
        rest = pieces.pop()
        self._parts = [rest]
        self._size = len(rest)
        return pieces


class LineBlock(Sequence[bytes]):
    """Lines read together, kept in the bytes they came in, each ending in ``\\n``.

    A flood passes from the agent's pipe to the spool a chunk at a time without being cut into
    thousands of objects (:meth:`LogSpool.write_many` writes the block in one pass in C); the
    lines are split out only if someone looks at them one by one.
    """

    __slots__ = ("_count", "_lines", "block")

    def __init__(self, block: bytes) -> None:
        self.block = block
        self._count = block.count(b"\n")
        self._lines: list[bytes] | None = None

    def _split(self) -> list[bytes]:
        if self._lines is None:
            self._lines = self.block[:-1].split(b"\n") if self.block else []
        return self._lines

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        return self._split()[index]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._split())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LineBlock):
            return self.block == other.block
        if isinstance(other, list | tuple):
            return self._split() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LineBlock({self._count} lines, {len(self.block)} bytes)"


class StampedLines(Sequence[bytes]):
    """Lines that each carry their own time (a container's messages, stamped by the Engine).

    ``stamps[i]`` is line ``i``'s time as the spool writes it, epoch seconds to the microsecond
    (``b"1714564800.123456"``); ``raw[i]`` is the line with its ``\\n``. A block of them goes to
    the spool in one join in C (:meth:`LogSpool.write_many`), however many lines and times.
    """

    __slots__ = ("raw", "stamps")

    def __init__(self, stamps: list[bytes], raw: list[bytes]) -> None:
        self.stamps = stamps
        self.raw = raw

    def __len__(self) -> int:
        return len(self.raw)

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        if isinstance(index, slice):
            return [line[:-1] for line in self.raw[index]]
        return self.raw[index][:-1]

    def __iter__(self) -> Iterator[bytes]:
        return (line[:-1] for line in self.raw)

    def times(self) -> list[float]:
        """Each line's time, epoch seconds."""
        return [float(stamp) for stamp in self.stamps]

    def __repr__(self) -> str:
        return f"StampedLines({len(self.raw)} lines)"


# ------------------------------------------------------------------------------------------ spool


class LogSpool(_ClosedOnExit):
    """Appends records to a run's log spool, and checkpoints to its index file beside it.

    Each write goes to the OS at once (``buffer_size=0``, the default: a watcher sees a line as
    soon as the agent's pipe gave it, and a flood is one write per chunk read, not per line);
    with a buffer, call :meth:`flush` often. Readers never take a half-written record for a line.
    Safe to share between threads (the stdout pump, the stderr pump, the flush timer).
    """

    def __init__(
        self,
        path: PathLike,
        *,
        buffer_size: int = 0,
        checkpoint_bytes: int = CHECKPOINT_BYTES,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file: BinaryIO = open(self.path, "ab", buffering=buffer_size)  # noqa: SIM115
        if self._file.tell() > 0 and not _ends_with_newline(self.path):
            # A writer died mid-record: end that record so it cannot swallow our first one.
            self._file.write(b"\n")
            self._file.flush()
        self._offset = self._file.tell()
        self._checkpoint_bytes = checkpoint_bytes
        # Number the lines already there (a restarted writer), from the old checkpoints where
        # they hold, and write the checkpoints afresh: a stale or torn index file is replaced.
        index = LineIndex(self.path, block_size=checkpoint_bytes)
        if self._offset:
            index.update()
        self._lines = index.line_count
        checkpoints = index.checkpoints()
        self._last_checkpoint = checkpoints[-1][1] if checkpoints else 0
        self._pending: list[tuple[int, int]] = []
        index_file = checkpoint_path(self.path)
        tmp = index_file.with_name(index_file.name + ".tmp")
        tmp.write_bytes(b"".join(_CHECKPOINT.pack(n, off) for n, off in checkpoints))
        os.replace(tmp, index_file)
        self._index_file: BinaryIO = open(index_file, "ab", buffering=0)  # noqa: SIM115

    @property
    def closed(self) -> bool:
        return self._file.closed

    @property
    def line_count(self) -> int:
        """Records in the spool, written or buffered."""
        return self._lines

    def write(self, stream: Stream, line: bytes, ts: float | None = None) -> None:
        """Append one line (raw bytes, without its newline); ``ts`` defaults to now.

        A ``\\n`` inside ``line`` (a caller's mistake, or a multi-line note) makes several records
        with the same timestamp, so one record is always one line.
        """
        self._append(_record(stream, line, time.time() if ts is None else ts))

    def write_many(self, stream: Stream, lines: Iterable[bytes], ts: float | None = None) -> None:
        """Append lines read together (one chunk of a pipe); they share one timestamp.

        One join in C however many lines (a flood costs what its bytes cost); a line holding a
        ``\\n`` takes the slow way, as in :meth:`write`."""
        if isinstance(lines, LineBlock):
            self.write_block(stream, lines.block, ts)
            return
        if isinstance(lines, StampedLines):
            self._write_stamped(stream, lines)
            return
        lines = lines if isinstance(lines, list | tuple) else list(lines)
        if not lines:
            return
        stamp = time.time() if ts is None else ts
        prefix = b"%.6f%b" % (stamp, _TAGS[stream])
        data = prefix + (b"\n" + prefix).join(lines) + b"\n"
        if self._append(data, expect=len(lines)) < 0:
            self._append(b"".join(_record(stream, line, stamp) for line in lines))

    def _write_stamped(self, stream: Stream, lines: StampedLines) -> None:
        if not lines.raw:
            return
        data = b"".join(map(b"".join, zip(lines.stamps, repeat(_TAGS[stream]), lines.raw)))
        if self._append(data, expect=len(lines.raw)) < 0:  # a line with a newline inside
            self._append(
                b"".join(
                    _record(stream, line[:-1], float(stamp))
                    for stamp, line in zip(lines.stamps, lines.raw, strict=True)
                )
            )

    def write_block(self, stream: Stream, block: bytes, ts: float | None = None) -> int:
        """Append a block of lines, each ending in ``\\n``; they share one timestamp: what
        :meth:`write_many` does, for lines already in one piece (imports, benchmarks), in one
        pass in C. A last line without its ``\\n`` is ended. Returns the records written."""
        if not block:
            return 0
        prefix = b"%.6f%b" % (time.time() if ts is None else ts, _TAGS[stream])
        body = block[:-1] if block.endswith(b"\n") else block
        data = prefix + body.replace(b"\n", b"\n" + prefix) + b"\n"
        return self._append(data)

    def flush(self, *, fsync: bool = False) -> None:
        """Hand buffered records to the OS (readers see them); ``fsync``: to the disk too."""
        with self._lock:
            self._file.flush()
            if self._pending:
                # After the records they point into, so a checkpoint never runs ahead of them.
                self._index_file.write(b"".join(_CHECKPOINT.pack(*c) for c in self._pending))
                self._pending.clear()
            if fsync:
                os.fsync(self._file.fileno())
                os.fsync(self._index_file.fileno())

    def close(self) -> None:
        if self._file.closed:
            return
        self.flush()
        with self._lock:
            self._file.close()
            self._index_file.close()

    def _append(self, data: bytes, expect: int | None = None) -> int:
        """Write whole records; the number written. With ``expect``: -1, and nothing written,
        unless ``data`` holds exactly that many (a line with a newline of its own)."""
        with self._lock:
            before = self._lines
            numbers, offsets, lines = _checkpoints(
                data, len(data), self._offset, before, self._last_checkpoint, self._checkpoint_bytes
            )
            if expect is not None and lines - before != expect:
                return -1
            view = memoryview(data)
            while view:  # unbuffered: the OS may take part of it at a time
                written = self._file.write(view)
                view = view[written or 0 :]
            self._lines = lines
            self._offset += len(data)
            if offsets:
                self._pending.extend(zip(numbers, offsets, strict=True))
                self._last_checkpoint = offsets[-1]
            return lines - before


def _record(stream: Stream, line: bytes, ts: float) -> bytes:
    tag = _TAGS[stream]
    if b"\n" in line:
        lines = line.removesuffix(b"\n").split(b"\n")
        return b"".join(b"%.6f%b%b\n" % (ts, tag, part) for part in lines)
    return b"%.6f%b%b\n" % (ts, tag, line)


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


# ------------------------------------------------------------------------------------ live line


def live_path(run_dir: PathLike) -> Path:
    """Where a run folder keeps the line its agent is still writing."""
    return Path(run_dir) / LIVE_RELATIVE_PATH


def write_live(path: PathLike, stream: Stream, raw: bytes, ts: float) -> None:
    """Set the line still being written (``b""``: none). Raises what
    :func:`~mletui.core.safefs.write_file` raises."""
    data = _record(stream, raw.replace(b"\n", b""), ts) if raw else b""
    write_file(Path(path), data)  # never through a link the agent planted in its run folder


def read_live(path: PathLike) -> LogLine | None:
    """The line still being written, as the log pane shows it (number 0), or None: no such
    line, or nothing visible in it yet."""
    try:
        record = read_regular(Path(path), LIVE_BYTES + 64).removesuffix(b"\n")
    except (OSError, ValueError):  # none yet, or not what the supervisor writes
        return None
    prefix = parse_prefix(record) if record else None
    if prefix is None:
        return None
    ts, stream, start = prefix
    text, styles = styled_line(record[start:])
    return LogLine(ts, stream, text, 0, styles) if text and not text.isspace() else None


# ---------------------------------------------------------------------------------------- parsing


def parse_records(
    records: Iterable[bytes], first_number: int, last_ts: float | None = None
) -> tuple[list[LogLine], float | None]:
    """Turn spool records (without ``\\n``) into cleaned :class:`LogLine`, numbered from
    ``first_number``. A record that does not parse becomes a SYSTEM line starting with
    :data:`MALFORMED_PREFIX`, stamped with the time of the record before it (``last_ts``), or
    of the next good one when there is none before. Returns the lines and the last timestamp.
    """
    out: list[LogLine] = []
    orphans: list[int] = []  # malformed lines still waiting for a timestamp
    number = first_number
    for record in records:
        prefix = parse_prefix(record)
        if prefix is None:
            if last_ts is None:
                orphans.append(len(out))
            text = MALFORMED_PREFIX + clean_line(record)
            out.append(LogLine(last_ts or 0.0, Stream.SYSTEM, text, number))
        else:
            last_ts, stream, start = prefix
            if orphans:
                for i in orphans:
                    out[i] = dataclasses.replace(out[i], ts=last_ts)
                orphans.clear()
            text, styles = styled_line(record[start:])
            out.append(LogLine(last_ts, stream, text, number, styles))
        number += 1
    return out, last_ts


def parse_prefix(record: bytes) -> tuple[float, Stream, int] | None:
    """(timestamp, stream, where the raw line starts) of a record; None if it is malformed."""
    sp = record.find(b" ")
    stream = _STREAMS.get(record[sp + 1 : sp + 2]) if sp > 0 else None
    if stream is None or record[sp + 2 : sp + 3] not in (b" ", b""):
        return None
    try:
        ts = float(record[:sp])
    except ValueError:
        return None
    return (ts, stream, sp + 3) if math.isfinite(ts) else None


# ------------------------------------------------------------------------------------------ index


class LineIndex:
    """Where a spool's lines start, built in chunks as the file grows.

    It keeps a checkpoint about every ``block_size`` bytes: the byte offset of a line start and how
    many lines come before it (16 bytes per checkpoint, however short the lines), so line ``k`` is
    one seek to the checkpoint before it and a read of at most about ``block_size`` bytes. Building
    it counts newlines in C and decodes nothing; it starts from the spool's checkpoint file when
    there is one. Build it from a worker thread with :meth:`update`; read it from any thread.
    """

    def __init__(
        self,
        path: PathLike,
        *,
        block_size: int = CHECKPOINT_BYTES,
        chunk_size: int = _READ_CHUNK,
        use_checkpoint_file: bool = True,
    ) -> None:
        if block_size < 1:
            raise ValueError("block_size must be at least 1")
        self.path = Path(path)
        self.block_size = block_size
        self._chunk = chunk_size
        self._numbers = array("Q", [0])  # [k]: how many lines come before checkpoint k
        self._offsets = array("Q", [0])  # [k]: byte offset of checkpoint k, a line start
        self._lines = 0  # complete lines indexed
        self._indexed = 0  # byte offset just after the last indexed line
        self._load_checkpoints = use_checkpoint_file
        self._buffer: bytearray | None = None
        self._lock = threading.Lock()  # the arrays and counters (held briefly)
        self._update_lock = threading.Lock()  # one update at a time (holds while reading)

    @property
    def line_count(self) -> int:
        """Complete lines indexed so far."""
        return self._lines

    @property
    def indexed_bytes(self) -> int:
        """Bytes of the file indexed so far (always up to the end of a complete line)."""
        return self._indexed

    def checkpoints(self) -> list[tuple[int, int]]:
        """``(lines before, byte offset)`` of every checkpoint after the start of the file."""
        with self._lock:
            return list(zip(self._numbers[1:], self._offsets[1:], strict=True))

    def update(self, max_bytes: int | None = None) -> bool:
        """Index more of the file (at most about ``max_bytes``; ``None``: all there is).

        Returns True when the index has caught up with the file's complete lines.
        """
        with self._update_lock:
            try:
                f = open(self.path, "rb")  # noqa: SIM115
            except FileNotFoundError:
                return True
            with f:
                if self._load_checkpoints:
                    self._load_checkpoints = False
                    self._load_checkpoint_file(f)
                budget = math.inf if max_bytes is None else max_bytes
                # One buffer, read into again and again: a flood is indexed without allocating.
                if self._buffer is None:
                    self._buffer = bytearray(self._chunk)
                buffer = self._buffer
                while True:
                    f.seek(self._indexed)  # a partial last line is read again with the next
                    got = f.readinto(buffer)
                    if not got:
                        return True
                    budget -= got
                    last = buffer.rfind(b"\n", 0, got)
                    if last < 0:
                        if not self._index_long_line(f, bytes(buffer[:got])):
                            return True
                    else:
                        self._add_lines(buffer, last + 1)
                    if got < len(buffer):
                        return True  # a short read: that was the end (for now)
                    if budget <= 0:
                        return False  # always after some progress, so callers can loop

    def _index_long_line(self, f: BinaryIO, data: bytes) -> bool:
        """A line longer than the buffer: read on to its end. False if the file ends first."""
        while more := f.read(self._chunk):
            data += more
            last = data.rfind(b"\n")
            if last >= 0:
                self._add_lines(data, last + 1)
                return True
        return False

    def _load_checkpoint_file(self, f: BinaryIO) -> None:
        """Start from the writer's checkpoints: the longest run of them that is plausible (rising,
        inside the file) and ends where a line starts. Anything else is counted instead."""
        try:
            data = checkpoint_path(self.path).read_bytes()
        except OSError:
            return
        entries = array("Q")
        entries.frombytes(data[: len(data) - len(data) % _CHECKPOINT.size])
        if sys.byteorder == "big":
            entries.byteswap()
        size = os.fstat(f.fileno()).st_size
        numbers, offsets = entries[0::2], entries[1::2]
        keep, last_n, last_off = 0, 0, 0
        for n, off in zip(numbers, offsets, strict=True):
            if off <= last_off or n <= last_n or n > off or off > size:
                break
            keep, last_n, last_off = keep + 1, n, off
        while keep:
            f.seek(offsets[keep - 1] - 1)
            if f.read(1) == b"\n":
                break
            keep -= 1
        if keep:
            with self._lock:
                self._numbers.extend(numbers[:keep])
                self._offsets.extend(offsets[:keep])
                self._lines = numbers[keep - 1]
                self._indexed = offsets[keep - 1]

    def _add_lines(self, data: bytes | bytearray, end: int) -> None:
        """Index the complete lines in ``data[:end]``, which starts at ``self._indexed``."""
        numbers, offsets, lines = _checkpoints(
            data, end, self._indexed, self._lines, self._offsets[-1], self.block_size
        )
        with self._lock:
            self._numbers.extend(numbers)
            self._offsets.extend(offsets)
            self._lines = lines
            self._indexed += end

    def ensure_lines(self, number: int) -> bool:
        """Index until line ``number`` is known; False if the file has fewer complete lines."""
        while self._lines < number:
            if self.update(max_bytes=16 * self._chunk) and self._lines < number:
                return False
        return True

    def lines_before(self, offset: int) -> int:
        """How many complete lines start before byte ``offset`` (a line start: its number - 1)."""
        while self._indexed < offset:
            if self.update(max_bytes=16 * self._chunk):
                break
        with self._lock:
            k = bisect.bisect_right(self._offsets, offset) - 1
            start, before = self._offsets[k], self._numbers[k]
        if start == offset:
            return before
        with open(self.path, "rb") as f:
            f.seek(start)
            return before + f.read(offset - start).count(b"\n")

    def locate(self, number: int) -> tuple[int, int]:
        """The nearest known place at or before line ``number``: (byte offset, its line number)."""
        with self._lock:
            k = bisect.bisect_right(self._numbers, number - 1) - 1
            return self._offsets[k], self._numbers[k] + 1

    def offset_of(self, number: int) -> int:
        """The byte offset where line ``number`` starts (``line_count + 1``: the indexed end)."""
        if number < 1:
            raise ValueError(f"line numbers start at 1, not {number}")
        if number > self._lines + 1:
            self.ensure_lines(number - 1)
        number = min(number, self._lines + 1)
        offset, at = self.locate(number)
        skip = number - at
        if not skip:
            return offset
        with open(self.path, "rb") as f:
            f.seek(offset)
            while True:
                chunk = f.read(max(self.block_size, _SCROLL_READ))
                if not chunk:
                    return offset
                found = chunk.count(b"\n")
                if found >= skip:
                    rest = chunk.split(b"\n", skip)[-1]
                    return offset + len(chunk) - len(rest)
                skip -= found
                offset += len(chunk)

    def read_records(self, start: int, count: int) -> tuple[list[bytes], float | None]:
        """Raw records of lines ``start`` .. ``start + count - 1`` (fewer at the end), and the
        timestamp of the last good record before them (for a malformed first one)."""
        if start < 1:
            raise ValueError(f"line numbers start at 1, not {start}")
        if count <= 0:
            return [], None
        if start > self._lines:
            self.ensure_lines(start)
        offset, number = self.locate(start)
        try:
            f = open(self.path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return [], None
        records: list[bytes] = []
        last_ts: float | None = None  # of the lines skipped, for a malformed first line
        with f:
            f.seek(offset)
            carry = b""
            size = min(self._chunk, _SCROLL_READ)  # a screenful is small; grow if lines are not
            while len(records) < count:
                chunk = f.read(size)
                if not chunk:
                    break  # an unterminated last line is not a line yet
                size = min(size * 2, self._chunk)
                parts = (carry + chunk).split(b"\n")
                carry = parts.pop()
                skip = min(start - number, len(parts))
                number += skip
                if skip:
                    last_ts = _last_ts(parts[:skip], last_ts)
                records.extend(parts[skip:])
        return records[:count], last_ts

    def read(self, start: int, count: int) -> list[LogLine]:
        """Lines ``start`` .. ``start + count - 1`` (1-based), cleaned; fewer at the file's end."""
        records, last_ts = self.read_records(start, count)
        lines, _ = parse_records(records, start, last_ts)
        return lines

    def number_at_time(self, ts: float) -> int:
        """The first indexed line stamped at ``ts`` or later (the last line if none is; 0 if the
        index is empty). Stamps rise through a spool, so this is a binary search over the
        checkpoints and a read of one block."""
        with self._lock:
            offsets = self._offsets[:]
            numbers = self._numbers[:]
            total, end = self._lines, self._indexed
        if total == 0:
            return 0
        try:
            f = open(self.path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return 0
        with f:
            lo, hi = 0, len(offsets)
            while lo < hi:  # the first checkpoint whose line is stamped at ts or later
                mid = (lo + hi) // 2
                stamp = _stamp_at(f, offsets[mid]) if offsets[mid] < end else math.inf
                if stamp is None or stamp < ts:
                    lo = mid + 1
                else:
                    hi = mid
            k = max(lo - 1, 0)
            number = numbers[k] + 1
            f.seek(offsets[k])
            carry = b""
            while number <= total:
                chunk = f.read(_SCROLL_READ)
                if not chunk:
                    break
                parts = (carry + chunk).split(b"\n")
                carry = parts.pop()
                for record in parts:
                    prefix = parse_prefix(record)
                    if prefix is not None and prefix[0] >= ts:
                        return min(number, total)
                    number += 1
        return total


def _checkpoints(
    data: bytes | bytearray, end: int, base: int, lines: int, last_checkpoint: int, block: int
) -> tuple[list[int], list[int], int]:
    """Checkpoints in ``data[:end]``, complete records starting at byte ``base`` of the spool after
    ``lines`` lines: the first line start at least ``block`` bytes after the last checkpoint, and
    so on. Returns their line counts, their offsets and the line count at ``end``; a few calls
    in C per checkpoint, however short the lines."""
    numbers: list[int] = []
    offsets: list[int] = []
    pos = 0
    while True:
        target = last_checkpoint + block - base
        if target > end:
            break
        # (data[end - 1] is a newline, so find() finds one.)
        cut = pos if target <= pos else data.find(b"\n", target - 1, end) + 1
        lines += data.count(b"\n", pos, cut)
        pos = cut
        numbers.append(lines)
        offsets.append(base + cut)
        last_checkpoint = base + cut
        if cut >= end:
            break
    return numbers, offsets, lines + data.count(b"\n", pos, end)


def _stamp_at(f: BinaryIO, offset: int) -> float | None:
    f.seek(offset)
    prefix = parse_prefix(f.read(64).split(b"\n", 1)[0])
    return None if prefix is None else prefix[0]


def _last_ts(records: list[bytes], default: float | None) -> float | None:
    for record in reversed(records):
        prefix = parse_prefix(record)
        if prefix is not None:
            return prefix[0]
    return default


_shared_indexes: OrderedDict[tuple[str, int, int], LineIndex] = OrderedDict()
_shared_lock = threading.Lock()
_SHARED_MAX = 16


def _shared_index(path: Path) -> LineIndex | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    key = (str(path.resolve()), st.st_dev, st.st_ino)  # a new file at the same path: a new index
    with _shared_lock:
        index = _shared_indexes.get(key)
        if index is None:
            index = _shared_indexes[key] = LineIndex(path)
            while len(_shared_indexes) > _SHARED_MAX:
                _shared_indexes.popitem(last=False)
        else:
            _shared_indexes.move_to_end(key)
        return index


def read_lines(
    path: PathLike, start: int, count: int, *, index: LineIndex | None = None
) -> list[LogLine]:
    """Scroll-back: lines ``start`` .. ``start + count - 1`` of a spool (1-based), cleaned.

    Uses ``index`` if given, else an index kept per spool file in this process (built on first
    use, extended as the file grows). Returns fewer lines at the end of the file, none if it is
    missing.
    """
    if start < 1:
        raise ValueError(f"line numbers start at 1, not {start}")
    if index is None:
        index = _shared_index(Path(path))
        if index is None:
            return []
    return index.read(start, count)


# ---------------------------------------------------------------------------------------- history

TAIL_LINES = 100
"""Newest lines :meth:`LogHistory.poll` parses and hands over; older new ones stay in the spool."""

CACHE_LINES = 2048
"""Lines read back for display that :class:`LogHistory` keeps (scrolling back and forth)."""

POLL_BYTES = 64 << 20
"""Spool bytes one :meth:`LogHistory.poll` indexes at most (attaching without checkpoints)."""


@dataclasses.dataclass(frozen=True)
class FullLine:
    """One line as the agent wrote it: its record, and the whole text cleaned (never cut)."""

    line: LogLine  # as the log pane shows it (cut past MAX_DISPLAY_CHARS)
    text: str  # the whole line, cleaned
    raw_bytes: int  # its length in the spool, in bytes


class LogHistory:
    """A run's whole log as numbered lines, read from its spool on demand: the log pane's model.

    :meth:`poll` (one worker thread) indexes what the writer appended and returns the newest new
    lines, parsed; everything else stays on disk and is read back when it is shown
    (:meth:`read`, from any thread, cached), searched (:mod:`mletui.store.log_search`) or
    jumped to by time (:meth:`number_at_time`). Memory is the index and a bounded cache, however
    long the run.
    """

    def __init__(
        self,
        path: PathLike,
        *,
        tail_lines: int = TAIL_LINES,
        flood_lines: int | None = None,
        cache_lines: int = CACHE_LINES,
        index: LineIndex | None = None,
    ) -> None:
        self.path = Path(path)
        self.index = index or LineIndex(self.path)
        self._tail_lines = tail_lines
        self._flood_lines = tail_lines if flood_lines is None else flood_lines
        self._cache_max = cache_lines
        self._cache: OrderedDict[int, LogLine] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._handed = 0  # lines returned by poll so far (the newest number handed over)
        self._caught_up = False

    @property
    def line_count(self) -> int:
        """Complete lines indexed so far."""
        return self.index.line_count

    @property
    def loaded(self) -> bool:
        """True once the index has caught up with the spool once (history fully numbered)."""
        return self._caught_up

    def progress(self) -> float:
        """How much of the spool is indexed, from 0 to 1 (1 when it is missing or empty)."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return 1.0
        return 1.0 if size == 0 else min(1.0, self.index.indexed_bytes / size)

    def poll(self, max_bytes: int | None = POLL_BYTES) -> list[LogLine]:
        """Index what was appended since the last poll; return the newest new lines, parsed: all
        of them up to ``tail_lines``; more than that (a flood), the newest ``flood_lines`` only
        (whoever shows them reads the rest from the spool). Nothing until the history is
        numbered to its end."""
        done = self.index.update(max_bytes)
        self._caught_up = self._caught_up or done
        total = self.index.line_count
        new = total - self._handed
        if not self._caught_up or new <= 0:
            return []
        self._handed = total
        count = new if new <= self._tail_lines else min(new, self._flood_lines)
        return self.index.read(total - count + 1, count)

    def read(self, start: int, count: int) -> list[LogLine]:
        """Lines ``start`` .. ``start + count - 1`` (fewer past the indexed end), cached."""
        start = max(start, 1)
        count = min(count, self.index.line_count - start + 1)
        if count <= 0:
            return []
        with self._cache_lock:
            cached = [self._cache.get(n) for n in range(start, start + count)]
        if all(line is not None for line in cached):
            return cached  # type: ignore[return-value]
        lines = self.index.read(start, count)
        with self._cache_lock:
            for line in lines:
                self._cache[line.number] = line
                self._cache.move_to_end(line.number)
            while len(self._cache) > self._cache_max:
                self._cache.popitem(last=False)
        return lines

    def line(self, number: int) -> LogLine | None:
        lines = self.read(number, 1)
        return lines[0] if lines else None

    def full_line(self, number: int) -> FullLine | None:
        """Line ``number`` whole, read again from the spool (a line cut for display, opened)."""
        records, last_ts = self.index.read_records(number, 1)
        if not records:
            return None
        lines, _ = parse_records(records, number, last_ts)
        record = records[0]
        prefix = parse_prefix(record)
        raw = record if prefix is None else record[prefix[2] :]
        text = clean_line(raw, max_chars=None)
        if prefix is None:
            text = MALFORMED_PREFIX + text
        return FullLine(lines[0], text, len(raw))

    def number_at_time(self, ts: float) -> int:
        """The first line stamped at ``ts`` or later (the last line if none; 0 if empty)."""
        return self.index.number_at_time(ts)


# --------------------------------------------------------------------------------------- follower


class LogFollower(_ClosedOnExit):
    """Follows a spool that is growing (and may not exist yet), line by line.

    :meth:`read_new` returns the complete lines written since the last call, in file order,
    numbered from 1 (or from where :meth:`start_at_tail` put it). Not thread-safe: one worker
    owns a follower.
    """

    def __init__(
        self,
        path: PathLike,
        *,
        tail: int | None = None,
        index: LineIndex | None = None,
        chunk_size: int = _READ_CHUNK,
    ) -> None:
        """``tail``: start at the last ``tail`` complete lines instead of the first line (applied
        when the file is first opened). ``index``: a :class:`LineIndex` of the same file to share
        (tail numbering needs one; one is made if not given)."""
        self.path = Path(path)
        self._chunk = chunk_size
        self._index = index
        self._file: BinaryIO | None = None
        self._buf = b""  # read from the file, not yet returned: starts at self._offset
        self._offset = 0
        self._number = 1
        self._last_ts: float | None = None
        self._pending_tail = tail

    @property
    def next_number(self) -> int:
        """The number the next line returned will have."""
        return self._number

    @property
    def offset(self) -> int:
        """Byte offset in the file where the next line returned starts."""
        return self._offset

    @property
    def index(self) -> LineIndex:
        """The follower's :class:`LineIndex` (shared, or made on first need)."""
        if self._index is None:
            self._index = LineIndex(self.path)
        return self._index

    def start_at_tail(self, n: int) -> None:
        """Go to the last ``n`` complete lines (``0``: only lines written from now on).

        Finds them by reading backwards from the end of the file; their line number comes from
        :attr:`index`, which counts the lines before them once (and then serves scroll-back).
        If the file does not exist yet, this applies when it appears.
        """
        if n < 0:
            raise ValueError("n must be 0 or more")
        f = self._open(apply_tail=False)
        if f is None:
            self._pending_tail = n
            return
        self._pending_tail = None
        end = os.fstat(f.fileno()).st_size
        offset = _tail_offset(f, end, n)
        f.seek(offset)
        self._buf = b""
        self._offset = offset
        self._last_ts = None
        self._number = self.index.lines_before(offset) + 1

    def read_new(self, max_lines: int = 10_000) -> list[LogLine]:
        """The complete lines added since the last call, at most ``max_lines`` (the rest wait)."""
        f = self._open(apply_tail=True)
        if f is None:
            return []
        records: list[bytes] = []
        while len(records) < max_lines:
            parts = self._buf.split(b"\n", max_lines - len(records))
            self._buf = parts.pop()
            if parts:
                records.extend(parts)
                continue
            chunk = f.read(self._chunk)
            if not chunk:
                break
            self._buf += chunk
        if not records:
            return []
        lines, self._last_ts = parse_records(records, self._number, self._last_ts)
        self._number += len(records)
        self._offset += sum(map(len, records)) + len(records)
        return lines

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self, *, apply_tail: bool) -> BinaryIO | None:
        if self._file is None:
            try:
                self._file = open(self.path, "rb")  # noqa: SIM115
            except FileNotFoundError:
                return None
            self._file.seek(self._offset)
            if apply_tail and self._pending_tail is not None:
                self.start_at_tail(self._pending_tail)
        return self._file


def _tail_offset(f: BinaryIO, end: int, n: int) -> int:
    """Byte offset where the last ``n`` complete lines of the file (``end`` bytes) start."""
    needed = n + 1  # the newline ending the last complete line, then one before each of n lines
    pos = end
    while pos > 0:
        block_start = max(0, pos - _TAIL_BLOCK)
        f.seek(block_start)
        block = f.read(pos - block_start)
        found = block.count(b"\n")
        if found < needed:
            needed -= found
            pos = block_start
            continue
        i = len(block)
        for _ in range(needed):
            i = block.rfind(b"\n", 0, i)
        return block_start + i + 1
    return 0
