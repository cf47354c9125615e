"""Search a run's whole log, plain text or a regular expression, at the speed of the disk.

A line matches when its text as the log pane shows it (:func:`mletui.core.sanitize.clean_line`,
never cut) matches. Cleaning every line of a long run would take seconds, so the spool is searched
in chunks of raw records, in C:

- A chunk that is printable ASCII (after its colour codes are dropped) reads exactly as it is
  shown, so the query, as a bytes pattern, finds the candidate lines with one ``search`` per
  candidate; only those are cleaned and checked.
- Lines with anything else (escape sequences, tabs, carriage returns, non-ASCII text) are few in
  a flood; each is cleaned and checked.
- A regular expression that looks at the start of a line, or around a match (``^``, ``\\A``,
  ``\\Z``, lookarounds), or is not ASCII, cannot be run on raw records: every line of such a
  search is cleaned and checked (slower, still off the UI thread, and cancellable).

Smart case: a query without capital letters ignores case. Also here: reading a time to jump to.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from mletui.core.clock import parse_duration
from mletui.core.events import Stream
from mletui.core.sanitize import clean_line
from mletui.store.spool import MALFORMED_PREFIX, LineIndex, parse_prefix

__all__ = [
    "SEARCH_CHUNK",
    "LogQuery",
    "LogSearch",
    "QueryError",
    "parse_time_target",
]

SEARCH_CHUNK = 2 << 20
"""Bytes of spool read and searched at a time (between two checks for cancellation)."""

_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\n"
_SGR = re.compile(rb"\x1b\[[0-9;:]*m")  # colour codes: dropped, as sanitize drops them
_DIRTY = re.compile(rb"[^\n\x20-\x7e]")
_PREFIXES = re.compile(rb"\n[^ \n]* [oes] ")  # a record's time stamp and stream

Cancelled = Callable[[], bool]


class QueryError(ValueError):
    """A query that cannot be searched for; the message says why, in a sentence."""


@dataclass(frozen=True)
class LogQuery:
    """What the operator searches or filters for."""

    text: str
    regex: bool = False
    case_sensitive: bool | None = None  # None: smart case (sensitive when the text has a capital)

    @property
    def ignore_case(self) -> bool:
        if self.case_sensitive is not None:
            return not self.case_sensitive
        return not _has_capital(self.text, self.regex)

    def compile(self) -> re.Pattern[str]:
        """The pattern matched against a line's text; :class:`QueryError` if there is none."""
        if not self.text:
            raise QueryError("Type something to search for.")
        flags = re.IGNORECASE if self.ignore_case else 0
        if not self.regex:
            return re.compile(re.escape(self.text), flags)
        try:
            return re.compile(self.text, flags)
        except re.error as exc:
            raise QueryError(f"Not a valid regular expression: {exc}.") from exc

    def describe(self) -> str:
        """The query as the pane shows it: ``needle`` or ``re:/need+le/``."""
        return f"re:/{self.text}/" if self.regex else self.text


def _has_capital(text: str, regex: bool) -> bool:
    """A capital letter in ``text`` (in a regex, not one naming a class, as ``\\S`` or ``\\W``)."""
    if not regex:
        return any(c.isupper() for c in text)
    return any(c.isupper() and (i == 0 or text[i - 1] != "\\") for i, c in enumerate(text))


def _raw_safe(pattern: str, *, anchors: bool = False) -> bool:
    """Whether a regex finds in a chunk of records every place it finds in one line's text
    (``anchors``: in a chunk of texts without their prefixes, where ``^`` works)."""
    if not pattern.isascii():
        return False
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if not in_class and pattern[i + 1 : i + 2] in ("A", "Z", "z"):
                return False
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 1
            if pattern[i : i + 1] == "^":
                i += 1
            if pattern[i : i + 1] == "]":
                i += 1  # "[]...]" and "[^]...]": a literal ] first
            continue
        elif (c == "^" and not anchors) or pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            return False
        i += 1
    return True


