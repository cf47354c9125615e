"""The operator's state of a run (soft pause, freeze), from the run's journal.

The agent is not trusted to say whether it is paused or frozen: it can write ``control/pause``
and ``acks.jsonl`` as it likes, and stop its own processes. So the state is mletui's own: every
pause, resume, freeze and thaw is journaled (and fsynced) by the operator's command before it is
applied, and the last of them stands. The agent's acks only refine a pause the operator asked
for: the recorder journals each ack as it reads it, so an ack journaled after the standing pause
request answers *that* request ("paused" stops the clock, "resumed" starts it again); a "paused"
ack journaled when no pause stands answers nothing (the supervisor journals a notice). A freeze
counts only while the runtime also sees the run stopped: a run that stops itself is not frozen,
and one continued from outside runs on the clock.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from mletui import protocol
from mletui.core.events import ActionRecord
from mletui.core.records import Ack, BadEntry, Record, decode
from mletui.core.safefs import open_regular

PAUSE, RESUME, FREEZE, THAW = "pause", "resume", "freeze", "thaw"

READ_CHUNK = 8 << 20

# Only operator actions and the agent's acks are parsed; the rest of a long journal (resources,
# scores) is passed over without parsing.
_WANTED_LINE = re.compile(rb'"kind"\s*:\s*"(?:action|ack)"')


@dataclass(frozen=True)
class OperatorState:
    """What the operator's own actions left standing, and the agent's answer to them."""

    paused: bool = False  # the operator's last pause/resume was pause
    acknowledged: bool = False  # the agent's latest answer to that pause says "paused"
    frozen: bool = False  # the operator's last freeze/thaw was freeze
    stray_acks: int = 0  # "paused" acks journaled while no operator pause stood

    @property
    def soft_paused(self) -> bool:
        """The clock stops: the operator's pause stands and the agent said it paused."""
        return self.paused and self.acknowledged

    def fold(self, record: Record | BadEntry) -> OperatorState:
        """This state after one journal record."""
        match record:
            case ActionRecord(action=action) if action in (PAUSE, RESUME):
                return replace(self, paused=action == PAUSE, acknowledged=False)
            case ActionRecord(action=action) if action in (FREEZE, THAW):
                return replace(self, frozen=action == FREEZE)
            case Ack(ack_kind="pause", status=status):
                if self.paused and status in ("paused", "resumed"):
                    return replace(self, acknowledged=status == "paused")
                if not self.paused and status == "paused":
                    return replace(self, stray_acks=self.stray_acks + 1)
        return self


class OperatorStateReader:
    """Follows one journal as it grows and folds its operator actions and acks: each call reads
    only the bytes appended since the last. A journal that was replaced or cut is read again
    from the start. Lines over :data:`protocol.MAX_LINE_BYTES` and lines that do not parse are
    passed over (the journal's own readers count them); nothing in the file can make this
    raise."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._reset(None)

    def _reset(self, identity: tuple[int, int] | None) -> None:
        self._identity = identity
        self._offset = 0
        self._pending = b""
        self._overlong = False  # inside a line too long to keep: skip to its end
        self.state = OperatorState()

    def read(self) -> OperatorState:
        with self._lock:
            try:
                stat = os.stat(self.path)
            except OSError:
                self._reset(None)
                return self.state
            identity = (stat.st_dev, stat.st_ino)
            if identity != self._identity or stat.st_size < self._offset:
                self._reset(identity)
            if stat.st_size > self._offset:
                self._read_new()
            return self.state

    def _read_new(self) -> None:
        try:
            fd = open_regular(self.path.parent, self.path.name, single_link=False)
        except (OSError, ValueError):
            return
        try:
            while True:
                chunk = os.pread(fd, READ_CHUNK, self._offset)
                if not chunk:
                    return
                self._offset += len(chunk)
                self._feed(chunk)
        except OSError:
            return
        finally:
            os.close(fd)

    def _feed(self, chunk: bytes) -> None:
        lines = chunk.split(b"\n")
        rest = lines.pop()  # after the last newline: a line still being written
        for i, line in enumerate(lines):
            if i == 0:
                line, skip = self._pending + line, self._overlong
                self._pending, self._overlong = b"", False
                if skip:
                    continue
            self._take(line)
        if lines:
            self._pending = rest
        elif not self._overlong:
            self._pending += rest
        if len(self._pending) > protocol.MAX_LINE_BYTES:
            self._pending, self._overlong = b"", True

    def _take(self, line: bytes) -> None:
        if len(line) > protocol.MAX_LINE_BYTES or not _WANTED_LINE.search(line):
            return
        try:
            entry = protocol.loads_untrusted(line)
        except ValueError:
            return
        self.state = self.state.fold(decode(entry))


_readers: dict[Path, OperatorStateReader] = {}
_readers_lock = threading.Lock()


def operator_state(journal_path: Path) -> OperatorState:
    """The operator's state of the run whose journal this is; a long-lived process (the TUI,
    the supervisor) keeps one reader per journal, so each call reads only what is new."""
    with _readers_lock:
        reader = _readers.get(journal_path)
        if reader is None:
            reader = _readers[journal_path] = OperatorStateReader(journal_path)
    return reader.read()
