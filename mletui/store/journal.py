"""The journal: a run's append-only record of everything observed and every operator action.

One JSON object per line in ``journal.jsonl``, each with ``ts`` (wall clock) and ``kind``. Several
processes append (the supervisor, the CLI, any TUI), all through :meth:`Journal.append`: under a
lock it reads the previous entry's mac from the run's anchor, writes the line in one ``write`` on an
``O_APPEND`` descriptor, then moves the anchor on. Every line ends with ``"prev"`` (the mac of the
entry before; the first entry's is derived from the run id) and ``"mac"``: the HMAC-SHA256, with the
operator's key, of the exact bytes before it. The key and the anchor live outside the run folder
(:mod:`mletui.store.keys`), so an agent that can write the folder cannot change, remove, reorder or
forge an entry, cut the tail or drop the head unseen (:mod:`mletui.store.audit` says where).
Operator actions are fsynced before they are applied. Readers skip a torn last line (a crash
mid-write) and count what they skipped."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mletui.core.records import Record, to_entry
from mletui.core.safefs import NotARegularFile, open_for_writing, open_regular
from mletui.protocol import clean_value, loads_untrusted
from mletui.store import keys

Entry = dict[str, Any]

MAC_FIELD = b', "mac": "'
ANCHOR_MAX_BYTES = 4096


def genesis(key: bytes, run_id: str) -> str:
    """The ``prev`` of a run's first entry: tied to the run, so no other run's journal (nor
    its first entries) passes for this one's."""
    return keys.mac(key, b"mletui journal of run " + run_id.encode("utf-8", "surrogateescape"))


def sealed_line(body: Entry, key: bytes) -> tuple[bytes, str]:
    """One journal line whose last field is the HMAC of the exact bytes before it, and that mac.

    Sealing the bytes as written (not a re-serialisation) means any changed byte is noticed,
    even one that would parse back to the same value.
    """
    text = json.dumps(body, ensure_ascii=False).encode("utf-8", "backslashreplace")
    mac = keys.mac(key, text)
    return text[:-1] + MAC_FIELD + mac.encode() + b'"}\n', mac


def split_sealed(line: bytes) -> tuple[bytes, bytes] | None:
    """The bytes a line's mac seals and the mac it claims; None when it carries no mac."""
    head, sep, tail = line.rstrip(b"\n").rpartition(MAC_FIELD)
    if not sep or len(tail) != 66 or not tail.endswith(b'"}'):
        return None
    return head + b"}", tail[:64]


@dataclass(frozen=True)
class Anchor:
    """What the anchor outside the run folder says: entries written, the last one's mac, and
    the journal's size just after it was written (None in an anchor from before sizes)."""

    count: int
    mac: str
    size: int | None = None


def parse_anchor(data: bytes) -> Anchor | None:
    try:
        value = json.loads(data)
        size = value.get("size")
        return Anchor(int(value["count"]), str(value["mac"]), None if size is None else int(size))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None


def catch_up(anchor: Anchor, tail: bytes, key: bytes) -> Anchor:
    """The anchor moved past the entries in ``tail`` (the journal's bytes after ``anchor.size``)
    that a writer sealed but was killed before it could anchor: each must carry a valid mac and
    follow the one before; the first that does not (the agent's, or a torn line) stops it."""
    assert anchor.size is not None
    size = anchor.size
    for line in tail.split(b"\n")[:-1]:
        sealed = split_sealed(line)
        if sealed is None or not keys.mac_ok(key, *sealed):
            break
        try:
            prev = json.loads(sealed[0]).get("prev")
        except (ValueError, AttributeError, RecursionError):
            break
        if prev != anchor.mac:
            break
        size += len(line) + 1
        anchor = Anchor(anchor.count + 1, sealed[1].decode(), size)
    return anchor


def read_anchor(run_id: str) -> Anchor | None:
    """The run's anchor, read while no writer is half-way; None when it is missing or garbled."""
    try:
        fd = keys.open_anchor(run_id, create=False)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        return parse_anchor(os.pread(fd, ANCHOR_MAX_BYTES, 0))
    finally:
        os.close(fd)


