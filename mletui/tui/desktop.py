"""A desktop notification through the terminal: OSC 9 or OSC 777, written to the app's driver.

The text carries the agent's words, so each field is printable only: no ESC, BEL, C1 or other
control character that could end the sequence early and start one of the agent's; ';' (the OSC's
field separator, and OSC 9's sub-command one in some terminals) becomes ','; and each field is
bounded.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from mletui.core.sanitize import clean_text

MAX_BODY = 200
MAX_TITLE = 60


class Desktop(enum.StrEnum):
    OSC9 = "osc9"  # iTerm2, WezTerm, Windows Terminal, kitty
    OSC777 = "osc777"  # foot, Ghostty, rxvt-unicode


# What `auto` knows, by TERM_PROGRAM and by TERM (prefix).
_BY_PROGRAM = {"iTerm.app": Desktop.OSC9, "WezTerm": Desktop.OSC9, "ghostty": Desktop.OSC777}
_BY_TERM = (
    ("xterm-kitty", Desktop.OSC9),
    ("foot", Desktop.OSC777),
    ("xterm-ghostty", Desktop.OSC777),
    ("rxvt-unicode", Desktop.OSC777),
)


def desktop_kind(setting: str, env: Mapping[str, str]) -> Desktop | None:
    """The sequence to write for ``setting`` ("auto", "osc9", "osc777", "off") in a terminal
    with environment ``env``; None: none. `auto` is off in a terminal it does not know (tmux's
    own TERM included: there, name the kind)."""
    if setting == "off":
        return None
    if setting != "auto":
        return Desktop(setting)
    if found := _BY_PROGRAM.get(env.get("TERM_PROGRAM", "")):
        return found
    term = env.get("TERM", "")
    for prefix, kind in _BY_TERM:
        if term.startswith(prefix):
            return kind
    if env.get("WT_SESSION"):  # Windows Terminal sets no TERM_PROGRAM
        return Desktop.OSC9
    return None


def osc_field(text: str, limit: int) -> str:
    """``text`` as one field of an OSC: printable characters only, no ';', at most ``limit``."""
    text = clean_text(text[: limit * 2], limit * 2)  # the rest would be cut anyway
    text = "".join(ch for ch in text if ch.isprintable()).replace(";", ",").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def notification(kind: Desktop, title: str, body: str, tmux: bool = False) -> str:
    """The escape sequence of one notification; ``tmux``: wrapped in tmux's passthrough (which
    hands it to the outer terminal when tmux's allow-passthrough is on)."""
    title, body = osc_field(title, MAX_TITLE), osc_field(body, MAX_BODY)
    if kind is Desktop.OSC9:
        sequence = f"\x1b]9;{title}: {body}\x07"
    else:
        sequence = f"\x1b]777;notify;{title};{body}\x07"
    if tmux:
        return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"
    return sequence
