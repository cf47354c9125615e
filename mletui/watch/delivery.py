"""Delivering alerts: on screen (a callback), the terminal bell, and Apprise URLs.

One thread checks the runs and delivers, off the UI thread. A URL that fails is said once (and
again only after it worked in between), never raised: a dead webhook must not stop the watcher.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from mletui.watch.alerts import Alert, AlertKind, AlertSettings, AlertWatcher

# How Apprise marks a message: a crash or a question is a failure or warning, a medal a success.
_TYPES = {
    AlertKind.CRASHED: "failure",
    AlertKind.LOST: "failure",
    AlertKind.STALLED: "warning",
    AlertKind.NO_SCORE: "warning",
    AlertKind.BUDGET: "warning",
    AlertKind.ASK: "warning",
    AlertKind.BEST: "success",
    AlertKind.MEDAL: "success",
    AlertKind.HINT_ANSWERED: "info",
}


def _scheme(url: str) -> str:
    """A URL as a notice names it: its scheme only (the rest may hold a token)."""
    return url.split("://", 1)[0] + "://…" if "://" in url else "a URL"


class AppriseSender:
    """Sends each alert to every URL; each failing URL is one warning."""

    def __init__(self, urls: tuple[str, ...], warn: Callable[[str], None]) -> None:
        self.warn = warn
        self._targets: list[tuple[str, Any]] = []
        self._failing: set[str] = set()
        if not urls:
            return
        import apprise

        log = logging.getLogger("apprise")  # its own log would write over the screen
        log.addHandler(logging.NullHandler())
        log.propagate = False
        for url in urls:
            target = apprise.Apprise()
            if target.add(url):
                self._targets.append((url, target))
            else:
                warn(f"Alerts not sent to {_scheme(url)}: Apprise does not take that URL.")

    def send(self, alert: Alert) -> None:
        for url, target in self._targets:
            try:
                ok = target.notify(
                    body=alert.text,
                    title=f"mletui: run {alert.run_id} {alert.kind.value}",
                    notify_type=_TYPES[alert.kind],
                    interpret_escapes=False,
                )
            except Exception:  # a plugin's bug must not end the watcher
                ok = False
            if ok:
                self._failing.discard(url)
            elif url not in self._failing:
                self._failing.add(url)
                self.warn(f"Alerts to {_scheme(url)} failed; mletui keeps trying.")


class AlertService:
    """Checks for alerts every ``settings.poll_s`` seconds in a thread and delivers them:
    ``show`` (a toast), ``bell`` (when on), and the Apprise URLs."""

    def __init__(
        self,
        settings: AlertSettings,
        show: Callable[[Alert], None],
        warn: Callable[[str], None],
        bell: Callable[[], None] | None = None,
        urls: tuple[str, ...] = (),
    ) -> None:
        self.settings = settings
        self.watcher = AlertWatcher(settings)
        self.show = show
        self.warn = warn
        self.bell = bell if settings.bell else None
        self.sender = AppriseSender(tuple(dict.fromkeys((*settings.notify, *urls))), warn)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mletui-alerts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def check_once(self) -> list[Alert]:
        """One check and the delivery of what it raised."""
        alerts = self.watcher.check()
        for alert in alerts:
            self.show(alert)
            self.sender.send(alert)
        if alerts and self.bell is not None:
            self.bell()
        return alerts

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.check_once()
            except Exception as exc:  # the watcher goes on: one notice, then the next check
                self.warn(f"Alerts check failed ({type(exc).__name__}); retrying.")
            self._stop.wait(self.settings.poll_s)
