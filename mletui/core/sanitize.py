"""Turn untrusted agent output into plain text that is safe to put on the operator's screen.

Everything an agent prints is untrusted: a log line, a file name, a metric name, a hint ack. What
comes out of this module holds no terminal control sequence (CSI, OSC, DCS/APC/PM/SOS strings, ESC
sequences, 7-bit or 8-bit), no C0 or C1 control character, no lone surrogate (which the terminal
writer could not encode) and no Unicode line separator (which would break the one-line-per-row
layout). A format character (a bidi override or isolate, a zero-width character, a tag) is
shown as a visible ``<U+202E>``: it could hide or reorder what the operator reads, and seeing
it tells the operator that the agent tried.

The result is plain text, never markup: a consumer builds ``rich.text.Text(s)`` (or
``Text.assemble``, ``Text.append``), never ``Text.from_markup(s)`` or a markup-enabled
``Static``/``Label``; ``[bold red]x[/]`` from an agent is shown as those exact characters.

Choices, in a line each:

- Tabs become spaces at 8-column stops (``str.expandtabs``), so the UI never measures a tab.
- Invalid UTF-8 becomes U+FFFD, as ``bytes.decode(errors="replace")`` does; a raw 8-bit C1
  sequence introducer byte (0x9B CSI, 0x9D OSC, 0x90 DCS, ...) is removed with its parameters,
  because a terminal in 8-bit mode would act on it.
- A carriage return means "overwrite the line" (tqdm and friends): the line shows the last
  segment after a ``\\r`` that has any visible text, so ``"10%\\r100%\\r"`` shows ``100%``.
- A line longer than :data:`MAX_DISPLAY_CHARS` is cut there, with a marker giving the length of
  the whole raw line in bytes (exact and cheap: counting characters would mean decoding it all).

Speed: this runs on every line of floods of millions. A clean line costs one decode and one
``str.isprintable`` scan in C; only a line that fails that scan pays for the regex pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

__all__ = [
    "MAX_DISPLAY_CHARS",
    "clean_field",
    "clean_line",
    "clean_text",
    "cut_marker",
    "plain_cells",
]

MAX_DISPLAY_CHARS = 2000
"""Longest text shown for one line or value; the rest is replaced by :func:`cut_marker` (the log
pane opens a cut line whole, read again from the spool with ``clean_line(raw, max_chars=None)``)."""

TAB_SIZE = 8

# A progress bar can rewrite its line millions of times without a newline; look at this many
# segments from the end for one with visible text, then give up (a hostile line of bare \r).
MAX_CR_SEGMENTS = 64

# 8-bit introducers appear as code points U+0080-U+009F (valid UTF-8 "\xc2\x9b") or, as raw
# bytes 0x80-0x9F (invalid UTF-8), as the surrogates "surrogateescape" decodes them to.
_CSI = r"(?:\x1b\[|[\x9b\udc9b])"
# OSC, DCS, SOS, PM, APC: control strings.
_STRING = r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f\udc90\udc98\udc9d\udc9e\udc9f])"
_STRING_END = r"(?:\x07|\x1b\\|[\x9c\udc9c])"  # BEL, ST (ESC \), 8-bit ST
# Single characters removed outright: C0 except TAB (\x09) and CR (\x0d, handled before), DEL,
# C1, LINE/PARAGRAPH SEPARATOR. (Format characters are shown instead: see _marked.)
_SINGLES = r"[\x00-\x08\x0a-\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]"

_CONTROL_SEQUENCE = re.compile(
    # The lookahead lets the regex engine skip quickly to a character that can start a match.
    r"(?=[\x00-\x08\x0a-\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\udc90-\udc9f])"
    r"(?:"
    # CSI: parameters, intermediates, final byte; a sequence cut short loses what it has.
    rf"{_CSI}[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    # OSC/DCS/SOS/PM/APC: the whole payload up to its terminator (or the end of the line).
    # An ESC inside the payload ends it, as in xterm, and starts a sequence of its own.
    rf"|{_STRING}[^\x07\x1b\x9c\udc9c]*{_STRING_END}?"
    # Any other ESC sequence (ESC 7, ESC c, ESC ( B, ...) and a lone ESC.
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
    rf"|{_SINGLES}"
    r")"
)

# Unicode format characters (category Cf: bidi marks, embeddings, overrides and isolates,
# zero-width characters, the BOM, tags): invisible, and some reorder what is read. Every Cf
# character of Unicode 14, as ranges.
FORMAT_CHARS = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f"
)
# What no reader is given: C0 but TAB, DEL, C1, line separators, format characters, lone
# surrogates. A file mletui writes loses the TAB too.
_NOT_INERT_CHARS = rf"\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029{FORMAT_CHARS}\ud800-\udfff"
_NOT_INERT = re.compile(f"[{_NOT_INERT_CHARS}]")
_UNWRITABLE = re.compile(f"[\t{_NOT_INERT_CHARS}]")


_FORMAT = re.compile(f"[{FORMAT_CHARS}]")


def _marked(text: str) -> str:
    """Each format character of ``text`` as a visible ``<U+XXXX>``."""
    return _FORMAT.sub(_shown, text)


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return f"<U+{code:04X}>"


def inert(text: str) -> str:
    """``text`` as any pane shows it: control characters and lone surrogates as U+FFFD, and
    format characters (bidi overrides and isolates, zero-width characters, the BOM, tags) as a
    visible ``<U+202E>``, so that none can hide or reorder what the operator reads. Tabs are
    kept (the caller expands them)."""
    return text if text.isprintable() else _NOT_INERT.sub(_shown, text)


_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")

# clean_text is single-line: every line break or tab becomes one space.
_BREAKS_TO_SPACE = str.maketrans(dict.fromkeys("\t\n\r\x0b\x0c\x1c\x1d\x1e\x85", " "))


def cut_marker(total: int, unit: str = "bytes") -> str:
    """The text appended to a cut line: `` … [cut: 1,048,576 bytes]`` (``total`` in all)."""
    return f" … [cut: {total:,} {unit}]"


def clean_line(raw: bytes, max_chars: int | None = MAX_DISPLAY_CHARS) -> str:
    """Decode and sanitise one line of agent output (without its ``\\n``) for display.

    Returns plain text without control characters or sequences, tabs expanded, at most
    ``max_chars`` characters plus a cut marker (``None``: the whole line). Never raises.
    """
    if b"\r" not in raw:
        return _clean_segment(raw, max_chars)
    parts = raw.rsplit(b"\r", MAX_CR_SEGMENTS)
    if len(parts) > MAX_CR_SEGMENTS:
        del parts[0]  # still holds carriage returns; too far back to matter
    for part in reversed(parts):
        if part:
            text = _clean_segment(part, max_chars)
            if text and not text.isspace():
                return text
    return ""


def _clean_segment(raw: bytes, max_chars: int | None) -> str:
    size = len(raw)
    # A UTF-8 character is at most 4 bytes: this prefix always holds max_chars characters.
    limit = size if max_chars is None else max_chars * 4
    cut = size > limit
    if cut:
        end = limit
        while end > limit - 3 and raw[end] & 0xC0 == 0x80:
            end -= 1  # cut before a UTF-8 continuation byte, not in the middle of a character
        raw = raw[:end]
    try:
        text = raw.decode("utf-8")
        invalid = False
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "surrogateescape")
        invalid = True
    # isprintable is False for every character the regex can remove (and for tabs, non-ASCII
    # spaces and a few harmless format characters, which merely take the slower path).
    if not text.isprintable():
        text = _CONTROL_SEQUENCE.sub("", text)
        if invalid:
            # Back to the original bytes, then the standard replacement of what is still invalid;
            # bytes that were apart can now form a character (even a C1 one), hence a second pass.
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            text = _CONTROL_SEQUENCE.sub("", text)
        if "\t" in text:
            text = text.expandtabs(TAB_SIZE)
        if max_chars is not None and (cut or len(text) > max_chars):
            return _marked(text[:max_chars]) + cut_marker(size)
        return _marked(text)
    if max_chars is not None and (cut or len(text) > max_chars):
        return text[:max_chars] + cut_marker(size)
    return text


def clean_text(s: str, max_chars: int = MAX_DISPLAY_CHARS) -> str:
    """Sanitise an untrusted string value (a file name, a metric name, a hint ack) for display.

    The same removal as :func:`clean_line`, but on one line: tabs, line breaks and carriage
    returns become single spaces. Lone surrogates (``json`` lets them through) become U+FFFD.
    Longer than ``max_chars`` characters: cut, with a marker counting the original characters.
    """
    if s.isprintable():
        return s[:max_chars] + cut_marker(len(s), "chars") if len(s) > max_chars else s
    text = s.translate(_BREAKS_TO_SPACE)
    text = _CONTROL_SEQUENCE.sub("", text)
    if not text.isascii():
        text = _LONE_SURROGATE.sub("\ufffd", text)
    if len(text) > max_chars:
        return _marked(text[:max_chars]) + cut_marker(len(s), "chars")
    return _marked(text)


def clean_field(s: str) -> str:
    """An untrusted string as a field of a file mletui writes (an export): every C0 and C1
    control character (ESC too, so no sequence survives), line separator, format character and
    lone surrogate removed, nothing else changed. A reader of the file (a terminal's ``cat``, a
    spreadsheet) then gets no control sequence and no invisible reordering."""
    return s if s.isprintable() else _UNWRITABLE.sub("", s)


def plain_cells(values: Iterable[str]) -> list[Text]:
    """Table cells for a command's output (a ``rich`` table): each value cleaned and plain
    text, so ``[red]`` in a run's task or agent name is shown, never read as markup."""
    from rich.text import Text

    return [Text(clean_text(value)) for value in values]
