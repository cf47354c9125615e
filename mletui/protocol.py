"""The agent's side of mletui's control protocol.

Standard library only, so this one file can be copied into any image. The protocol is plain files
in the folder named by ``MLETUI_CONTROL_DIR``:

- ``hello.json``   written by the agent at start (protocol version, name, capabilities)
- ``pause``        present while the operator asks for a soft pause
- ``hints.jsonl``  appended by mletui, one hint per line: ``{"id", "text", "ts"}``
- ``acks.jsonl``   appended by the agent: ``{"id", "kind", "status", "message", "ts"}``
- ``metrics.jsonl`` appended by the agent: ``{"step", "name", "value", "direction", "ts"}``

A Python agent calls :func:`checkpoint` between units of work: it blocks while a soft pause is
requested (acknowledging ``paused`` and ``resumed``) and returns the hints that arrived since.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROTOCOL_VERSION = 1
ENV_CONTROL_DIR = "MLETUI_CONTROL_DIR"

HELLO = "hello.json"
PAUSE = "pause"
HINTS = "hints.jsonl"
ACKS = "acks.jsonl"
METRICS = "metrics.jsonl"

CAPABILITIES = ("soft-pause", "hints", "metrics")


@dataclass(frozen=True)
class Hint:
    """A hint from the operator. Answer it with :meth:`Control.answer`."""

    id: str
    text: str
    ts: float


def append_jsonl(path: Path, record: dict[str, Any], sync: bool = False) -> None:
    """Append one JSON line in a single write, so concurrent appenders never interleave."""
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read complete JSON lines; a torn or malformed line is skipped, never fatal."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    records = []
    for line in raw.split(b"\n")[:-1]:  # the part after the last newline is still being written
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            records.append(value)
    return records


class Control:
    """One agent's connection to its control folder."""

    def __init__(
        self,
        control_dir: str | os.PathLike[str] | None = None,
        *,
        poll_interval: float = 0.2,
    ) -> None:
        path = control_dir if control_dir is not None else os.environ.get(ENV_CONTROL_DIR)
        self.dir: Path | None = Path(path) if path else None
        self.poll_interval = poll_interval
        self._step = 0

    @property
    def connected(self) -> bool:
        return self.dir is not None

    def hello(self, agent: str, capabilities: tuple[str, ...] = CAPABILITIES) -> None:
        """Announce the agent; without a hello mletui treats the run as observe-only."""
        if self.dir is None:
            return
        record = {
            "protocol": PROTOCOL_VERSION,
            "agent": agent,
            "capabilities": list(capabilities),
            "pid": os.getpid(),
            "ts": time.time(),
        }
        tmp = self.dir / (HELLO + ".tmp")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, self.dir / HELLO)

    def pause_requested(self) -> bool:
        return self.dir is not None and (self.dir / PAUSE).exists()

    def checkpoint(self) -> list[Hint]:
        """Block while a soft pause is requested; return hints not yet delivered.

        Each returned hint is acknowledged as ``received`` at once; answer it later with
        :meth:`answer` to say what the agent did with it.
        """
        if self.dir is None:
            return []
        if self.pause_requested():
            self._ack("pause", "pause", "paused", "paused at checkpoint")
            while self.pause_requested():
                time.sleep(self.poll_interval)
            self._ack("pause", "pause", "resumed", "resumed")
        return self._new_hints()

    def answer(self, hint: Hint, message: str, used: bool = True) -> None:
        """Tell the operator what the agent did with a hint."""
        self._ack(hint.id, "hint", "used" if used else "ignored", message)

    def report_metric(
        self,
        name: str,
        value: float,
        *,
        step: int | None = None,
        direction: str = "higher",
    ) -> None:
        """Report a validation score; ``direction`` is ``higher`` or ``lower`` (is better)."""
        if direction not in ("higher", "lower"):
            raise ValueError("direction must be 'higher' or 'lower'")
        if step is None:
            self._step += 1
            step = self._step
        else:
            self._step = step
        if self.dir is None:
            return
        record = {
            "step": step,
            "name": name,
            "value": float(value),
            "direction": direction,
            "ts": time.time(),
        }
        append_jsonl(self.dir / METRICS, record)

    def _ack(self, ack_id: str, kind: str, status: str, message: str) -> None:
        assert self.dir is not None
        record = {
            "id": ack_id,
            "kind": kind,
            "status": status,
            "message": message,
            "ts": time.time(),
        }
        append_jsonl(self.dir / ACKS, record)

    def _new_hints(self) -> list[Hint]:
        assert self.dir is not None
        # Delivered once: a hint already acknowledged (by this or an earlier process) is skipped.
        seen = {a.get("id") for a in read_jsonl(self.dir / ACKS) if a.get("kind") == "hint"}
        hints = []
        for record in read_jsonl(self.dir / HINTS):
            hint_id = str(record.get("id", ""))
            if not hint_id or hint_id in seen:
                continue
            hint = Hint(hint_id, str(record.get("text", "")), float(record.get("ts", 0.0)))
            self._ack(hint.id, "hint", "received", "received")
            seen.add(hint_id)
            hints.append(hint)
        return hints


_default: Control | None = None


def _control() -> Control:
    global _default
    if _default is None:
        _default = Control()
    return _default


def hello(agent: str, capabilities: tuple[str, ...] = CAPABILITIES) -> None:
    _control().hello(agent, capabilities)


def checkpoint() -> list[Hint]:
    return _control().checkpoint()


def answer(hint: Hint, message: str, used: bool = True) -> None:
    _control().answer(hint, message, used)


def report_metric(
    name: str, value: float, *, step: int | None = None, direction: str = "higher"
) -> None:
    _control().report_metric(name, value, step=step, direction=direction)
