"""The agent's side of mletui's control protocol.

Standard library only, so this file can be copied into any image (mletui's own side, which never
trusts what is in the folder, is :mod:`mletui.store.controlfiles`). The protocol is plain files in
the folder named by ``MLETUI_CONTROL_DIR``:

- ``hello.json``   written by the agent at start (protocol version, name, capabilities)
- ``pause``        present while the operator asks for a soft pause
- ``hints.jsonl``  appended by mletui, one hint per line: ``{"id", "text", "ts"}``
- ``acks.jsonl``   appended by the agent: ``{"id", "kind", "status", "message", "ts"}``
- ``metrics.jsonl`` appended by the agent: ``{"step", "name", "value", "direction", "ts"}``
- ``events.jsonl`` appended by the agent (optional): what it wants in the run's journal, one
  ``{"kind", ..., "ts"}`` per line. ``step``: a summary of one step (``step``, ``stage``,
  ``parent``, ``plan``, ``outcome``, ``metric``, ``tokens_in``, ``tokens_out``, ``cost``,
  ``seconds``, and optionally ``status``: running, ok, buggy or skipped; ``error``: a buggy step's
  error type; ``analysis``; ``hint_used``; ``started``), reported again as it changes;
  ``model_output``: text of a step's model reply as it streams (``step``, ``text``: the part
  that arrived since the last line, ``done``); ``usage``: one model call (``tokens_in``,
  ``tokens_out``, ``cost``, ``model``);
  ``budget``: the agent's own limits (``max_cost``, ``max_steps``, ``model``); ``notice``: a
  line for the operator (``text``, ``severity``), such as a retried model call; ``ask``: a
  question for the operator (``id``, ``text``), raised as an alert and answered as a hint. Costs are
  estimates in US dollars. mletui validates each line and copies it into the journal.
- ``validate.jsonl``  appended by the agent: ``{"id", "path", "ts"}``, a request to check the
  submission at ``path`` (relative to the submission folder) with the task's submission checks
- ``validated.jsonl`` appended by mletui: ``{"id", "valid", "reasons", "ts"}``, the answer: valid,
  or the first reasons it is not; never a score. Requests are bounded (a few a minute). mletui
  makes the file when it starts answering: without it, nobody answers.

A Python agent calls :func:`checkpoint` between units of work: it blocks while a soft pause is
requested (acknowledging ``paused`` and ``resumed``) and returns the hints that arrived since,
and :func:`validate_submission` before it writes its final submission (``python -m
mletui.protocol validate [PATH]`` does the same from a shell).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

PROTOCOL_VERSION = 1
ENV_CONTROL_DIR = "MLETUI_CONTROL_DIR"

HELLO = "hello.json"
PAUSE = "pause"
HINTS = "hints.jsonl"
ACKS = "acks.jsonl"
METRICS = "metrics.jsonl"
EVENTS = "events.jsonl"
VALIDATE = "validate.jsonl"
VALIDATED = "validated.jsonl"
ENV_SUBMISSION_DIR = "MLETUI_SUBMISSION_DIR"
SUBMISSION_FILE = "submission.csv"
VALIDATE_TIMEOUT_S = 180.0  # mletui checks in a child process, one request at a time

CAPABILITIES = ("soft-pause", "hints", "metrics")
STEP_STATUSES = ("running", "ok", "buggy", "skipped")

MAX_MODEL_OUTPUT = 64_000
"""The most characters of one step's model output that are reported (mletui keeps no more)."""
MODEL_OUTPUT_EVERY_S = 0.5
"""Streamed model output is written at most this often a step (the rest waits in a buffer)."""

_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass(frozen=True)
class Hint:
    """A hint from the operator. Answer it with :meth:`Control.answer`."""

    id: str
    text: str
    ts: float