class Journal:
    """The writing side of a run's journal (the run id is its folder's name)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.run_id = path.parent.name
        self._checked_tail = False

    def append(self, kind: str, data: dict[str, Any] | None = None, *, sync: bool = False) -> Entry:
        """Seal and append one entry; with ``sync`` the line and the anchor reach the disk first.

        The anchor is the lock: the mac it holds is the previous entry's whoever wrote it, and
        the lock lives outside the run folder, so the agent cannot hold it.
        """
        body: Entry = {"ts": time.time(), "kind": kind}
        if data:
            body.update(data)
        body.pop("mac", None)
        key = keys.journal_key()
        fd = keys.open_anchor(self.run_id, create=True)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # Never through a link or into a fifo the agent put in the journal's place.
            journal = open_for_writing(self.path, append=True, readable=True)
            try:
                anchor, size = self._anchor(fd, journal, key)
                body["prev"] = anchor.mac
                line, mac = sealed_line(body, key)
                size = self._write(journal, line, size, sync)
            finally:
                os.close(journal)
            record = json.dumps({"count": anchor.count + 1, "mac": mac, "size": size}).encode()
            os.pwrite(fd, record, 0)
            os.ftruncate(fd, len(record))
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)  # and with it the lock
        return {**body, "mac": mac}

    def write(self, record: Record, *, sync: bool = False) -> Entry:
        """Append one record (its time is now, whatever ``record.ts`` says)."""
        entry = to_entry(record)
        del entry["ts"]
        return self.append(entry.pop("kind"), entry, sync=sync)

    def _anchor(self, anchor_fd: int, journal: int, key: bytes) -> tuple[Anchor, int]:
        """The anchor to chain from: as written, moved past any entry a writer killed between
        its line and its anchor left (so that such a crash is not read as tampering); and the
        journal's size."""
        anchor = parse_anchor(os.pread(anchor_fd, ANCHOR_MAX_BYTES, 0))
        if anchor is None:
            anchor = Anchor(0, genesis(key, self.run_id))
        size = os.fstat(journal).st_size
        if anchor.size is not None and 0 <= anchor.size < size:
            tail = os.pread(journal, min(size - anchor.size, JOURNAL_MAX_LINE), anchor.size)
            anchor = catch_up(anchor, tail, key)
        if not self._checked_tail:
            self._checked_tail = True
            if size and os.pread(journal, 1, size - 1) != b"\n":
                size += os.write(journal, b"\n")  # a torn last line (a crash): ours starts anew
        return anchor, size

    def write_chained(self, record: Record) -> Entry:
        """An operator entry: sealed like every other, and on disk before it is acted upon."""
        return self.write(record, sync=True)

    def _write(self, fd: int, line: bytes, size: int, sync: bool) -> int:
        """Write one line whole at the end (``size``), and return the new size; or leave the
        journal as it was (a full disk): the anchor is not moved on, and no torn line is left
        for the audit to read as another hand's."""
        try:
            if os.write(fd, line) != len(line):
                raise OSError(errno.ENOSPC, "journal line written in part", str(self.path))
            if sync:
                os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)  # every writer holds the anchor's lock: this is ours
            raise
        return size + len(line)


@dataclass(frozen=True)
class JournalRead:
    entries: list[Entry]
    skipped: int  # malformed lines, and a torn last line


def read_journal(path: Path) -> JournalRead:
    """Read a whole journal, skipping (and counting) malformed lines and a torn last line."""
    follower = JournalFollower(path)
    entries: list[Entry] = []
    skipped = 0
    while True:
        new, bad = follower.read_new()
        entries += new
        skipped += bad
        if not follower.more:
            break
    if follower.pending or follower.dropping:
        skipped += 1
    return JournalRead(entries, skipped)


JOURNAL_MAX_LINE = 64 << 20
"""The longest journal line read (a snapshot of a large workspace lists every file)."""

_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


