"""An agent that floods the operator with questions, written to break the screen and the phone.

A real agent calls ``protocol.ask`` hundreds of times with Rich markup, terminal escape sequences
(clear screen, set the clipboard, a title) and bidi overrides in its text. The operator must get
a bounded number of alerts, each as inert text: on screen (a toast), in the journal and at the
Apprise endpoint.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from mletui.core.sanitize import inert
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store.journal import read_journal
from mletui.tui.format import printable
from mletui.watch.alerts import Alert, AlertKind, AlertSettings
from mletui.watch.delivery import AlertService
from tests.alert_fixtures import Inbox, inbox  # noqa: F401  (the fixture)
from tests.conftest import wait_for

FLOOD = 400
NASTY = (
    "[bold red]PWNED[/] \x1b[2J\x1b]52;c;cm0gLXJmIH4=\x07\x1b]0;title\x07 \u202eevil\u202c\r\nend"
)

FLOODING_AGENT = textwrap.dedent(
    f"""
    import time
    from mletui import protocol
    protocol.hello("flooder")
    for i in range({FLOOD}):
        protocol.ask({NASTY!r} + " %d" % i)
    time.sleep(60)
    """
)


def test_a_flood_of_questions_is_rate_limited_and_inert(tmp_path: Path, inbox: Inbox) -> None:  # noqa: F811
    script = tmp_path / "flood.py"
    script.write_text(FLOODING_AGENT, encoding="utf-8")
    folder = start_run(resolve_task("digits"), agent_cmd=f"{sys.executable} {script}")

    def asked() -> int:
        entries = read_journal(folder.journal_path).entries
        return sum(1 for e in entries if e.get("kind") == "ask")

    wait_for(lambda: asked() == FLOOD, 60, "every question journaled")
    shown: list[object] = []
    service = AlertService(
        AlertSettings(ask_limit=3), shown.append, shown.append, None, (inbox.url,)
    )
    for _ in range(5):  # watchers keep checking: the window holds
        service.check_once()
    alerts = [a for a in shown if isinstance(a, Alert) and a.kind is AlertKind.ASK]
    assert len(alerts) == 3
    assert "398 more times (rate-limited)" in alerts[-1].text  # 2 one by one, 398 folded
    journaled = [e for e in read_journal(folder.journal_path).entries if e.get("kind") == "alert"]
    assert len([e for e in journaled if e["alert"] == "ask"]) == 3
    bodies = inbox.bodies()
    assert len(bodies) == 3
    for text in [a.text for a in alerts] + bodies + [str(e["text"]) for e in journaled]:
        assert "\x1b" not in text and "\x07" not in text and "\r" not in text and "\n" not in text
        assert "\u202e" not in text  # shown as a visible <U+202E>, never reordering the line
        assert "[bold red]PWNED[/]" in text  # kept as the agent's literal text ...
        assert inert(text) == text and printable(text) == text  # ... nothing left to interpret
