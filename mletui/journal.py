"""The journal: a run's append-only record of everything observed and every operator action.

One JSON object per line in ``journal.jsonl``, each with ``ts`` (wall clock) and ``kind``. Several
processes append (the supervisor, the CLI, any TUI); each line goes out in one ``write`` on an
``O_APPEND`` descriptor so lines never interleave. Operator actions are fsynced before they are
applied. Readers skip a torn last line (a crash mid-write) and count what they skipped.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mletui.protocol import append_jsonl, clean_value, loads_untrusted
from mletui.safefs import NotARegularFile, open_regular

Entry = dict[str, Any]

CHAIN_HEAD = "journal.head"
GENESIS = "0" * 64


HASH_FIELD = b', "hash": "'


def sealed_line(body: Entry) -> bytes:
    """One journal line whose last field is the SHA-256 of the exact bytes before it.

    Hashing the bytes as written (not a re-serialisation) means any changed byte is noticed,
    even one that would parse back to the same value.
    """
    text = json.dumps(body, ensure_ascii=False).encode("utf-8")
    digest = hashlib.sha256(text).hexdigest()
    return text[:-1] + HASH_FIELD + digest.encode() + b'"}\n'


def line_hash_ok(line: bytes) -> bool:
    """True when a sealed line's hash matches the bytes it seals."""
    head, sep, tail = line.rpartition(HASH_FIELD)
    if not sep or not tail.endswith(b'"}') or len(tail) != 66:
        return False
    return hashlib.sha256(head + b"}").hexdigest().encode() == tail[:64]


def read_chain_head(path: Path) -> tuple[int, str]:
    try:
        head = json.loads(path.read_text(encoding="utf-8"))
        return int(head["count"]), str(head["hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0, GENESIS


class Journal:
    """The writing side of a run's journal."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._checked_tail = False

    def append(self, kind: str, data: dict[str, Any] | None = None, *, sync: bool = False) -> Entry:
        entry: Entry = {"ts": time.time(), "kind": kind}
        if data:
            entry.update(data)
        if not self._checked_tail:
            self._seal_torn_tail()
        append_jsonl(self.path, entry, sync=sync)
        return entry

    def append_chained(self, kind: str, data: dict[str, Any]) -> Entry:
        """Append an operator entry that carries the hash of the one before (fsynced).

        The chain's head (count and last hash) is kept beside the journal, so that `audit` also
        notices operator entries cut off the end. A lock makes concurrent operators take turns.
        """
        head_path = self.path.with_name(CHAIN_HEAD)
        with self.path.with_name(".journal.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                count, prev = read_chain_head(head_path)
                entry: Entry = {"ts": time.time(), "kind": kind, **data, "prev": prev}
                line = sealed_line(entry)
                entry = json.loads(line)
                if not self._checked_tail:
                    self._seal_torn_tail()
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, line)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                tmp = head_path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps({"count": count + 1, "hash": entry["hash"]}))
                os.replace(tmp, head_path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return entry

    def _seal_torn_tail(self) -> None:
        """End a torn last line (left by a crash) so our first entry starts a line of its own."""
        self._checked_tail = True
        try:
            with self.path.open("rb") as f:
                f.seek(0, 2)
                if f.tell() == 0:
                    return
                f.seek(-1, 2)
                last = f.read(1)
        except FileNotFoundError:
            return
        if last != b"\n":
            with self.path.open("ab") as f:
                f.write(b"\n")


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
