"""The command palette (Ctrl+P): saving a screenshot (the watch screen adds its own actions).

Textual's own system commands (themes, keys, quit) stay; its screenshot command is replaced by
one that says where the picture went.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

if TYPE_CHECKING:
    from textual.app import App

SCREENSHOT = "Save screenshot"
SCREENSHOT_HELP = "an SVG of this screen, in the run's folder; or type a path after it"
SCREENSHOT_WORDS = ("save screenshot", "screenshot")


@runtime_checkable
class RunScreen(Protocol):
    """A screen of one run: its screenshots go in that run's folder."""

    def screenshots_folder(self) -> tuple[str, Path]:
        """The run's id and its screenshots folder."""
        ...


class ScreenshotCommands(Provider):
    """``Save screenshot`` into the run's folder, or ``Save screenshot PATH`` anywhere."""

    async def discover(self) -> Hits:
        yield DiscoveryHit(
            SCREENSHOT, partial(save_screenshot, self.app, None), help=SCREENSHOT_HELP
        )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        if (score := matcher.match(SCREENSHOT)) > 0:
            yield Hit(
                score,
                matcher.highlight(SCREENSHOT),
                partial(save_screenshot, self.app, None),
                help=SCREENSHOT_HELP,
            )
        lowered = query.strip().lower()
        for words in SCREENSHOT_WORDS:
            if lowered.startswith(words + " ") and (path := query.strip()[len(words) :].strip()):
                yield Hit(
                    1.0,
                    f"{SCREENSHOT} to {path}",
                    partial(save_screenshot, self.app, path),
                    text=f"{SCREENSHOT} {path}",
                    help="an SVG of this screen",
                )
                return


def screenshot_target(screen: Screen[object], given: str | None, now: float) -> Path:
    """Where a screenshot goes: the given file (or folder), else the run's screenshots folder
    (the current folder on a screen of no run)."""
    name = time.strftime("screenshot-%Y%m%d-%H%M%S.svg", time.localtime(now))
    if given is not None:
        path = Path(given).expanduser()
        return path / name if path.is_dir() or given.endswith("/") else path
    if isinstance(screen, RunScreen):
        run_id, folder = screen.screenshots_folder()
        return folder / f"{run_id}-{name}"
    return Path.cwd() / name


def save_screenshot(app: App[object], given: str | None) -> None:
    """Save an SVG of the screen and say where it went, or why it could not."""
    target = screenshot_target(app.screen, given, time.time())
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(app.export_screenshot(), encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        app.notify(f"No screenshot saved: {target}: {reason}.", severity="error", markup=False)
        return
    app.notify(f"Screenshot saved: {target}", markup=False, timeout=8)
