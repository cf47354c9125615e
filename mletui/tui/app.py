"""The Textual app: the runs overview and the watch screen, themes, and the keys' fallbacks."""

from __future__ import annotations

import gc
import os
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from mletui.integrations.mlebench.runs import MlebenchRun
from mletui.store.runs import RunFolder, runs_root
from mletui.tui.screens.overview import OverviewScreen
from mletui.tui.screens.watch import WatchScreen
from mletui.tui.theming import THEME_ENV, pick_theme, register_themes

GC_THRESHOLD = 10_000
"""Allocations between two young-generation collections (Python's default: 700)."""


class MletuiApp(App[None]):
    TITLE = "mletui"
    ENABLE_COMMAND_PALETTE = False

    # Reached only when the watch screen greys a key out: say why instead of doing nothing.
    BINDINGS = [
        Binding("p", "explain('toggle_pause')", show=False),
        Binding("F", "explain('toggle_freeze')", show=False),
        Binding("h", "explain('hint')", show=False),
        Binding("K", "explain('kill')", show=False),
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
        mlebench_run: MlebenchRun | None = None,
        mlebench_root: Path | None = None,
    ) -> None:
        super().__init__()
        self.mlebench_run = mlebench_run  # set: watch this run of MLE-bench's own harness
        self.mlebench_root = mlebench_root  # the overview lists MLE-bench's runs under it too
        self.gpu_interval_s = gpu_interval_s  # set: open the GPU screen alone (`mletui gpu`)
        self.show_grades = show_grades  # the demo: held-out grades shown without G
        self.replay_id = replay_id
        self.replay_options = (speed, skip_idle)
        self.run_id = run_id
        self.operator = operator
        self.drive = drive
        self.requested_theme = theme_name or os.environ.get(THEME_ENV)

    def on_mount(self) -> None:
        warnings = register_themes(self)
        theme, unknown = pick_theme(self.requested_theme, set(self.available_themes))
        if unknown:
            warnings.append(unknown)
        for warning in warnings:
            self.notify(warning, severity="warning", markup=False, timeout=8)
        self.theme = theme
        if self.gpu_interval_s is not None:
            from mletui.tui.screens.gpu import GpuScreen

            self.push_screen(GpuScreen(interval_s=self.gpu_interval_s))
        elif self.mlebench_run is not None:
            from mletui.tui.screens.mlebench import MlebenchWatchScreen

            self.push_screen(MlebenchWatchScreen(self.mlebench_run))
        elif self.replay_id:
            from mletui.tui.screens.replay import ReplayScreen

            speed, skip_idle = self.replay_options
            folder = RunFolder(runs_root() / self.replay_id)
            self.push_screen(ReplayScreen(folder, speed=speed, skip_idle=skip_idle))
        elif self.run_id:
            folder = RunFolder(runs_root() / self.run_id)
            self.push_screen(
                WatchScreen(folder, self.operator, drive=self.drive, show_grades=self.show_grades)
            )
        else:
            self.push_screen(OverviewScreen(self.mlebench_root))
        # What start-up built lives as long as the app: keep it out of the garbage collector's
        # passes; and collect less often (a log flood makes short-lived objects by the thousand
        # a frame): each full pass would pause the keyboard for tens of ms.
        self.call_after_refresh(gc.freeze)
        gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])

    def action_explain(self, action: str) -> None:
        screen = self.screen
        if isinstance(screen, WatchScreen):
            reason = screen.reason_unavailable(action)
            if reason:
                self.notify(f"Not now: {reason}.", severity="warning", markup=False)

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