@dataclass(frozen=True)
class Line:
    """One complete line of a followed file: its parsed value, or why it has none."""

    value: Any = None
    problem: str | None = None  # "nested too deeply", "longer than 1048576 bytes (dropped unread)"


class JournalFollower:
    """Reads a journal (or an agent's protocol file) that is still growing: complete lines, each
    exactly once. Memory stays bounded: a line longer than ``max_line`` bytes is dropped as it
    is read (the bytes up to its newline are skipped, never held) and reported as a problem."""

    def __init__(
        self, path: Path, *, require_kind: bool = True, max_line: int = JOURNAL_MAX_LINE
    ) -> None:
        self.path = path
        self.require_kind = require_kind  # False: any JSON object (the agent's protocol files)
        self.max_line = max_line
        self.offset = 0
        self.pending = b""  # bytes after the last newline: a line still being written
        self.dropping = False  # inside a line already longer than max_line: skip to its newline
        self.more = False  # the last read stopped at max_bytes: more is there to read
        self.refused = False  # the path is a link, a fifo or a device: not read (said once)

    def read_new(self, max_bytes: int = 8 << 20) -> tuple[list[Entry], int]:
        """The journal entries appended since the last call, and how many lines were skipped."""
        entries: list[Entry] = []
        skipped = 0
        for line in self.read_lines(max_bytes):
            if line.problem is None and self._wanted(line.value):
                entries.append(line.value)
            else:
                skipped += 1
        return entries, skipped

    def read_lines(self, max_bytes: int = 8 << 20) -> list[Line]:
        """Every complete line appended since the last call, parsed (untrusted: any bytes)."""
        return [self._parse(raw) if isinstance(raw, bytes) else raw for raw in self._raw(max_bytes)]

    def _wanted(self, value: Any) -> bool:
        return isinstance(value, dict) and ("kind" in value or not self.require_kind)

    def _raw(self, max_bytes: int) -> list[bytes | Line]:
        try:
            fd = open_regular(self.path.parent, self.path.name, single_link=False)
        except (FileNotFoundError, NotADirectoryError):
            self.more = False
            return []
        except NotARegularFile as exc:  # said once, until it is a regular file again
            self.more = False
            refused, self.refused = self.refused, True
            return [] if refused else [Line(problem=str(exc))]
        self.refused = False
        try:
            chunk = os.pread(fd, max_bytes, self.offset)
        finally:
            os.close(fd)
        self.more = len(chunk) == max_bytes
        if not chunk:
            return []
        self.offset += len(chunk)
        out: list[bytes | Line] = []
        start = 0
        if self.dropping:
            end = chunk.find(b"\n")
            if end < 0:
                return []
            self.dropping = False
            start = end + 1
        too_long = Line(problem=f"longer than {self.max_line} bytes (dropped unread)")
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            if len(self.pending) + end - start > self.max_line:
                out.append(too_long)
            else:
                line = self.pending + chunk[start:end]
                if line.strip():
                    out.append(line)
            self.pending = b""
            start = end + 1
        rest = chunk[start:]
        if len(self.pending) + len(rest) > self.max_line:
            self.pending = b""
            self.dropping = True
            out.append(too_long)
        else:
            self.pending += rest
        return out

    def _parse(self, line: bytes) -> Line:
        if self.require_kind:  # mletui's own journal: the fast path, made safe all the same
            try:
                value = json.loads(line)
                if _ESCAPED_SURROGATE.search(line):
                    value = clean_value(value)
            except (ValueError, RecursionError):
                return Line(problem="not JSON")
            return Line(value)
        try:
            value = loads_untrusted(line.decode("utf-8", "surrogateescape"), self.max_line)
        except json.JSONDecodeError as exc:
            return Line(problem=f"not JSON ({exc.msg})")
        except ValueError as exc:  # too deep, a number too long to read, ...
            return Line(problem=str(exc)[:200])
        except RecursionError:
            return Line(problem="nested too deeply")
        if not isinstance(value, dict):
            return Line(problem="not a JSON object")
        return Line(value)