@dataclass(frozen=True)
class Validation:
    """mletui's answer to :meth:`Control.validate_submission`."""

    valid: bool
    reasons: tuple[str, ...]  # why not, first reason first; empty when valid
    answered: bool = True  # False: no answer came (no control folder, or the timeout)

    def __str__(self) -> str:
        if self.valid:
            return "Submission is valid."
        return "Submission invalid! " + " ".join(self.reasons)


_SURROGATE = re.compile("[\ud800-\udfff]")

MAX_LINE_BYTES = 1 << 20
"""The longest protocol line mletui reads (1 MiB); a longer one is dropped with a notice."""

MAX_DEPTH = 64
"""The deepest nesting of arrays and objects mletui accepts in anything an agent wrote."""


def clean_text(text: str) -> str:
    """``text`` as it can always be encoded: a file name's undecodable bytes (surrogate escapes)
    become ``\\xNN``, any other lone surrogate becomes U+FFFD. Valid text comes back as it is."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)


def clean_value(value: Any, depth: int = 0) -> Any:
    """A parsed JSON value with every string (keys too) passed through :func:`clean_text`;
    ValueError when it nests deeper than :data:`MAX_DEPTH`."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_value(v, depth + 1) for v in value]
    return value


def loads_untrusted(data: bytes | str, max_bytes: int = MAX_LINE_BYTES) -> Any:
    """Parse JSON that an agent (or anyone but mletui) may have written. Every way it can be
    bad (too long, not UTF-8, nested too deep, not JSON) is a ValueError with a short reason;
    the value's strings are safe to encode (:func:`clean_text`)."""
    if len(data) > max_bytes:
        raise ValueError(f"longer than {max_bytes} bytes")
    try:
        value = json.loads(data)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc
    if _plainly_clean(data):  # most files: ``ls`` parses thousands of them
        return value
    return clean_value(value)


