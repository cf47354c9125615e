"""Times and durations, written and read one way everywhere.

``duration(3723)`` is ``1:02:03`` (a length of time), ``run_clock(3723)`` is ``+1:02:03`` (a moment
on the run clock, since the run started), ``wall_clock(ts)`` is ``14:05:03`` (local time of day).
:func:`parse_duration` is the one reader of what a person types as a length of time.
"""

from __future__ import annotations

import re
import time

NONE = "-"  # a duration that is not known

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_UNIT_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smhd])")
_HOURS_FIRST = re.compile(r"^\d+(?::\d{1,2}(?:\.\d*)?){1,2}$")
DURATION_HELP = "examples: 90s, 15m, 2h, 1h30m, 1:30 (hours first), 90 (seconds)"


def _hms(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def duration(seconds: float | None, none: str = NONE) -> str:
    """``3723.4`` -> ``1:02:03``; ``None`` -> ``none``. A negative length shows as 0."""
    if seconds is None:
        return none
    return _hms(max(0, int(seconds)))


def short_duration(seconds: float) -> str:
    """Like :func:`duration`, without the hours under an hour: ``2:03``, ``1:02:03``."""
    s = max(0, int(seconds))
    return _hms(s) if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def run_clock(seconds: float) -> str:
    """``+1:02:03``: a moment on the run clock (``-`` before the run started)."""
    sign = "-" if seconds < 0 else "+"
    return sign + _hms(int(abs(seconds)))


def wall_clock(ts: float) -> str:
    """``14:05:03``: a wall-clock time of day, local."""
    return time.strftime("%H:%M:%S", time.localtime(ts))


def wall_time(ts: float) -> str:
    """``2026-12-07 14:05:03``: a wall-clock moment, local."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def parse_duration(text: str) -> float:
    """What a person types as a length of time, in seconds; :class:`ValueError` that says what
    is expected otherwise.

    ``90`` and ``90s`` (seconds), ``15m``, ``2h``, ``1d``, ``1h30m``, ``1.5h``; ``1:30`` (hours and
    minutes) and ``1:30:00`` (hours, minutes, seconds).
    """
    text = text.strip().lower()
    if not text:
        raise ValueError(f"An empty duration ({DURATION_HELP}).")
    try:
        return float(text)
    except ValueError:
        pass
    if _HOURS_FIRST.match(text):
        parts = [float(p) for p in text.split(":")]
        hours, minutes, seconds = [*parts, 0.0][:3]
        return hours * 3600 + minutes * 60 + seconds
    pieces: list[tuple[str, str]] = _UNIT_PART.findall(text)
    if not pieces or "".join(n + u for n, u in pieces) != text.replace(" ", ""):
        raise ValueError(f"'{text}' is not a duration ({DURATION_HELP}).")
    return sum(float(number) * _UNITS[unit] for number, unit in pieces)