@dataclass(frozen=True)
class _RawSearch:
    """How candidate lines are found in raw records (see the module's docstring)."""

    pattern: re.Pattern[bytes]
    lower: bool  # run on the chunk lowered: case ignored (ASCII; other lines are checked anyway)
    strip: bool  # run on the chunk with the records' prefixes removed: ``^`` finds line starts


def _raw_search(query: LogQuery) -> _RawSearch | None:
    """The raw search for ``query``; None when every line must be cleaned and checked."""
    if not query.regex:
        text = query.text.lower() if query.ignore_case else query.text
        return _RawSearch(re.compile(re.escape(text.encode())), query.ignore_case, strip=False)
    strip = not _raw_safe(query.text)
    if strip and not _raw_safe(query.text, anchors=True):
        return None
    flags = re.MULTILINE
    lower = query.ignore_case
    if query.ignore_case and _has_capital(query.text, regex=True):
        # Forced case-insensitive with capitals in it: bytes IGNORECASE (slower, still C).
        flags |= re.IGNORECASE
        lower = False
    try:
        return _RawSearch(re.compile(query.text.encode(), flags), lower, strip)
    except re.error:
        return None


def _stream_at(chunk: bytes, start: int) -> Stream | None:
    """The stream of the record starting at ``start`` (None: a malformed one)."""
    prefix = parse_prefix(chunk[start : start + 32])  # time stamp and tag: 20 bytes or so
    return prefix[1] if prefix is not None else None


def _text_of(record: bytes) -> str:
    """A record's whole text, as shown (never cut)."""
    prefix = parse_prefix(record)
    if prefix is None:
        return MALFORMED_PREFIX + clean_line(record, max_chars=None)
    return clean_line(record[prefix[2] :], max_chars=None)


