"""A sample's transcript events as log lines: model calls with the assistant's text, tool calls
and their output, errors, limits; and its model and tool calls as the steps the steps pane shows.
Every text is the agent's (or shaped by it) and is cleaned before it becomes a line or a step."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from mletui.core.events import AgentStep, StepStatus, Stream
from mletui.core.sanitize import clean_text
from mletui.integrations.inspect.rows import count, number

MAX_LINES_PER_EVENT = 200

Line = tuple[float, Stream, str]


def event_lines(event: Any, *, call_shown: bool = False) -> list[Line]:
    """The lines for one event in the channel's compact form (``content=true``: truncated text,
    a dict per event); an event of a type not shown gives none, one that is not a dict a note.
    ``call_shown``: a tool call's own line was given while it ran; give its outcome only."""
    if not isinstance(event, dict):
        return [(0.0, Stream.SYSTEM, "[inspect] an event that is not a JSON object was skipped")]
    ts = number(event.get("timestamp")) or 0.0
    kind = event.get("event")
    out: list[Line] = []

    def add(stream: Stream, prefix: str, text: Any) -> None:
        body = text if isinstance(text, str) else "" if text is None else _json(text)
        parts = body.split("\n") if body else [""]
        for i, part in enumerate(parts[:MAX_LINES_PER_EVENT]):
            out.append((ts, stream, clean_text(f"{prefix} {part}" if i == 0 else f"  {part}")))
        if len(parts) > MAX_LINES_PER_EVENT:
            out.append((ts, Stream.SYSTEM, f"  … {len(parts) - MAX_LINES_PER_EVENT} more lines"))

    if kind == "model":
        model = _word(event.get("model")) or "model"
        tokens = count(event.get("tokens"))
        suffix = f" ({tokens} tokens)" if tokens is not None else ""
        if event.get("has_error") or event.get("error"):
            add(Stream.STDERR, f"[model {model} error]", event.get("error") or "")
        else:
            add(Stream.STDOUT, f"[model {model}]{suffix}", event.get("completion") or "")
    elif kind == "tool":
        function = _word(event.get("function")) or "tool"
        if not call_shown:
            add(Stream.STDOUT, f"[tool {function}]", _arguments(event.get("arguments")))
        # A pending call shows only the call: its outcome comes when it ends.
        if not event.get("pending"):
            if event.get("has_error") or event.get("error"):
                add(Stream.STDERR, f"[tool {function} error]", event.get("error") or "")
            elif event.get("result") not in (None, ""):
                add(Stream.STDOUT, f"[tool {function} output]", event.get("result"))
    elif kind == "error":
        add(Stream.STDERR, "[error]", event.get("error") or "")
    elif kind in ("sample_limit", "interrupt", "info", "logger", "sandbox", "approval", "input"):
        data = event.get("data") or event.get("message") or ""
        add(Stream.SYSTEM if kind == "sandbox" else Stream.STDOUT, f"[{kind}]", data)
    return out


MAX_PLAN = 300  # characters of a step's plan line (the model's first line, the tool call)
MAX_STEPS_KNOWN = 10_000  # events remembered by uuid; older ones are never served again


