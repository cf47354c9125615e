"""How the panes write what they show: agent text made inert, sizes, names, theme styles.

Every widget takes these from here, never from a sibling widget; times and durations come from
:mod:`mletui.core.clock`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from mletui.core.ansi import Sgr
from mletui.core.clock import duration
from mletui.core.events import StatusUpdate
from mletui.core.sanitize import inert

_MAX_NAME = 40  # names from the agent (hello.json's, the model's) are its own text: keep them short
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def printable(text: str) -> str:
    """``text`` with tabs expanded, shown inert (:func:`mletui.core.sanitize.inert`): the one way
    every pane turns the agent's text into what it draws."""
    return inert(text.expandtabs(4))


def short_name(text: str) -> str:
    """A name for one line: printable, and cut with ``…`` past 40 characters."""
    text = printable(text)
    return text if len(text) <= _MAX_NAME else text[: _MAX_NAME - 1] + "…"


@lru_cache(maxsize=4096)
def sgr_style(sgr: Sgr) -> Style:
    """The Rich style of colours an agent printed (:mod:`mletui.core.ansi`); an attribute it
    did not set is left to the pane (None, not False)."""

    def color(value: int | tuple[int, int, int] | None) -> Color | None:
        if value is None:
            return None
        if isinstance(value, tuple):
            return Color.from_rgb(*value)
        return Color.from_ansi(value)

    return Style(
        color=color(sgr.fg),
        bgcolor=color(sgr.bg),
        bold=sgr.bold or None,
        dim=sgr.dim or None,
        italic=sgr.italic or None,
        underline=sgr.underline or None,
        underline2=sgr.double_underline or None,
        reverse=sgr.reverse or None,
        strike=sgr.strike or None,
        overline=sgr.overline or None,
    )


def component_style(widget: Widget, component: str) -> Style:
    """A component class's style for text inside ``widget``, without its background.

    The colour comes from the full style, so that ``$foreground-muted`` (a colour with alpha)
    is blended and stays muted; a partial style would drop the alpha.
    """
    full = widget.get_component_rich_style(component)
    partial = widget.get_component_rich_style(component, partial=True)
    return partial + Style(color=full.color, bgcolor=partial.bgcolor)


class BakedStyles(Widget):
    """For a widget that bakes its component classes' colours into its Text: ``_style`` reads
    one, and a theme change that alters them calls ``_redraw_styled`` once mounted.

    Listed after the widget's Textual base (``class Pane(VerticalScroll, BakedStyles)``), so that
    the base's CSS stays the widget's own.
    """

    _styles_used: tuple[Style, ...] = ()

    def _style(self, component: str) -> Style:
        return component_style(self, component)

    def _redraw_styled(self) -> None:
        """Draw again what was drawn with the old styles."""

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.is_mounted:
            self.call_later(self._restyle)

    def _restyle(self) -> None:
        styles = tuple(self._style(name) for name in sorted(self.COMPONENT_CLASSES))
        if styles != self._styles_used:
            self._styles_used = styles
            self._redraw_styled()


def append_time_left(out: Text, status: StatusUpdate, label: Style) -> None:
    """`` left 0:12:00`` (or ``no limit``); nothing once the run is over, where it means nothing."""
    if not status.state.ended:
        out.append(" left ", label)
        left = status.time_left_s
        out.append(duration(left) if left is not None else "no limit")


def human_bytes(size: int | float) -> str:
    """``1536`` -> ``"1.5 KiB"``: binary units, three significant figures."""
    value = float(max(size, 0))
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:.0f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def na(value: float | int | None, fmt: Callable[[float], str] = lambda v: f"{v:.0f}") -> str:
    """``fmt(value)``, or "n/a" when the device cannot tell."""
    return "n/a" if value is None else fmt(value)


def gib(value: float | int | None) -> str:
    return na(value, lambda v: f"{v / 2**30:.1f}")


def percent(value: float | None) -> str:
    """``"91%"``, or "n/a" alone when the device cannot tell."""
    return na(value, lambda v: f"{v:.0f}%")


def used_of(
    used: float | None, limit: float | None, unit: str, fmt: Callable[[float], str] = na
) -> str:
    """``"91/300 W"``; ``"91 W"`` when the limit is unknown; "n/a" when the reading is."""
    if used is None:
        return "n/a"
    if limit is None:
        return f"{fmt(used)} {unit}"
    return f"{fmt(used)}/{fmt(limit)} {unit}"


def tokens(count: int) -> str:
    """``950`` -> ``"950"``, ``12345`` -> ``"12.3k"``, ``4_560_000`` -> ``"4.56M"``."""
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.3g}k"
    return f"{count / 1_000_000:.3g}M"


def dollars(amount: float) -> str:
    """Cents for big sums, more digits for the small ones a few calls cost."""
    return f"${amount:.2f}" if amount >= 10 else f"${amount:.4f}"
