"""The log spool: every line the agent prints, kept raw with a timestamp, and read back for display.

A run's spool is one file, ``logs/output.log``, one record per line of agent output::

    <epoch seconds, 6 decimals> <stream: o|e|s> <raw bytes of the line>\\n

The raw bytes are kept exactly as the agent wrote them (only the newline goes), so nothing is lost;
cleaning for display (:func:`mletui.sanitize.clean_line`) happens when a line is read back. Line
numbers are record numbers in the file, from 1, the same for every reader.

- :class:`LineSplitter` cuts a byte stream (chunks of any size) into lines.
- :class:`LogSpool` appends records; the supervisor pumping the agent's stdout and stderr owns it.
- :class:`LogFollower` follows a growing spool and returns the new complete lines as
  :class:`~mletui.events.LogLine` (never a half-written one); it can start at the tail.
- :class:`LineIndex` knows where lines start (every ``stride``-th line's byte offset, built in
  chunks as the file grows), so :func:`read_lines` reaches any line with one seek (scroll-back).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import os
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Iterable
from itertools import accumulate, count, islice
from operator import add
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from mletui.events import LogLine, Stream
from mletui.sanitize import clean_line

__all__ = [
    "MALFORMED_PREFIX",
    "MAX_LINE_BYTES",
    "SPOOL_RELATIVE_PATH",
    "LineIndex",
    "LineSplitter",
    "LogFollower",
    "LogSpool",
    "parse_records",
    "read_lines",
    "spool_path",
]

SPOOL_RELATIVE_PATH = Path("logs") / "output.log"

MAX_LINE_BYTES = 8 * 1024 * 1024
"""A line longer than this is split into pieces of at most this size (memory stays bounded)."""

MALFORMED_PREFIX = "malformed log record: "
"""Text in front of a spool record that does not parse (shown as a SYSTEM line, never raised)."""

_READ_CHUNK = 1 << 20
_TAIL_BLOCK = 1 << 16
_SCROLL_READ = 1 << 15
_TAGS = {Stream.STDOUT: b" o ", Stream.STDERR: b" e ", Stream.SYSTEM: b" s "}
_STREAMS = {b"o": Stream.STDOUT, b"e": Stream.STDERR, b"s": Stream.SYSTEM}

PathLike = str | os.PathLike[str]


def spool_path(run_dir: PathLike) -> Path:
    """Where a run folder keeps its log spool."""
    return Path(run_dir) / SPOOL_RELATIVE_PATH


# --------------------------------------------------------------------------------------- splitter


def _utf8_cut(data: bytes, limit: int) -> int:
    """A cut position at or a little before ``limit`` that does not split a UTF-8 character."""
    for pos in range(limit, max(limit - 3, 1) - 1, -1):
        if data[pos] & 0xC0 != 0x80:  # not a continuation byte: a character starts here
            return pos
    return limit  # not UTF-8 anyway


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

    def feed(self, chunk: bytes) -> list[bytes]:
        """Add bytes; return the lines they complete (and pieces of an over-long line)."""
        if b"\n" not in chunk:
            if chunk:
                self._parts.append(chunk)
                self._size += len(chunk)
                if self._size > self._max:
                    return self._cut_pending()
            return []
        if self._parts:
            self._parts.append(chunk)
            data = b"".join(self._parts)
        else:
            data = chunk
        lines = data.split(b"\n")
        rest = lines.pop()
        self._parts = [rest] if rest else []
        self._size = len(rest)
        if len(data) > self._max:  # only then can a line be over the cap
            lines = [piece for line in lines for piece in self._pieces(line)]
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


# ------------------------------------------------------------------------------------------ spool


class LogSpool:
    """Appends records to a run's log spool. Buffered: call :meth:`flush` often (the supervisor
    does, at least every 0.2 s); readers never see a half-written record as a line.

    Safe to share between threads (the stdout pump, the stderr pump, the flush timer).
    """

    def __init__(self, path: PathLike, *, buffer_size: int = 1 << 16) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file: BinaryIO = open(self.path, "ab", buffering=buffer_size)  # noqa: SIM115
        if self._file.tell() > 0 and not _ends_with_newline(self.path):
            # A writer died mid-record: end that record so it cannot swallow our first one.
            self._file.write(b"\n")

    @property
    def closed(self) -> bool:
        return self._file.closed

    def write(self, stream: Stream, line: bytes, ts: float | None = None) -> None:
        """Append one line (raw bytes, without its newline); ``ts`` defaults to now.

        A ``\\n`` inside ``line`` (a caller's mistake, or a multi-line note) makes several records
        with the same timestamp, so one record is always one line.
        """
        record = _record(stream, line, time.time() if ts is None else ts)
        with self._lock:
            self._file.write(record)

    def write_many(self, stream: Stream, lines: Iterable[bytes], ts: float | None = None) -> None:
        """Append lines read together (one chunk of a pipe); they share one timestamp."""
        stamp = time.time() if ts is None else ts
        data = b"".join(_record(stream, line, stamp) for line in lines)
        if data:
            with self._lock:
                self._file.write(data)

    def flush(self, *, fsync: bool = False) -> None:
        """Hand buffered records to the OS (readers see them); ``fsync``: to the disk too."""
        with self._lock:
            self._file.flush()
            if fsync:
                os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


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
        prefix = _parse_prefix(record)
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
            out.append(LogLine(last_ts, stream, clean_line(record[start:]), number))
        number += 1
    return out, last_ts


def _parse_prefix(record: bytes) -> tuple[float, Stream, int] | None:
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
    """Byte offsets of a spool's lines, built in chunks as the file grows.

    It keeps the offset of every ``stride``-th line (``stride=1``: every line), 8 bytes each, so
    line ``k`` is one seek to the checkpoint before it and a read of fewer than ``stride`` lines.
    Build it from a worker thread with :meth:`update`; counting newlines runs at disk speed and
    decodes nothing. Safe to share between threads.
    """

    def __init__(self, path: PathLike, *, stride: int = 64, chunk_size: int = _READ_CHUNK) -> None:
        if stride < 1:
            raise ValueError("stride must be at least 1")
        self.path = Path(path)
        self.stride = stride
        self._chunk = chunk_size
        self._checkpoints = array("Q", [0])  # [k]: byte offset where line k * stride + 1 starts
        self._lines = 0  # complete lines indexed
        self._indexed = 0  # byte offset just after the last indexed line
        self._lock = threading.Lock()

    @property
    def line_count(self) -> int:
        """Complete lines indexed so far."""
        return self._lines

    @property
    def indexed_bytes(self) -> int:
        """Bytes of the file indexed so far (always up to the end of a complete line)."""
        return self._indexed

    def update(self, max_bytes: int | None = None) -> bool:
        """Index more of the file (at most about ``max_bytes``; ``None``: all there is).

        Returns True when the index has caught up with the file's complete lines.
        """
        with self._lock:
            try:
                f = open(self.path, "rb")  # noqa: SIM115
            except FileNotFoundError:
                return True
            with f:
                f.seek(self._indexed)
                budget = math.inf if max_bytes is None else max_bytes
                carry = b""
                while True:
                    chunk = f.read(self._chunk)
                    if not chunk:
                        return True
                    budget -= len(chunk)
                    data = carry + chunk if carry else chunk
                    last = data.rfind(b"\n")
                    if last < 0:
                        carry = data  # inside a long line: read on, whatever the budget
                        continue
                    self._add_lines(data, last)
                    carry = data[last + 1 :]
                    if budget <= 0:
                        return False  # always after some progress, so callers can loop

    def _add_lines(self, data: bytes, last: int) -> None:
        """Index the complete lines in ``data[: last + 1]``, which starts at ``self._indexed``."""
        lines = data[:last].split(b"\n")
        # Offset just after each line's newline: where the next line starts.
        starts = map(add, accumulate(map(len, lines)), count(self._indexed + 1))
        first = (-(self._lines + 1)) % self.stride  # first line here whose number is k * stride
        self._checkpoints.extend(islice(starts, first, None, self.stride))
        self._lines += len(lines)
        self._indexed += last + 1

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
        k = bisect.bisect_right(self._checkpoints, offset) - 1
        start = self._checkpoints[k]
        if start == offset:
            return k * self.stride
        with open(self.path, "rb") as f:
            f.seek(start)
            return k * self.stride + f.read(offset - start).count(b"\n")

    def locate(self, number: int) -> tuple[int, int]:
        """The nearest known place at or before line ``number``: (byte offset, its line number)."""
        k = min((number - 1) // self.stride, len(self._checkpoints) - 1)
        return self._checkpoints[k], k * self.stride + 1

    def read(self, start: int, count: int) -> list[LogLine]:
        """Lines ``start`` .. ``start + count - 1`` (1-based), cleaned; fewer at the file's end."""
        if start < 1:
            raise ValueError(f"line numbers start at 1, not {start}")
        if count <= 0:
            return []
        self.ensure_lines(start)
        offset, number = self.locate(start)
        try:
            f = open(self.path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return []
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
                last_ts = _last_ts(parts[:skip], last_ts)
                records.extend(parts[skip:])
        lines, _ = parse_records(records[:count], start, last_ts)
        return lines


def _last_ts(records: list[bytes], default: float | None) -> float | None:
    for record in reversed(records):
        prefix = _parse_prefix(record)
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


# --------------------------------------------------------------------------------------- follower


class LogFollower:
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

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


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
