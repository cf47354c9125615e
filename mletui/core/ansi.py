"""Colours in agent output: ANSI SGR sequences kept as styles, every other sequence dropped.

An agent's terminal shows red tracebacks and yellow warnings; the log pane should too. This module
reads the SGR sequences (``ESC [ ... m``) of a raw line into :class:`Sgr` styles over ranges of
the line's text, and nothing else: the text between them goes through
:func:`mletui.core.sanitize.clean_line`, the one gate for what an agent may put on the screen, so
every other sequence (OSC, DCS, cursor moves, an SGR cut short) is dropped exactly as there. The
styles are plain data; the TUI turns them into Rich styles.

What is kept: 0-9 and their resets (21-29), 30-37/90-97 and 40-47/100-107 colours, 39/49
defaults, ``38;5;n`` / ``48;5;n`` (256 colours) and ``38;2;r;g;b`` / ``48;2;r;g;b`` (true
colour, also with colons), 53/55 overline. Blink and conceal are not kept: text the agent hides
or flashes is shown plain. An out-of-range colour (``38;5;999``) is ignored with what it consumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from mletui.core.sanitize import MAX_CR_SEGMENTS, MAX_DISPLAY_CHARS, clean_line, cut_marker

__all__ = ["MAX_SGR_PER_LINE", "Color", "Sgr", "StyleSpan", "styled_line"]

MAX_SGR_PER_LINE = 4096
"""SGR sequences read per line; later ones are dropped like any other sequence (a flood)."""

_MAX_PARAMS = 64  # parameters read per sequence; more is no colour anyone prints
_SGR = re.compile(rb"\x1b\[([0-9;:]{0,256})m")

Color = int | tuple[int, int, int]
"""A palette index (0-255) or an RGB triple."""


@dataclass(frozen=True, slots=True)
class Sgr:
    """The style SGR sequences set: colours (None: the pane's own) and attributes."""

    fg: Color | None = None
    bg: Color | None = None
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    double_underline: bool = False
    reverse: bool = False
    strike: bool = False
    overline: bool = False


PLAIN = Sgr()

StyleSpan = tuple[int, int, Sgr]
"""``(start, end, style)`` over the characters of a line's text."""

_SET: dict[int, dict[str, bool]] = {
    1: {"bold": True},
    2: {"dim": True},
    3: {"italic": True},
    4: {"underline": True},
    7: {"reverse": True},
    9: {"strike": True},
    21: {"double_underline": True},
    22: {"bold": False, "dim": False},
    23: {"italic": False},
    24: {"underline": False, "double_underline": False},
    27: {"reverse": False},
    29: {"strike": False},
    53: {"overline": True},
    55: {"overline": False},
}


def _extended(params: list[list[int | None]], i: int) -> tuple[Color | None, int]:
    """The colour of a 38/48 at ``params[i]`` (``;`` or ``:`` form) and the index after it;
    None for a malformed or out-of-range colour."""
    head = params[i]
    if len(head) > 1:  # colon form: 38:5:n, 38:2:r:g:b or 38:2::r:g:b (with a colour space)
        sub = head[1:]
        nxt = i + 1
    else:
        sub = [p[0] for p in params[i + 1 : i + 6]]
        nxt = None
    kind = sub[0] if sub else None
    if kind == 5 and len(sub) >= 2:
        n = sub[1]
        end = i + 3 if nxt is None else nxt
        return (n if n is not None and n <= 255 else None), end
    if kind == 2:
        rgb = sub[1:4] if nxt is None or len(sub) == 4 else sub[2:5]
        end = i + 5 if nxt is None else nxt
        if len(rgb) == 3 and all(c is not None and c <= 255 for c in rgb):
            r, g, b = (int(c or 0) for c in rgb)
            return (r, g, b), end
        return None, end
    return None, (i + 2 if nxt is None else nxt)


def apply_sgr(style: Sgr, body: bytes) -> Sgr:
    """``style`` after one SGR sequence whose parameters are ``body`` (``b"1;31"``)."""
    if not body:
        return PLAIN
    params: list[list[int | None]] = []
    for field_ in body.split(b";", _MAX_PARAMS)[:_MAX_PARAMS]:
        params.append([int(s) if s else None for s in field_.split(b":", 6)[:6]])
    i = 0
    while i < len(params):
        code = params[i][0] or 0
        if code == 0:
            style = PLAIN
        elif code in _SET:
            style = replace(style, **_SET[code])
        elif 30 <= code <= 37:
            style = replace(style, fg=code - 30)
        elif 90 <= code <= 97:
            style = replace(style, fg=code - 90 + 8)
        elif 40 <= code <= 47:
            style = replace(style, bg=code - 40)
        elif 100 <= code <= 107:
            style = replace(style, bg=code - 100 + 8)
        elif code == 39:
            style = replace(style, fg=None)
        elif code == 49:
            style = replace(style, bg=None)
        elif code in (38, 48):
            color, i = _extended(params, i)
            if color is not None:
                style = replace(style, fg=color) if code == 38 else replace(style, bg=color)
            continue
        i += 1
    return style


def styled_line(
    raw: bytes, max_chars: int | None = MAX_DISPLAY_CHARS
) -> tuple[str, tuple[StyleSpan, ...]]:
    """One raw line of agent output as :func:`~mletui.core.sanitize.clean_line` shows it, with
    the styles its SGR sequences give ranges of that text. A line without ``ESC [`` costs what
    ``clean_line`` costs. A carriage return keeps the last segment with visible text, as there."""
    if b"\x1b[" not in raw:
        return clean_line(raw, max_chars), ()
    if b"\r" not in raw:
        return _styled_segment(raw, max_chars, len(raw))
    parts = raw.rsplit(b"\r", MAX_CR_SEGMENTS)
    if len(parts) > MAX_CR_SEGMENTS:
        del parts[0]
    for part in reversed(parts):
        if part:
            text, spans = _styled_segment(part, max_chars, len(part))
            if text and not text.isspace():
                return text, spans
    return "", ()


def _styled_segment(
    raw: bytes, max_chars: int | None, size: int
) -> tuple[str, tuple[StyleSpan, ...]]:
    pieces: list[str] = []
    spans: list[StyleSpan] = []
    # A UTF-8 character is at most 4 bytes: this many bytes of text always fill max_chars.
    budget = None if max_chars is None else 4 * (max_chars + 1)
    length = 0
    style = PLAIN
    pos = 0
    for count, match in enumerate(_SGR.finditer(raw), 1):
        length = _add(pieces, spans, raw[pos : match.start()], style, length, budget)
        pos = match.end()
        if (max_chars is not None and length > max_chars) or count > MAX_SGR_PER_LINE:
            break  # the rest is cleaned whole below, its SGR dropped with the other sequences
        style = apply_sgr(style, match.group(1))
    length = _add(pieces, spans, raw[pos:], style, length, budget)
    text = "".join(pieces)
    if max_chars is not None and length > max_chars:
        text = text[:max_chars] + cut_marker(size)
        spans = [(s, min(e, max_chars), st) for s, e, st in spans if s < max_chars]
    return text, tuple(spans)


def _add(
    pieces: list[str],
    spans: list[StyleSpan],
    raw: bytes,
    style: Sgr,
    length: int,
    budget: int | None,
) -> int:
    """Clean ``raw`` (text between sequences), append it with ``style``; the new length. Past
    ``budget`` bytes the text is over any cut anyway: a longer piece stands for one more."""
    if not raw:
        return length
    if budget is not None and len(raw) > budget:
        raw = raw[:budget]
    column = length % 8
    if b"\t" in raw and column:  # tab stops count from the line's start, not the piece's
        text = clean_line(b" " * column + raw, None)[column:]
    else:
        text = clean_line(raw, None)
    if not text:
        return length
    pieces.append(text)
    end = length + len(text)
    if style != PLAIN:
        if spans and spans[-1][1] == length and spans[-1][2] == style:
            spans[-1] = (spans[-1][0], end, style)
        else:
            spans.append((length, end, style))
    return end
