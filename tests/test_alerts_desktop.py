"""Alerts as a desktop notification through the terminal: one OSC 9 or OSC 777 sequence an
alert, of the kind the settings (or the terminal, for auto) choose, written to the app's driver."""

from __future__ import annotations

import re

import pytest
from textual.drivers.headless_driver import HeadlessDriver

from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.tui.app import MletuiApp
from mletui.tui.desktop import Desktop, desktop_kind, notification
from mletui.watch.alerts import load_settings
from tests.conftest import until
from tests.test_alerts_watch import alerts_toml
from tests.test_overview_actions import alerts_journaled

OSC = re.compile(r"\x1b\](9|777);")


@pytest.mark.parametrize(
    ("setting", "env", "kind"),
    [
        ('desktop = "osc777"\n', {"TERM": "xterm-256color"}, "777"),
        ("", {"TERM_PROGRAM": "WezTerm"}, "9"),  # auto: WezTerm takes OSC 9
    ],
)
async def test_an_alert_is_one_desktop_notification(
    monkeypatch: pytest.MonkeyPatch, setting: str, env: dict[str, str], kind: str
) -> None:
    for name in ("TERM_PROGRAM", "TERM", "WT_SESSION", "TMUX"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    written: list[str] = []
    monkeypatch.setattr(HeadlessDriver, "write", lambda self, data: written.append(data))
    alerts_toml(setting)
    crashed = start_run(resolve_task("digits"), agent_cmd="exit 5")
    app = MletuiApp(alerts=True, operator="pilot")
    async with app.run_test() as pilot:
        await until(pilot, lambda: alerts_journaled(crashed))
        await until(pilot, lambda: any("crashed" in n.message for n in app._notifications))
        await pilot.pause(0.5)  # a second check: nothing raised twice
    sequences = [m.group(1) for m in OSC.finditer("".join(written))]
    assert sequences == [kind]
    title = f"mletui: run {crashed.id}"
    expected = {
        "9": f"\x1b]9;{title}: crashed: exit code 5\x07",
        "777": f"\x1b]777;notify;{title};crashed: exit code 5\x07",
    }[kind]
    assert expected in written


async def test_no_desktop_notification_when_off_or_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[str] = []
    monkeypatch.setattr(HeadlessDriver, "write", lambda self, data: written.append(data))
    monkeypatch.setenv("TERM_PROGRAM", "iTerm.app")
    alerts_toml('desktop = "off"\n')
    crashed = start_run(resolve_task("digits"), agent_cmd="exit 5")
    app = MletuiApp(alerts=True, operator="pilot")
    async with app.run_test() as pilot:
        await until(pilot, lambda: any("crashed" in n.message for n in app._notifications))
        await pilot.pause(0.3)
    assert alerts_journaled(crashed) == 1
    assert not OSC.search("".join(written))


def test_auto_picks_from_the_terminal_and_tmux_wraps_only_when_asked() -> None:
    assert desktop_kind("auto", {"TERM_PROGRAM": "iTerm.app"}) is Desktop.OSC9
    assert desktop_kind("auto", {"TERM": "xterm-kitty"}) is Desktop.OSC9
    assert desktop_kind("auto", {"TERM": "foot-extra"}) is Desktop.OSC777
    assert desktop_kind("auto", {"TERM_PROGRAM": "ghostty"}) is Desktop.OSC777
    assert desktop_kind("auto", {"WT_SESSION": "x", "TERM": "xterm-256color"}) is Desktop.OSC9
    assert desktop_kind("auto", {"TERM_PROGRAM": "tmux", "TERM": "tmux-256color"}) is None
    assert desktop_kind("auto", {}) is None
    assert desktop_kind("off", {"TERM_PROGRAM": "WezTerm"}) is None
    assert desktop_kind("osc777", {}) is Desktop.OSC777
    plain = notification(Desktop.OSC9, "t", "b")
    assert plain == "\x1b]9;t: b\x07"
    wrapped = notification(Desktop.OSC9, "t", "b", tmux=True)
    assert wrapped == "\x1bPtmux;\x1b\x1b]9;t: b\x07\x1b\\"


def test_the_desktop_settings() -> None:
    alerts_toml('desktop = "osc9"\ndesktop_tmux = true\n')
    settings, warning = load_settings()
    assert warning is None and settings.desktop == "osc9" and settings.desktop_tmux
    for broken in ('desktop = "loud"\n', 'desktop_tmux = "yes"\n'):
        alerts_toml(broken)
        settings, warning = load_settings()
        assert warning is not None and "desktop" in warning and settings.desktop == "auto"
