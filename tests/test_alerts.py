"""Alerts from real runs, raised once, delivered through Apprise to a local HTTP endpoint."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder, config_dir
from mletui.watch.alerts import Alert, AlertKind, AlertSettings, load_settings
from mletui.watch.delivery import AlertService
from tests.alert_fixtures import Inbox, inbox  # noqa: F401  (the fixture)
from tests.conftest import until, wait_for

ASKING_AGENT = textwrap.dedent(
    """
    import time
    from mletui import protocol
    protocol.hello("asker")
    protocol.ask("Which fold should I hold out?")
    time.sleep(60)
    """
)


def alert_entries(folder: RunFolder) -> list[dict[str, Any]]:
    return [e for e in read_journal(folder.journal_path).entries if e.get("kind") == "alert"]


def python_agent(tmp_path: Path, name: str, source: str) -> str:
    script = tmp_path / f"{name}.py"
    script.write_text(source, encoding="utf-8")
    return f"{sys.executable} {script}"


def service(
    shown: list[Alert], urls: tuple[str, ...], bells: list[int] | None = None
) -> AlertService:
    bell = (lambda: bells.append(1)) if bells is not None else None
    settings = AlertSettings(poll_s=0.2)
    return AlertService(settings, shown.append, shown.append, bell, urls)


def test_crash_question_and_time_budget_reach_the_endpoint_once(
    tmp_path: Path,
    inbox: Inbox,  # noqa: F811
) -> None:
    task = resolve_task("digits")
    crash = start_run(task, agent_cmd="sleep 0.5; exit 3")
    asker = start_run(task, agent_cmd=python_agent(tmp_path, "asker", ASKING_AGENT))
    timed = start_run(task, agent_cmd="sleep 60", time_limit_s=5)
    shown: list[Alert] = []
    bells: list[int] = []
    first = service(shown, (inbox.url,), bells)

    def arrived() -> bool:
        first.check_once()
        bodies = inbox.bodies()
        return (
            any("crashed: exit code 3" in b for b in bodies)
            and any("Which fold should I hold out?" in b for b in bodies)
            and any("80 % of its time budget" in b for b in bodies)
        )

    wait_for(arrived, 60, "the three alerts at the endpoint")
    # A second watcher (another operator's overview) finds them journaled: it raises none again.
    second_shown: list[Alert] = []
    second = service(second_shown, (inbox.url,))
    for _ in range(3):
        first.check_once()
        assert not [a for a in second.check_once() if a.kind in (AlertKind.CRASHED, AlertKind.ASK)]
    bodies = inbox.bodies()
    assert sum("crashed: exit code 3" in b for b in bodies) == 1
    assert sum("Which fold should I hold out?" in b for b in bodies) == 1
    assert sum("80 % of its time budget" in b for b in bodies) == 1
    titles = [m["title"] for m in inbox.messages]
    assert f"mletui: run {crash.id} crashed" in titles
    assert f"mletui: run {asker.id} ask" in titles
    assert f"mletui: run {timed.id} budget" in titles
    assert bells, "the bell rang"
    assert {a.run_id for a in shown if isinstance(a, Alert)} >= {crash.id, asker.id, timed.id}
    # Journaled once, in the run's own journal, with its kind and text.
    crashed = alert_entries(crash)
    assert [(e["alert"], e["key"]) for e in crashed] == [("crashed", "crashed")]
    asked = [e for e in read_journal(asker.journal_path).entries if e.get("kind") == "ask"]
    assert [e["text"] for e in asked] == ["Which fold should I hold out?"]
    assert [e["alert"] for e in alert_entries(asker)] == ["ask"]


def test_a_failing_url_is_one_notice_and_alerts_still_shown() -> None:
    crash = start_run(resolve_task("digits"), agent_cmd="exit 2")
    shown: list[Any] = []
    # Nothing listens on port 9 of 127.0.0.1: every post fails.
    alerts = service(shown, ("json://127.0.0.1:9/", "not a url at all"))
    assert shown == ["Alerts not sent to a URL: Apprise does not take that URL."]

    def alerted(count: int) -> bool:
        alerts.check_once()
        return sum(isinstance(a, Alert) for a in shown) >= count

    wait_for(lambda: alerted(1), 60, "the first crash")
    other = start_run(resolve_task("digits"), agent_cmd="exit 4")
    wait_for(lambda: alerted(2), 60, "the second crash")
    notices = [s for s in shown if isinstance(s, str)]
    assert notices == [
        "Alerts not sent to a URL: Apprise does not take that URL.",
        "Alerts to json://… failed; mletui keeps trying.",
    ]
    assert {a.run_id for a in shown if isinstance(a, Alert)} == {crash.id, other.id}


def test_settings_file(tmp_path: Path) -> None:
    assert load_settings() == (AlertSettings(), None)
    path = config_dir() / "alerts.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        '[alerts]\nbell = false\noff = ["best"]\nbudget_warn_percent = 90\n'
        'notify = ["json://127.0.0.1:1/"]\nno_score_minutes = 30\n',
        encoding="utf-8",
    )
    settings, warning = load_settings()
    assert warning is None
    assert not settings.bell and AlertKind.BEST not in settings.kinds
    assert settings.budget_warn == 0.9 and settings.no_score_s == 1800
    assert settings.notify == ("json://127.0.0.1:1/",)
    for broken in ("[alerts\n", '[alerts]\nbell = "loud"\n', '[alerts]\noff = ["nope"]\n'):
        path.write_text(broken, encoding="utf-8")
        settings, warning = load_settings()
        assert settings == AlertSettings()
        assert warning is not None and "\n" not in warning and "default alerts" in warning


async def test_the_overview_toasts_an_alert(tmp_path: Path) -> None:
    from mletui.tui.app import MletuiApp

    crash = start_run(resolve_task("digits"), agent_cmd="exit 5")
    path = config_dir() / "alerts.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[alerts]\npoll_seconds = 0.2\n", encoding="utf-8")
    app = MletuiApp(alerts=True)
    async with app.run_test() as pilot:
        await until(
            pilot,
            lambda: any("crashed: exit code 5" in n.message for n in app._notifications),
        )
        toast = next(n for n in app._notifications if "crashed" in n.message)
        assert toast.title == f"run {crash.id}" and toast.severity == "error"
    assert [e["key"] for e in alert_entries(crash)] == ["crashed"]
