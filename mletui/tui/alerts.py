"""The app's side of alerts: toasts and the bell from the alert thread (mletui.watch.delivery)."""

from __future__ import annotations

import contextlib
import os

from textual.app import App

from mletui.tui.desktop import Desktop, desktop_kind, notification
from mletui.tui.format import printable
from mletui.watch.alerts import Alert, AlertKind, load_settings
from mletui.watch.delivery import AlertService

_SEVERITY = {AlertKind.CRASHED: "error", AlertKind.LOST: "error", AlertKind.ASK: "warning"}


def start_alerts(app: App[None], urls: tuple[str, ...] = ()) -> AlertService:
    """Start checking for alerts; each one a toast (and the bell) on ``app``, a desktop
    notification where the terminal has one, and a message to every Apprise URL (``urls`` and
    the config file's)."""
    settings, warning = load_settings()
    if warning:
        app.notify(warning, severity="warning", markup=False, timeout=8)

    def later(callback: object, *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the app is closing
            app.call_from_thread(callback, *args)  # type: ignore[arg-type]

    desktop = desktop_kind(settings.desktop, os.environ)
    tmux = settings.desktop_tmux and bool(os.environ.get("TMUX"))

    def show(alert: Alert) -> None:
        later(_toast, app, alert)
        if desktop is not None:
            later(_desktop, app, alert, desktop, tmux)

    def warn(text: str) -> None:
        later(_notice, app, text)

    service = AlertService(settings, show, warn, lambda: later(app.bell), urls)
    service.start()
    return service


def _toast(app: App[None], alert: Alert) -> None:
    severity = _SEVERITY.get(alert.kind, "information")
    app.notify(printable(alert.text), title=f"run {alert.run_id}", severity=severity, markup=False)  # type: ignore[arg-type]


def _desktop(app: App[None], alert: Alert, kind: Desktop, tmux: bool) -> None:
    # As App.bell writes, straight to the terminal; a headless app's driver drops it.
    if app._driver is not None:
        app._driver.write(notification(kind, f"mletui: run {alert.run_id}", alert.text, tmux))


def _notice(app: App[None], text: str) -> None:
    app.notify(printable(text), severity="warning", markup=False, timeout=8)
