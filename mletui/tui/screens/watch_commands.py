"""The watch screen's commands in the palette (Ctrl+P): the same as its keys, and its panes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Protocol, runtime_checkable

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from mletui.tui.widgets.pane_tabs import PANES


@runtime_checkable
class ActingScreen(Protocol):
    """A screen whose keys can be unavailable, with a reason (the watch screen)."""

    def reason_unavailable(self, action: str) -> str | None: ...


def screen_commands(screen: Screen[object]) -> Iterator[tuple[str, str, str]]:
    """(title, help, action) for each action of the screen's keys, then each pane."""
    seen: set[str] = set()
    for cls in type(screen).__mro__:
        if not (isinstance(cls, type) and issubclass(cls, Screen)):
            continue
        for binding in cls.__dict__.get("BINDINGS", []):
            if not isinstance(binding, Binding) or binding.action in seen:
                continue
            if binding.action.startswith(("pane(", "cycle_pane(", "help")):
                continue  # the panes by name below; Help is the system's Keys
            seen.add(binding.action)
            if screen.check_action(binding.action.split("(")[0], ()) is False:
                continue  # not offered by this run's source at all
            key = binding.key.split(",")[0]
            yield binding.description, f"{binding.tooltip} ({key})".lstrip(), binding.action
    for number, name in enumerate(PANES, start=1):
        yield f"Pane: {name}", f"show the {name} pane ({number})", f"pane('{name}')"


class WatchCommands(Provider):
    """The watch screen's actions: the same as its keys, greyed-out ones saying why."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        screen = self.screen
        if not isinstance(screen, ActingScreen):
            return []  # the palette opened over a dialog
        return [
            (title, help, partial(run_screen_action, screen, action))
            for title, help, action in screen_commands(screen)
        ]

    async def discover(self) -> Hits:
        for title, help, command in self._commands():
            yield DiscoveryHit(title, command, help=help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help, command in self._commands():
            if (score := matcher.match(title)) > 0:
                yield Hit(score, matcher.highlight(title), command, help=help)


async def run_screen_action(screen: Screen[object], action: str) -> None:
    """As the key does: a key greyed out says why instead."""
    name = action.split("(")[0]
    greyed = ("toggle_pause", "toggle_freeze", "hint", "kill")
    if name in greyed and isinstance(screen, ActingScreen) and screen.reason_unavailable(name):
        await screen.app.run_action(f"explain('{name}')")
        return
    await screen.run_action(action)
