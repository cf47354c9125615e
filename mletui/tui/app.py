"""The Textual app: the runs overview and the watch screen, themes, and the keys' fallbacks."""

from __future__ import annotations

import gc
from collections.abc import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

import mletui.integrations  # noqa: F401  (each integration registers its source)
from mletui.core import settings
from mletui.store.runs import RunFolder, runs_root
from mletui.tui.commands import ScreenshotCommands
from mletui.tui.screens.overview import OverviewScreen
from mletui.tui.screens.watch import WatchScreen
from mletui.tui.theming import pick_theme, register_themes
from mletui.watch.delivery import AlertService
from mletui.watch.sources import OpenRequest, Registry, ReplayOptions, SourceError, registry

GC_THRESHOLD = 10_000
"""Allocations between two young-generation collections (Python's default: 700)."""


class MletuiApp(App[None]):
    TITLE = "mletui"
    COMMANDS = App.COMMANDS | {ScreenshotCommands}

    # Reached only when the watch screen greys a key out: say why instead of doing nothing.
    BINDINGS = [
        Binding("p", "explain('toggle_pause')", show=False),
        Binding("F", "explain('toggle_freeze')", show=False),
        Binding("h", "explain('hint')", show=False),
        Binding("K", "explain('kill')", show=False),
        # Reached when no pane takes Esc: back from a run to the overview, which keeps its state.
        Binding("escape", "leave_run", show=False),
    ]

    def __init__(
        self,
        run_id: str | None = None,
        theme_name: str | None = None,
        operator: str | None = None,
        drive: bool = False,
        replay_id: str | None = None,
        speed: float = 10.0,
        skip_idle: bool = True,
        show_grades: bool = False,
        gpu_interval_s: float | None = None,
        sources: Registry | None = None,
        alerts: bool = False,
        notify_urls: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.alerts = alerts  # check for alerts while the app runs (`mletui watch`)
        self.notify_urls = notify_urls
        self._alert_service: AlertService | None = None
        # Where ids are looked up and runs opened (the overview lists every source's runs).
        self.sources = sources or registry()
        self.gpu_interval_s = gpu_interval_s  # set: open the GPU screen alone (`mletui gpu`)
        self.show_grades = show_grades  # the demo: held-out grades shown without G
        self.replay_id = replay_id
        self.replay_options = (speed, skip_idle)
        self.run_id = run_id
        self.operator = operator
        self.drive = drive
        self.requested_theme = theme_name or settings.theme()

    def on_mount(self) -> None:
        warnings = register_themes(self)
        theme, unknown = pick_theme(self.requested_theme, set(self.available_themes))
        if unknown:
            warnings.append(unknown)
        for warning in warnings:
            self.notify(warning, severity="warning", markup=False, timeout=8)
        self.theme = theme
        if self.alerts:
            from mletui.tui.alerts import start_alerts

            self._alert_service = start_alerts(self, self.notify_urls)
        if self.gpu_interval_s is not None:
            from mletui.tui.screens.gpu import GpuScreen

            self.push_screen(GpuScreen(interval_s=self.gpu_interval_s))
        elif self.replay_id:
            speed, skip_idle = self.replay_options
            self.open_run(self.replay_id, ReplayOptions(speed, skip_idle), alone=True)
        elif self.run_id:
            self.open_run(self.run_id, drive=self.drive, show_grades=self.show_grades, alone=True)
        else:
            self.push_screen(OverviewScreen(self.sources))
        # What start-up built lives as long as the app: keep it out of the garbage collector's
        # passes; and collect less often (a log flood makes short-lived objects by the thousand
        # a frame): each full pass would pause the keyboard for tens of ms.
        self.call_after_refresh(gc.freeze)
        gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])

    def open_run(
        self,
        run_id: str,
        replay: ReplayOptions | None = None,
        *,
        drive: bool = False,
        show_grades: bool = False,
        alone: bool = False,
    ) -> None:
        """Open the run ``run_id`` of any source: its watch screen, or its replay. ``alone``: the
        app's only screen (quitting it leaves the app); an id no source opens is then said on the
        way out, else in a notification."""
        try:
            session = self.sources.open(run_id, OpenRequest(self.operator, replay))
        except SourceError as exc:
            if alone:
                self.exit(message=str(exc))
            else:
                self.notify(str(exc), severity="error", markup=False)
            return
        from mletui.watch.replay import ReplaySession

        if isinstance(session, ReplaySession):
            from mletui.tui.screens.replay import ReplayScreen

            self.push_screen(ReplayScreen(session))
        else:
            self.push_screen(WatchScreen(session, drive=drive, show_grades=show_grades))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        # Textual's screenshot goes to a folder of its choosing, unsaid: ours says where.
        for command in super().get_system_commands(screen):
            if command.title != "Screenshot":
                yield command

    def on_overview_screen_open_run(self, message: OverviewScreen.OpenRun) -> None:
        self.open_run(message.run_id)

    def action_explain(self, action: str) -> None:
        screen = self.screen
        if isinstance(screen, WatchScreen):
            reason = screen.reason_unavailable(action)
            if reason:
                self.notify(f"Not now: {reason}.", severity="warning", markup=False)

    def action_leave_run(self) -> None:
        screen = self.screen
        if isinstance(screen, WatchScreen) and len(self.screen_stack) > 2:
            screen.action_quit_watch()

    def on_unmount(self) -> None:
        if self._alert_service is not None:
            self._alert_service.stop()

    def farewell(self) -> list[str]:
        """What to print after the TUI closes: how to come back to a live run, or stop it."""
        if not self.run_id:
            return []
        from mletui.watch.livestate import read_status

        folder = RunFolder(runs_root() / self.run_id)
        try:
            status = read_status(folder)
        except (OSError, ValueError):
            return []
        if status.state.ended:
            return [f"Run {self.run_id} has ended ({status.state.value})."]
        return [
            f"Run {self.run_id} goes on ({status.state.value}).",
            f"  watch it again:  mletui watch {self.run_id}",
            f"  stop it:         mletui kill {self.run_id}",
        ]
