"""The watch screen's panes by name and number, and the tab bar that picks one on a small terminal.

Where the side column cannot show its panes (under :data:`SPLIT_MIN`), the watch screen shows one
pane at a time; below too_small.USABLE_MIN it shows only a sentence saying the size it needs.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.widget import Widget

from mletui.tui.format import component_style
from mletui.tui.widgets.too_small import Size, is_too_small

PANES = ("logs", "steps", "code", "scores", "resources", "hints")
"""The panes in the order of their keys, 1 to 6."""


SPLIT_MIN = Size(120, 46)
"""The smallest terminal where the log and the side column's four panes each have room."""


def layout_for(width: int, height: int) -> str:
    """``split`` (every pane at once), ``tabbed`` (one at a time) or ``too-small``."""
    if is_too_small(width, height):
        return "too-small"
    if width < SPLIT_MIN.width or height < SPLIT_MIN.height:
        return "tabbed"
    return "split"


class PaneTabs(Widget):
    """One line: each pane's key and name, the shown one highlighted."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"pane-tabs--key", "pane-tabs--current"}

    DEFAULT_CSS = """
    PaneTabs {
        height: 1;
        width: 1fr;
        background: $panel;
        color: $foreground-muted;
        & > .pane-tabs--key { color: $text-accent; text-style: bold; }
        & > .pane-tabs--current { color: $text; background: $accent 50%; text-style: bold; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.current = PANES[0]

    def show(self, current: str) -> None:
        self.current = current
        self.refresh()

    def render(self) -> Text:
        # As wide as the line allows: every name, then names cut to four letters, then only the
        # shown pane's name; the keys always show.
        for cut in (None, 4, 0):
            labels = [name if name == self.current else name[:cut] for name in PANES]
            if sum(len(label) + 4 if label else 3 for label in labels) <= self.size.width:
                break
        out = Text(no_wrap=True, overflow="crop", end="")
        key = component_style(self, "pane-tabs--key")
        for number, (name, label) in enumerate(zip(PANES, labels, strict=True), start=1):
            style = component_style(self, "pane-tabs--current") if name == self.current else None
            out.append(" ", style)
            out.append(str(number), key + style if style else key)
            out.append(f" {label}" if label else "", style)
            out.append(" ", style)
        return out
