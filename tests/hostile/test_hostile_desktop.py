"""An agent that aims its question at the operator's terminal, through the desktop notification.

A real agent calls ``protocol.ask`` with a text built to end the OSC early and start its own
sequences: ESC, BEL, ST (7-bit and 8-bit), C1 introducers, ';' to add fields of its own, a
bidi override, line breaks, and a megabyte of text after them. The terminal must get exactly one
well-formed notification of the chosen kind, bounded, holding none of those bytes.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest
from textual.drivers.headless_driver import HeadlessDriver

from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store.runs import config_dir
from mletui.tui.app import MletuiApp
from mletui.tui.desktop import MAX_BODY, MAX_TITLE
from tests.conftest import until

NASTY = (
    "fold;3 \x1b]9;PWNED\x07 \x1b]777;notify;evil;body\x1b\\ \x9d52;c;cm0=\x9c \x90q\x9c"
    " \x1b[2J\x07\x07 \x85\x9b31m \u202eevil\u202c\r\nend;"
)
MEGABYTE = 500_000  # "A;" this many times after the nasty part: 1 MB, under a line's limit

ASKING_AGENT = textwrap.dedent(
    f"""
    import time
    from mletui import protocol
    protocol.hello("terminal-attacker")
    protocol.ask({NASTY!r} + "A;" * {MEGABYTE})
    time.sleep(60)
    """
)

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@pytest.mark.parametrize("kind", ["osc777", "osc9"])
async def test_a_question_aimed_at_the_terminal_is_one_inert_notification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.delenv("TMUX", raising=False)
    written: list[str] = []
    monkeypatch.setattr(HeadlessDriver, "write", lambda self, data: written.append(data))
    path = config_dir() / "alerts.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[alerts]\npoll_seconds = 0.2\ndesktop = "{kind}"\n', encoding="utf-8")
    script = tmp_path / "attacker.py"
    script.write_text(ASKING_AGENT, encoding="utf-8")
    folder = start_run(resolve_task("digits"), agent_cmd=f"{sys.executable} {script}")
    app = MletuiApp(alerts=True, operator="pilot")
    async with app.run_test() as pilot:
        await until(pilot, lambda: any("asks for help" in n.message for n in app._notifications))
        await pilot.pause(0.5)  # later checks: nothing more
    # Textual's own writes to a headless driver: the mouse pointer's shape (OSC 22), left out.
    ours = [chunk for chunk in written if not chunk.startswith("\x1b]22;")]
    sent = [chunk for chunk in ours if "\x1b" in chunk or "\x07" in chunk or "\x9c" in chunk]
    assert len(sent) == 1, sent
    (sequence,) = sent
    title = f"mletui: run {folder.id}"
    prefix = f"\x1b]777;notify;{title};" if kind == "osc777" else f"\x1b]9;{title}: "
    assert sequence.startswith(prefix) and sequence.endswith("\x07")
    body = sequence[len(prefix) : -1]
    # One ESC and one BEL, those of the sequence itself; no other control byte, no field of the
    # agent's, the override shown visibly, and bounded.
    assert not CONTROL.search(body) and ";" not in body and "\u202e" not in body
    assert len(body) <= MAX_BODY and len(title) <= MAX_TITLE and len(sequence) < 300
    assert body.startswith("asks for help: fold,3 ")
    assert "<U+202E>evil<U+202C>  end,A,A" in body
    assert "PWNED" not in body and "evil,body" not in body  # its sequences gone, payload too
