"""The replay screen: the watch screen fed by a recorded run, with a timeline and playback keys.

The keys that would act on the run are the watch screen's, off because a replay's session lacks
their capabilities (pressing one says so)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Footer, Static

from mletui.core.clock import duration
from mletui.tui.format import component_style
from mletui.tui.screens.watch import PlaybackEvents, WatchScreen
from mletui.tui.widgets.budget import BudgetLine
from mletui.tui.widgets.code_pane import CodePane
from mletui.tui.widgets.hints_pane import HintsPane
from mletui.tui.widgets.log_view import LogView
from mletui.tui.widgets.resources_pane import ResourcesPane
from mletui.tui.widgets.scores_pane import ScoresPane
from mletui.tui.widgets.steps_pane import StepsPane
from mletui.watch.replay import ReplaySession
from mletui.watch.session import ReplayClock, ReplayReset


class ReplayBar(Static):
    """Where playback is: state, speed, clock, and a bar with the bookmarks on it."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "replay-bar--state",
        "replay-bar--played",
        "replay-bar--head",
        "replay-bar--ahead",
    }

    def show(self, clock: ReplayClock) -> None:
        width = max(10, self.size.width - 40)
        done = 0 if clock.duration_s <= 0 else clock.position_s / clock.duration_s
        cells = ["─"] * width
        for position, _label in clock.bookmarks:
            if clock.duration_s > 0:
                cells[min(width - 1, int(position / clock.duration_s * width))] = "▲"
        head = min(width - 1, int(done * width))
        bar = Text()
        bar.append("".join(cells[:head]), component_style(self, "replay-bar--played"))
        bar.append("●", component_style(self, "replay-bar--head"))
        bar.append("".join(cells[head + 1 :]), component_style(self, "replay-bar--ahead"))
        state = "■ end" if clock.finished else "▶" if clock.playing else "❚❚"
        out = Text.assemble(
            (f"replay {state} ", component_style(self, "replay-bar--state")),
            f"{clock.speed:g}x  ",
            f"{duration(clock.position_s)} / {duration(clock.duration_s)}  ",
        )
        out.append_text(bar)
        self.update(out)


class ReplayScreen(WatchScreen):
    """The watch screen over a :class:`ReplaySession`, with its timeline bar and playback keys."""

    HELP_TITLE = "Replay"

    BINDINGS = [
        Binding("space", "play_pause", "Play/Pause", priority=True),
        Binding("left", "seek(-1)", "Back", priority=True),
        Binding("right", "seek(1)", "Forward", priority=True),
        Binding("plus,equals_sign", "speed(1)", "Faster"),
        Binding("minus", "speed(-1)", "Slower"),
        Binding("b", "bookmark", "Bookmark", tooltip="this moment, saved with the run"),
        Binding("m", "next_bookmark", "Next mark", show=False, tooltip="jump to the next bookmark"),
        Binding("home", "seek_start", "Start", show=False, priority=True, tooltip="back to it"),
    ]

    def __init__(self, session: ReplaySession) -> None:
        self.replay = session
        super().__init__(session)

    def on_mount(self) -> None:
        super().on_mount()
        self.mount(ReplayBar(id="replay-bar"), before=self.query_one(Footer))
        self.query_one(LogView).border_title = "logs (replay)"

    async def on_playback_events(self, message: PlaybackEvents) -> None:
        # Handled before the session's events that follow in the queue: a reset empties the
        # panes first.
        for event in message.events:
            if isinstance(event, ReplayReset):
                await self._reset_panes()
            elif isinstance(event, ReplayClock):
                self.query_one(ReplayBar).show(event)

    async def _reset_panes(self) -> None:
        """Fresh panes: what follows replays the run from its start up to the new position."""
        self.query_one(LogView).clear()
        fresh: list[tuple[type[Widget], Widget]] = [
            (CodePane, CodePane(self.replay.diff, pair_diff=self.replay.diff_between)),
            (StepsPane, StepsPane()),
            (ScoresPane, ScoresPane()),
            (ResourcesPane, ResourcesPane()),
            (HintsPane, HintsPane()),
            (BudgetLine, BudgetLine()),
        ]
        for kind, widget in fresh:
            for old in self.query(kind):
                parent = old.parent
                assert isinstance(parent, Widget)  # a pane sits in the screen's containers
                await parent.mount(widget, after=old)
                await old.remove()

    def action_play_pause(self) -> None:
        self.replay.toggle()

    def action_seek(self, direction: int) -> None:
        step = max(5.0, self.replay.duration / 40)
        self.replay.seek(self.replay.position + direction * step)

    def action_seek_start(self) -> None:
        self.replay.seek(0.0)

    def action_speed(self, direction: int) -> None:
        self.replay.set_speed(faster=direction > 0)
        self.notify(f"speed {self.replay.speed:g}x", timeout=1.5)

    def action_bookmark(self) -> None:
        _position, label = self.replay.add_bookmark()
        self.notify(f"bookmark at {label} saved with the run", markup=False)

    def action_next_bookmark(self) -> None:
        position = self.replay.next_bookmark()
        if position is None:
            self.notify("no bookmark after this point", severity="warning")
        else:
            self.replay.seek(position)
