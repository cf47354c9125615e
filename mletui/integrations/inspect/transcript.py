"""A sample's transcript events as log lines: model calls with the assistant's text, tool calls
and their output, errors, limits. Every text is the agent's (or shaped by it) and is cleaned
before it becomes a line."""

from __future__ import annotations

import json
from typing import Any

from mletui.core.events import Stream
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
