"""Hostile agent output, end to end: nothing reaches the terminal as a control sequence or the UI
as markup, and the watcher keeps going."""

from __future__ import annotations

import re

from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.tui.app import MletuiApp
from mletui.tui.widgets.code_pane import CodePane
from mletui.tui.widgets.log_view import LogView
from tests.test_tui import SIZE, until, watch_screen

HOSTILE_AGENT = r"""
printf '\033]0;pwned\007title set\n'
printf '\033]52;c;cm0gLXJmIH4=\007clipboard\n'
printf '\033[2J\033[Hscreen cleared\n'
printf '\033[6nstatus query\n'
printf '[bold red]markup[/]\n'
printf 'bad \377\376 bytes\n'
printf 'progress 10%%\rprogress 50%%\rprogress 100%%\n'
head -c 1048576 /dev/zero | tr '\0' 'x'; echo
printf 'pwned' > "$MLETUI_WORKSPACE/$(printf '[red]evil\033[31m.py')"
printf '{"step": "x", "value": "nan"}\n{"garbage\n' > "$MLETUI_CONTROL_DIR/metrics.jsonl"
echo done
sleep 60
"""

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


async def test_hostile_output_is_shown_as_plain_text() -> None:
    folder = start_run(resolve_task("digits"), agent_cmd=HOSTILE_AGENT)
    app = MletuiApp(run_id=folder.id)
    async with app.run_test(size=SIZE) as pilot:
        screen = watch_screen(app)
        log = screen.query_one(LogView)
        await until(pilot, lambda: any(line.text == "done" for line in log.lines))
        texts = [line.text for line in log.lines]
        assert not any(CONTROL.search(t) for t in texts)
        assert "title set" in texts and "clipboard" in texts and "status query" in texts
        assert "[bold red]markup[/]" in texts
        assert "bad \ufffd\ufffd bytes" in texts
        assert "progress 100%" in texts
        assert any(t.startswith("xxxx") and "cut" in t for t in texts)
        # What the screen renders is free of control characters too.
        for y in range(log.size.height):
            assert not CONTROL.search(log.render_line(y).text)
        pane = screen.query_one(CodePane)
        await until(pilot, lambda: pane.snapshots)
        paths = [c.path for s in pane.snapshots for c in s.changes]
        assert any("evil" in p for p in paths)
        await pilot.pause(0.5)
        assert app.is_running  # the malformed metrics lines were noted, not fatal