def _plainly_clean(data: bytes | str) -> bool:
    """Whether :func:`clean_value` would give back the very value ``data`` parses to: ASCII with
    no NUL (parsed as UTF-8) and no ``\\u`` escape has no surrogate in any string, and with at
    most :data:`MAX_DEPTH` brackets nothing nests deeper than that."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if not raw.isascii() or b"\\u" in raw or b"\x00" in raw:
        return False
    return raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH


def _open_to_append(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)


def append_jsonl(
    path: Path,
    record: dict[str, Any],
    sync: bool = False,
    opener: Callable[[Path], int] = _open_to_append,
) -> None:
    """Append one JSON line in a single write, so concurrent appenders never interleave;
    ``opener`` gives the descriptor (mletui's refuses a link in the file's place)."""
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    fd = opener(path)
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
    return records_of(raw.split(b"\n")[:-1])  # the part after the last newline is being written


def records_of(lines: list[bytes]) -> list[dict[str, Any]]:
    """The lines that are JSON objects, parsed as untrusted; the others are skipped."""
    records = []
    for line in lines:
        try:
            value = loads_untrusted(line)
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
        self._asked = 0
        self._output = _OutputBuffer()
        self._output_lock = threading.Lock()
        self._output_timer: threading.Timer | None = None

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

    def report_step(
        self,
        step: int,
        *,
        plan: str,
        outcome: str,
        stage: str = "",
        parent: int | None = None,
        metric: float | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost: float | None = None,
        seconds: float | None = None,
        status: str | None = None,
        error: str | None = None,
        analysis: str = "",
        hint_used: bool = False,
        started: float | None = None,
    ) -> None:
        """Summarize one step for the journal: what was tried, how it went, what it cost.

        Report a step as it starts (``status="running"``, ``started``) and again as it ends
        (``ok``, ``buggy`` with the ``error``'s type, or ``skipped``); without a status it is a
        finished step, as the first version of the protocol said."""
        if status is not None and status not in STEP_STATUSES:
            raise ValueError(f"status must be one of {', '.join(STEP_STATUSES)}")
        optional = {
            k: v
            for k, v in (("status", status), ("error", error), ("started", started))
            if v is not None
        }
        self._event(
            "step",
            step=step,
            stage=stage,
            parent=parent,
            plan=plan,
            outcome=outcome,
            metric=metric,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost=cost,
            seconds=seconds,
            **optional,
            **({"analysis": analysis} if analysis else {}),
            **({"hint_used": True} if hint_used else {}),
        )

    def report_model_output(self, step: int, text: str, done: bool = False) -> None:
        """Report text of ``step``'s model reply as it arrives (call it with each piece, and
        ``done=True`` at the end). Written at most every :data:`MODEL_OUTPUT_EVERY_S` seconds,
        and no more than :data:`MAX_MODEL_OUTPUT` characters a step."""
        if self.dir is None:
            return
        with self._output_lock:
            writes = self._output.add(step, text, done, time.monotonic())
            self._write_output(writes)
            if self._output.pending and self._output_timer is None:
                self._schedule_flush()

    def _schedule_flush(self) -> None:
        """Text that waits is written when its time comes, even if no more arrives."""
        self._output_timer = threading.Timer(MODEL_OUTPUT_EVERY_S, self._flush_output)
        self._output_timer.daemon = True
        self._output_timer.start()

    def _flush_output(self) -> None:
        with self._output_lock:
            self._output_timer = None
            self._write_output(self._output.flush(time.monotonic()))

    def _write_output(self, writes: list[tuple[int, str, bool]]) -> None:
        for of, piece, finished in writes:
            self._event("model_output", step=of, text=piece, **({"done": True} if finished else {}))

    def report_usage(
        self, tokens_in: int, tokens_out: int, *, cost: float | None = None, model: str = ""
    ) -> None:
        """Report one model call's tokens and estimated cost (US dollars; None: unknown)."""
        self._event("usage", tokens_in=tokens_in, tokens_out=tokens_out, cost=cost, model=model)

    def report_budget(
        self, *, max_cost: float | None = None, max_steps: int | None = None, model: str = ""
    ) -> None:
        """Announce the agent's own limits, so the operator sees how much of them is used."""
        self._event("budget", max_cost=max_cost, max_steps=max_steps, model=model)

    def report_notice(self, text: str, *, severity: str = "warning") -> None:
        """A line for the operator, shown as it happens (a retried call, a limit reached)."""
        self._event("notice", text=text, severity=severity)

    def validate_submission(
        self, path: str | os.PathLike[str] | None = None, *, timeout: float = VALIDATE_TIMEOUT_S
    ) -> Validation:
        """Ask mletui whether the submission at ``path`` (default: ``submission.csv`` in
        ``MLETUI_SUBMISSION_DIR``) passes the task's submission checks; waits up to ``timeout``
        seconds for the answer. Valid, or the first reasons it is not; never a score."""
        if self.dir is None:
            return Validation(False, ("not connected to mletui (no MLETUI_CONTROL_DIR)",), False)
        if not (self.dir / VALIDATED).exists():  # mletui makes it when it starts answering
            return Validation(False, ("no submission checks in this run",), False)
        folder = Path(os.environ.get(ENV_SUBMISSION_DIR) or "submission")
        target = Path(path) if path is not None else folder / SUBMISSION_FILE
        # Named relative to the submission folder: mletui reads it from its side of the mount.
        relative = os.path.relpath(os.path.abspath(target), os.path.abspath(folder))
        request_id = f"{os.getpid()}-{time.time_ns()}"
        append_jsonl(self.dir / VALIDATE, {"id": request_id, "path": relative, "ts": time.time()})
        deadline = time.monotonic() + timeout
        while True:
            for answer in read_jsonl(self.dir / VALIDATED):
                if answer.get("id") == request_id:
                    reasons = answer.get("reasons")
                    said = tuple(str(r) for r in reasons) if isinstance(reasons, list) else ()
                    return Validation(answer.get("valid") is True, said)
            if time.monotonic() >= deadline:
                why = f"no answer from mletui within {timeout:g} s"
                return Validation(False, (why,), False)
            time.sleep(self.poll_interval)

    def ask(self, text: str) -> str:
        """Ask the operator for help; mletui alerts them at once. The answer comes as a hint
        (:meth:`checkpoint`). Returns the question's id ("" when not run under mletui)."""
        if self.dir is None:
            return ""
        self._asked += 1
        question_id = f"q{os.getpid()}-{self._asked}-{int(time.time() * 1000)}"
        self._event("ask", id=question_id, text=text)
        return question_id

    def _event(self, kind: str, **fields: Any) -> None:
        if self.dir is None:
            return
        append_jsonl(self.dir / EVENTS, {"kind": kind, **fields, "ts": time.time()})

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


