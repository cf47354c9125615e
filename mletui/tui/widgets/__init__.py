"""The watch screen's panes: each renders data it is given, and does no I/O of its own."""

from mletui.tui.widgets.code_pane import CodePane, DiffProvider
from mletui.tui.widgets.header import RunHeader
from mletui.tui.widgets.hints_pane import HintsPane
from mletui.tui.widgets.log_view import LogView
from mletui.tui.widgets.resources_pane import ResourcesPane
from mletui.tui.widgets.scores_pane import ScoresPane

__all__ = [
    "CodePane",
    "DiffProvider",
    "HintsPane",
    "LogView",
    "ResourcesPane",
    "RunHeader",
    "ScoresPane",
]
