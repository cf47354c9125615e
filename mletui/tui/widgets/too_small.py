"""The sentence a screen shows instead of itself on a terminal too small for it."""

from __future__ import annotations

from typing import NamedTuple

from textual.widgets import Static


class Size(NamedTuple):
    width: int
    height: int


USABLE_MIN = Size(40, 10)
"""The smallest terminal where a screen (the watch screen's one pane, its tab bar and the keys;
the overview's table; the GPU screen's devices) still fits."""


def is_too_small(width: int, height: int) -> bool:
    return width < USABLE_MIN.width or height < USABLE_MIN.height


def too_small_sentence(width: int, height: int) -> str:
    need = f"{USABLE_MIN.width}x{USABLE_MIN.height}"
    return f"mletui needs at least {need}; this terminal is {width}x{height}."


class TooSmall(Static):
    """Hidden until :meth:`fit` finds the terminal too small: then the screen's class
    ``-too-small`` hides the rest of it, this covers what a widget shows by its own ``display``,
    and says the size it needs."""

    # Unscoped: the rule that hides the rest is about the screen that holds this widget.
    SCOPED_CSS = False
    DEFAULT_CSS = """
    TooSmall {
        display: none;
        overlay: screen;
        position: absolute;
        width: 100%;
        height: 100%;
        content-align: center middle;
        text-align: center;
        color: $foreground;
        background: $background;
    }
    Screen.-too-small > * { display: none; }
    Screen.-too-small > TooSmall { display: block; }
    """

    def fit(self, width: int, height: int) -> bool:
        """Show the sentence (True) or give the screen back (False) for a ``width``x``height``
        terminal."""
        small = is_too_small(width, height)
        if small:
            self.update(too_small_sentence(width, height))
        self.screen.set_class(small, "-too-small")
        return small