class _OutputBuffer:
    """One step's streamed text, held until it is time to write it; past the cap, dropped."""

    def __init__(self) -> None:
        self.step: int | None = None
        self.pending = ""
        self.sent = 0  # characters of this step written or pending
        self.written_at = 0.0

    def add(self, step: int, text: str, done: bool, now: float) -> list[tuple[int, str, bool]]:
        """The writes due now: ``(step, text, done)``."""
        writes: list[tuple[int, str, bool]] = []
        if step != self.step:
            if self.step is not None and self.pending:
                writes.append((self.step, self.pending, False))  # the last step's tail, never lost
            self.step, self.pending, self.sent, self.written_at = step, "", 0, 0.0
        room = max(0, MAX_MODEL_OUTPUT - self.sent)
        self.pending += text[:room]
        self.sent += min(len(text), room)
        if done or (self.pending and now - self.written_at >= MODEL_OUTPUT_EVERY_S):
            if self.pending or done:
                writes.append((step, self.pending, done))
            self.pending, self.written_at = "", now
        if done:
            self.step = None
        return writes

    def flush(self, now: float) -> list[tuple[int, str, bool]]:
        """What waits, written now."""
        if self.step is None or not self.pending:
            return []
        writes = [(self.step, self.pending, False)]
        self.pending, self.written_at = "", now
        return writes


_default: Control | None = None


def _control() -> Control:
    global _default
    if _default is None:
        _default = Control()
    return _default


def _on_default_control(method: Callable[Concatenate[Control, _P], _R]) -> Callable[_P, _R]:
    """``method`` as a module function, on the control folder named by ``MLETUI_CONTROL_DIR``
    (read at the first call)."""

    @functools.wraps(method)
    def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        return method(_control(), *args, **kwargs)

    call.__qualname__ = method.__name__  # a module function, as pickle and tracebacks say
    signature = inspect.signature(method)
    unbound = list(signature.parameters.values())[1:]  # without self: for help() and IDEs
    call.__signature__ = signature.replace(parameters=unbound)  # type: ignore[attr-defined]
    return call


hello = _on_default_control(Control.hello)
checkpoint = _on_default_control(Control.checkpoint)
pause_requested = _on_default_control(Control.pause_requested)
answer = _on_default_control(Control.answer)
report_metric = _on_default_control(Control.report_metric)
report_step = _on_default_control(Control.report_step)
report_model_output = _on_default_control(Control.report_model_output)
report_usage = _on_default_control(Control.report_usage)
report_budget = _on_default_control(Control.report_budget)
report_notice = _on_default_control(Control.report_notice)
validate_submission = _on_default_control(Control.validate_submission)
ask = _on_default_control(Control.ask)


def main(argv: list[str] | None = None) -> int:
    """``python -m mletui.protocol validate [PATH]``: prints mletui's answer; exit status 0 when
    valid, 1 when not, 2 when no answer came."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "validate" or len(args) > 2:
        print("usage: python -m mletui.protocol validate [SUBMISSION.csv]", file=sys.stderr)
        return 2
    result = validate_submission(args[1] if len(args) == 2 else None)
    print(result)
    return 0 if result.valid else 1 if result.answered else 2


if __name__ == "__main__":
    raise SystemExit(main())