class LogSearch:
    """One query over one spool: the next or previous matching line, or every one (a filter)."""

    def __init__(
        self,
        index: LineIndex,
        query: LogQuery | None,
        *,
        stream: Stream | None = None,
        within: LogQuery | None = None,
        chunk_size: int = SEARCH_CHUNK,
    ) -> None:
        self.index = index
        self.query = query
        self.stream = stream  # only this stream's lines (None: every stream)
        # only lines matching this too: a search counts the lines a text filter shows
        self.within = within.compile() if within is not None else None
        self.pattern = query.compile() if query is not None else None
        self._raw = _raw_search(query) if query is not None else None
        self._chunk = chunk_size

    def matches(self, text: str) -> bool:
        return self.pattern is None or self.pattern.search(text) is not None

    def lines_in(self, chunk: bytes, first: int) -> list[int]:
        """Numbers of the matching lines in ``chunk``: whole records, the first numbered
        ``first``, the last ending in ``\\n``."""
        return [first + i for i, _ in self._hits(chunk)]

    def _hits(self, chunk: bytes) -> list[tuple[int, int]]:
        """The matching lines of ``chunk`` (whole records): (index, where the record starts)."""
        hits = self._text_hits(chunk)
        if self.stream is not None:
            hits = [(i, at) for i, at in hits if _stream_at(chunk, at) is self.stream]
        within = self.within
        if within is None:
            return hits
        return [
            (i, at)
            for i, at in hits
            if within.search(_text_of(chunk[at : chunk.index(b"\n", at)])) is not None
        ]

    def _text_hits(self, chunk: bytes) -> list[tuple[int, int]]:
        if self.pattern is None:  # every line (a filter on the stream alone)
            return list(enumerate([0, *(i + 1 for i in _newlines(chunk[:-1]))]))
        raw = self._raw
        if raw is None:
            hits, start = [], 0
            for i, record in enumerate(chunk[:-1].split(b"\n")):
                if self.matches(_text_of(record)):
                    hits.append((i, start))
                start += len(record) + 1
            return hits
        hay = chunk
        if raw.strip:
            hay = _PREFIXES.sub(b"\n", b"\n" + hay)[1:]
        dirty: list[tuple[int, int]] = []
        if not _clean(hay):
            hay = _SGR.sub(b"", hay)  # no newline in a colour code: line numbers stay
            if not _clean(hay):
                dirty = _lines_hit(_DIRTY, hay)
        if raw.lower:
            hay = hay.lower()
        candidates = _lines_hit(raw.pattern, hay, text_only=not raw.strip)
        if dirty:
            candidates = sorted(set(candidates).union(dirty))
        if not candidates:
            return []
        if len(hay) != len(chunk):  # prefixes or colour codes dropped: find the records again
            starts = [0, *(i + 1 for i in _newlines(chunk))]
            candidates = [(i, starts[i]) for i, _ in candidates]
        return [
            (i, start)
            for i, start in candidates
            if self.matches(_text_of(chunk[start : chunk.index(b"\n", start)]))
        ]

    def find(
        self,
        start: int,
        direction: int,
        *,
        cancelled: Cancelled | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> int | None:
        """The first matching line at ``start`` or after it (``direction`` 1), or the last one at
        ``start`` or before it (-1), among the lines indexed; None if there is none (or the
        search was cancelled). Only a hit is numbered (from the index), not every line read."""
        total = self.index.line_count
        if total == 0:
            return None
        start = min(max(start, 1), total)
        if direction >= 0:
            begin, end = self.index.offset_of(start), self.index.offset_of(total + 1)
            chunks = self._forward(begin, end)
        else:
            begin, end = 0, self.index.offset_of(start + 1)
            chunks = self._backward(end)
        span = max(1, end - begin)
        for data, offset in chunks:
            if cancelled is not None and cancelled():
                return None
            hits = self._hits(data)
            if hits:
                _, at = hits[0] if direction >= 0 else hits[-1]
                return self.index.lines_before(offset + at) + 1
            if progress is not None:
                done = offset + len(data) - begin if direction >= 0 else end - offset
                progress(min(1.0, done / span))
        return None

    def scan(
        self, start: int = 1, *, cancelled: Cancelled | None = None
    ) -> Iterator[tuple[list[int], int]]:
        """Every matching line from ``start`` to the indexed end, a chunk at a time: yields the
        matching numbers and the number of the next line to scan (a filter follows a growing
        log by scanning again from there)."""
        total = self.index.line_count
        if start > total:
            return
        number = start
        begin, end = self.index.offset_of(start), self.index.offset_of(total + 1)
        for data, _ in self._forward(begin, end):
            if cancelled is not None and cancelled():
                return
            yield self.lines_in(data, number), number + data.count(b"\n")
            number += data.count(b"\n")

    def _forward(self, offset: int, end: int) -> Iterator[tuple[bytes, int]]:
        """Chunks of whole records from ``offset`` to ``end``, and where each starts."""
        with open(self.index.path, "rb") as f:
            while offset < end:
                data = _read_lines_from(f, offset, end, self._chunk)
                if not data:
                    return
                yield data, offset
                offset += len(data)

    def _backward(self, pos: int) -> Iterator[tuple[bytes, int]]:
        """Chunks of whole records, the last first, from ``pos`` (a line start) back to the
        start of the file, and where each starts."""
        with open(self.index.path, "rb") as f:
            while pos > 0:
                size = self._chunk
                while True:
                    begin = max(0, pos - size)
                    f.seek(begin)
                    data = f.read(pos - begin)
                    cut = 0 if begin == 0 else data.find(b"\n") + 1
                    if begin == 0 or 0 < cut < len(data):
                        break
                    size *= 2  # a line longer than the window: widen it
                yield data[cut:], begin + cut
                pos = begin + cut


def _newlines(data: bytes) -> Iterator[int]:
    """Where the newlines of ``data`` are."""
    find = data.find
    at = find(b"\n")
    while at >= 0:
        yield at
        at = find(b"\n", at + 1)


def _read_lines_from(f: BinaryIO, offset: int, end: int, size: int) -> bytes:
    """Whole records from ``offset`` (a line start), about ``size`` bytes, never past ``end``."""
    f.seek(offset)
    data = f.read(min(size, end - offset))
    cut = data.rfind(b"\n") + 1
    while cut == 0 and offset + len(data) < end:  # a line longer than size: read on
        more = f.read(min(size, end - offset - len(data)))
        if not more:
            break
        data += more
        cut = data.rfind(b"\n") + 1
    return data[:cut]


def _clean(hay: bytes) -> bool:
    """Printable ASCII and newlines only: each line reads exactly as it is shown."""
    return hay.isascii() and not hay.translate(None, _PRINTABLE)


def _lines_hit(
    pattern: re.Pattern[bytes], hay: bytes, *, text_only: bool = False
) -> list[tuple[int, int]]:
    """The lines of ``hay`` where ``pattern`` starts a match, each once: (index, where it starts).
    ``text_only``: not a match that starts in a record's prefix (its time stamp and stream)."""
    found: list[tuple[int, int]] = []
    search, count, find, rfind = pattern.search, hay.count, hay.find, hay.rfind
    pos = counted = line = 0
    end = len(hay)  # hay ends with a newline: nothing starts after it
    while (m := search(hay, pos)) is not None and (at := m.start()) < end:
        start = rfind(b"\n", 0, at) + 1
        if text_only:
            space = find(b" ", start, at + 1)
            if space >= 0 and at < space + 3:
                pos = space + 3  # look again from where this line's text starts
                continue
        line += count(b"\n", counted, at)
        counted = at
        found.append((line, start))
        nl = find(b"\n", at)
        if nl < 0:
            break
        pos = nl + 1  # on from the next line, whatever this match spanned
    return found


# ------------------------------------------------------------------------------------ time jump

_CLOCK = re.compile(r"^(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}(?:\.\d*)?))?$")

TIME_HELP = (
    "Give a wall-clock time (14:05, 14:05:30, 2026-11-30 14:05), a run-clock offset "
    "(+1h20m, +0:45:00) or a time before the newest line (-10m)."
)


def _duration_or_none(text: str) -> float | None:
    try:
        return parse_duration(text)
    except ValueError:
        return None


def parse_time_target(text: str, *, run_start: float | None, newest: float) -> float:
    """The epoch time an operator means by ``text``; :class:`ValueError` with :data:`TIME_HELP`.

    ``+1h20m`` / ``1h20m`` / ``+1:20``: that long after the run started (the run clock).
    ``-10m``: that long before ``newest`` (the newest line). ``14:05`` / ``14:05:30``: that time
    of day, local, on the day of the newest line (the day before if that is later than it).
    ``2026-11-30 14:05``: that moment, local time.
    """
    text = text.strip()
    if text[:1] in "+-" and text[1:2] != "":
        seconds = _duration_or_none(text[1:])
        if seconds is None:
            raise ValueError(TIME_HELP)
        if text[0] == "-":
            return newest - seconds
        if run_start is None:
            raise ValueError("This run has no start time yet: give a wall-clock time instead.")
        return run_start + seconds
    clock = _CLOCK.match(text)
    if clock is not None:
        hour, minute = int(clock["h"]), int(clock["m"])
        second = float(clock["s"] or 0)
        if hour > 23 or minute > 59 or second >= 60:
            raise ValueError(TIME_HELP)
        day = dt.datetime.fromtimestamp(newest).replace(
            hour=hour, minute=minute, second=int(second), microsecond=int(second % 1 * 1e6)
        )
        target = day.timestamp()
        return target - 86400 if target > newest + 1 else target
    try:
        return dt.datetime.fromisoformat(text.replace(" ", "T", 1)).timestamp()
    except ValueError:
        pass
    seconds = _duration_or_none(text) if any(unit in text for unit in "hms") else None
    if seconds is None:
        raise ValueError(TIME_HELP)
    if run_start is None:
        raise ValueError("This run has no start time yet: give a wall-clock time instead.")
    return run_start + seconds
