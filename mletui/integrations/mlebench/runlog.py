"""Follow an MLE-bench ``run.log`` like ``tail -F`` and unwrap it into the agent's own lines.

MLE-bench logs with ``[%(asctime)s] [%(filename)s:%(lineno)d] %(message)s``. The agent's output
arrives as ``[...] [run.py:63] [Container] <chunk>``, one record per chunk of ``docker exec``'s
stream, and a chunk can hold several lines: the lines after the first have no prefix. Everything
else (``Running agent...``, ``Run completed in X seconds.``, ``Run failed for seed ...`` and its
traceback) is the harness's own and comes out as :attr:`Stream.SYSTEM` lines, marked.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from mletui.core.events import LogLine, Stream
from mletui.core.sanitize import clean_line

HEADER_RE = re.compile(
    rb"^\[(?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:,(?P<ms>\d{1,3}))?\] "
    rb"\[(?P<file>[^\]\s:]+):(?P<line>\d+)\] ?(?P<msg>.*)$"
)
CONTAINER = b"[Container] "
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
        match = HEADER_RE.match(raw)
        if match is not None:
            self._ts = _header_time(match) or time.time()
            msg = match["msg"]
            if msg.startswith(CONTAINER):
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
