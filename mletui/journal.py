"""The journal: a run's append-only record of everything observed and every operator action.

One JSON object per line in ``journal.jsonl``, each with ``ts`` (wall clock) and ``kind``. Several
processes append (the supervisor, the CLI, any TUI); each line goes out in one ``write`` on an
``O_APPEND`` descriptor so lines never interleave. Operator actions are fsynced before they are
applied. Readers skip a torn last line (a crash mid-write) and count what they skipped.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mletui.protocol import append_jsonl

Entry = dict[str, Any]


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
    entries, skipped = follower.read_new()
    if follower.pending:
        skipped += 1
    return JournalRead(entries, skipped)


class JournalFollower:
    """Reads a journal that is still growing: only complete lines, each exactly once."""

    def __init__(self, path: Path, *, require_kind: bool = True) -> None:
        self.path = path
        self.require_kind = require_kind  # False: any JSON object (the agent's protocol files)
        self.offset = 0
        self.pending = b""  # bytes after the last newline: a line still being written

    def read_new(self, max_bytes: int = 8 << 20) -> tuple[list[Entry], int]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                chunk = f.read(max_bytes)
        except FileNotFoundError:
            return [], 0
        if not chunk:
            return [], 0
        self.offset += len(chunk)
        data = self.pending + chunk
        lines = data.split(b"\n")
        self.pending = lines.pop()
        entries: list[Entry] = []
        skipped = 0
        for line in lines:
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                skipped += 1
                continue
            if isinstance(value, dict) and ("kind" in value or not self.require_kind):
                entries.append(value)
            else:
                skipped += 1
        return entries, skipped