class StepMaker:
    """A sample's model and tool calls as steps, numbered in the order they began. A call still
    under way (``pending``) is a running step, reported again when it ends; a step's duration is
    known once the next call begins (Inspect's compact events carry only their start)."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}  # uuid -> step number
        self._ended: set[str] = set()
        self._last: AgentStep | None = None  # ended, its duration not yet known
        self._untokened: dict[str, AgentStep] = {}  # ended model calls read live: no in/out

    def take(self, event: Any, uuid: str) -> list[AgentStep]:
        """The steps this event reports (none, a new or ended one, and the one before it, now
        that its duration is known)."""
        if not isinstance(event, dict) or event.get("event") not in ("model", "tool"):
            return []
        if uuid in self._ended:
            return self._tokened(event, uuid)
        pending = bool(event.get("pending"))
        if pending and uuid in self._numbers:
            return []  # its running step is out already
        out: list[AgentStep] = []
        ts = number(event.get("timestamp")) or 0.0
        fresh = uuid not in self._numbers
        if fresh:
            self._numbers[uuid] = len(self._numbers) + 1
            if self._last is not None and ts >= self._last.ts:
                timed = replace(self._last, seconds=ts - self._last.ts)
                out.append(timed)
                for key, known in self._untokened.items():
                    if known.step == timed.step:
                        self._untokened[key] = timed
                        break
            self._last = None
            while len(self._numbers) > MAX_STEPS_KNOWN:
                oldest = next(iter(self._numbers))
                del self._numbers[oldest]
                self._ended.discard(oldest)
                self._untokened.pop(oldest, None)
        step = event_step(event, self._numbers[uuid])
        if not pending:
            self._ended.add(uuid)
            self._last = step
            if step.stage == "model" and not (step.tokens_in or step.tokens_out):
                self._untokened[uuid] = step
        out.append(step)
        return out

    def _tokened(self, event: dict[str, Any], uuid: str) -> list[AgentStep]:
        """An ended model call read live, read again from the log: its step with the tokens in
        and out the log's usage gives (the channel gave the total only); else nothing."""
        known = self._untokened.get(uuid)
        if known is None:
            return []
        read = event_step(event, known.step)
        if not (read.tokens_in or read.tokens_out):
            return []
        del self._untokened[uuid]
        step = replace(known, tokens_in=read.tokens_in, tokens_out=read.tokens_out)
        if self._last is not None and self._last.step == step.step:
            self._last = step  # its duration, once known, goes with its tokens
        return [step]


def event_step(event: dict[str, Any], step: int) -> AgentStep:
    """One model or tool event as step ``step``: its kind (``model``, or the tool's name), its
    plan line (the model's first line, or the call), how it went, its tokens."""
    ts = number(event.get("timestamp")) or 0.0
    failed = bool(event.get("has_error") or event.get("error"))
    error = _first_line(event.get("error")) if failed else None
    tokens_in = tokens_out = 0
    if event.get("event") == "model":
        # The .eval log's usage splits them; the channel's compact events carry the total only.
        tokens_in, tokens_out = _tokens(event.get("tokens_in")), _tokens(event.get("tokens_out"))
        stage = "model"
        plan = _first_line(event.get("completion"))
        tokens = count(event.get("tokens"))
        outcome = f"{tokens} tokens" if tokens is not None else ""
    else:
        stage = _word(event.get("function")) or "tool"
        plan = _first_line(_arguments(event.get("arguments")))
        result = event.get("result")
        outcome = _first_line(result if isinstance(result, str) else _json(result))
    if event.get("pending"):
        status, outcome = StepStatus.RUNNING, ""
    else:
        status = StepStatus.BUGGY if failed else StepStatus.OK
    return AgentStep(
        ts=ts,
        step=step,
        stage=stage[:40],
        plan=plan,
        outcome=error or outcome,
        metric=None,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=None,
        status=status,
        error=(error or "error")[:100] if failed else None,
        started=ts,
    )


def _tokens(value: Any) -> int:
    return max(0, count(value) or 0)


def _first_line(value: Any) -> str:
    """The first line with text of ``value``, cleaned and cut: a plan line."""
    if not isinstance(value, str):
        return ""
    for line in value.split("\n", 50):
        # Cut again: cleaning spells out each invisible character, and may pass MAX_PLAN.
        cleaned = clean_text(line, MAX_PLAN).strip()[:MAX_PLAN]
        if cleaned:
            return cleaned
    return ""


def _arguments(value: Any) -> str:
    """A tool call's arguments: a single ``command``/``code`` argument as its text."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return value
        value = parsed
    if isinstance(value, dict) and len(value) == 1:
        (only,) = value.values()
        if isinstance(only, str):
            return only
    return _json(value)


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _word(value: Any) -> str:
    return clean_text(value, 80) if isinstance(value, str) else ""
