"""Follow an MLE-bench ``run.log`` like ``tail -F`` and unwrap it into the agent's own lines.

MLE-bench logs with ``[%(asctime)s] [%(filename)s:%(lineno)d] %(message)s``. The agent's output
arrives as ``[...] [run.py:63] [Container] <chunk>``, one record per chunk of ``docker exec``'s
stream, and a chunk can hold several lines: the lines after the first have no prefix. Everything
else (``Running agent...``, ``Run completed in X seconds.``, ``Run failed for seed ...`` and its
traceback) is the harness's own and comes out as :attr:`Stream.SYSTEM` lines, marked.

Only the harness's own files (``run.py``, ``run_agent.py``) write into ``run.log``, so a line is a
new record only when its header names one of them; inside an agent's chunk, a header-looking line
is also the agent's when it claims a time before the chunk's (no later record is older). What
still looks like a harness record there is told apart by what follows it (see
:mod:`mletui.integrations.mlebench.runs`, which reads a run's state).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mletui.core.events import LogLine, Stream
from mletui.core.sanitize import clean_line

HEADER_RE = re.compile(
    rb"^\[(?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:,(?P<ms>\d{1,3}))?\] "
    rb"\[(?P<file>[^\]\s:]+):(?P<line>\d+)\] ?(?P<msg>.*)$"
)
CONTAINER = b"[Container] "
HARNESS_FILES = frozenset({b"run.py", b"run_agent.py"})
HARNESS_MARK = "[mle-bench] "
READ_BYTES = 1 << 20


def parse_header_time(line: bytes) -> float | None:
    """The time of a record's first line (the harness machine's local time), or None."""
    match = HEADER_RE.match(line.rstrip(b"\r"))
    return None if match is None else _header_time(match)


def _header_time(match: re.Match[bytes]) -> float | None:
    try:
        base = time.mktime(time.strptime(match["ts"].decode(), "%Y-%m-%d %H:%M:%S"))
    except (ValueError, OverflowError):
        return None
    ms = match["ms"]
    return base + (int(ms) / 1000.0 if ms else 0.0)


class RecordSplitter:
    """Tells, line by line, where a harness record starts; the rest are its further lines."""

    def __init__(self) -> None:
        self.chunk_ts: float | None = None  # the time of the agent's chunk being read, if any

    def start(self, raw: bytes) -> tuple[re.Match[bytes], float | None, bool] | None:
        """(header, time, is a [Container] chunk) when ``raw`` starts a record, else None."""
        match = HEADER_RE.match(raw)
        if match is None or match["file"] not in HARNESS_FILES:
            return None
        ts = _header_time(match)
        if self.chunk_ts is not None and (ts is None or ts < self.chunk_ts):
            return None  # the agent's line: a record written later is never older
        container = match["msg"].startswith(CONTAINER)
        self.chunk_ts = ts if container else None
        return match, ts, container


@dataclass(frozen=True)
class HarnessRecord:
    """One record of ``run.log``: its time, whether it is an agent's chunk, its first line."""

    ts: float | None
    container: bool
    message: str


def harness_records(lines: Iterable[bytes]) -> list[HarnessRecord]:
    """The records that start among ``lines`` (a chunk's further lines belong to it)."""
    splitter = RecordSplitter()
    records = []
    for raw in lines:
        found = splitter.start(raw.rstrip(b"\r"))
        if found is not None:
            match, ts, container = found
            records.append(HarnessRecord(ts, container, clean_line(match["msg"])))
    return records


class RunLogFollower:
    """``tail -F`` over ``run.log``: waits for it to appear, reopens it when it is replaced or
    truncated, holds a partly written last line back until its newline arrives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._inode: tuple[int, int] | None = None
        self._offset = 0
        self._partial = b""
        self._pending: list[LogLine] = []
        self._ts: float | None = None  # the current record's time
        self._stream = Stream.SYSTEM  # the current record's stream
        self._number = 0
        self._records = RecordSplitter()

    def read_new(self, max_lines: int = 5000) -> list[LogLine]:
        if len(self._pending) < max_lines:
            self._read()
        out, self._pending = self._pending[:max_lines], self._pending[max_lines:]
        return out

    def _read(self) -> None:
        try:
            st = os.stat(self.path)
        except OSError:
            return
        inode = (st.st_dev, st.st_ino)
        if inode != self._inode or st.st_size < self._offset:
            self._inode, self._offset, self._partial = inode, 0, b""  # new or truncated: from 0
            self._records = RecordSplitter()
        if st.st_size == self._offset:
            return
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read(READ_BYTES)
        except OSError:
            return
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            self._pending.extend(self._unwrap(raw.rstrip(b"\r")))

    def _unwrap(self, raw: bytes) -> list[LogLine]:
        found = self._records.start(raw)
        if found is not None:
            match, ts, container = found
            self._ts = ts or time.time()
            msg = match["msg"]
            if container:
                self._stream = Stream.STDOUT
                text = clean_line(msg[len(CONTAINER) :])
            else:
                self._stream = Stream.SYSTEM
                text = HARNESS_MARK + clean_line(msg)
        else:  # a further line of the same record: a chunk's next line, a traceback's line
            text = clean_line(raw)
            if self._stream is Stream.SYSTEM:
                text = HARNESS_MARK + text
        self._number += 1
        ts = self._ts if self._ts is not None else time.time()
        return [LogLine(ts, self._stream, text, self._number)]
