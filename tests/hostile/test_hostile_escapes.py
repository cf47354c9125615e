"""Hostile escapes: an agent printing every escape sequence it can gets its SGR colours shown as
styles in the log pane, and nothing else: no OSC, DCS, cursor move or broken SGR reaches a cell,
and a megabyte line of SGR is cut like any long line."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.color import Color

from mletui.cli import main
from mletui.store.spool import LogHistory, spool_path
from mletui.tui.app import MletuiApp
from mletui.tui.widgets.log_view import LogView
from tests.conftest import until, wait_for
from tests.hostile.test_hostile_output import _control_free
from tests.hostile.test_hostile_recorder import start

AGENT = r"""
import sys, time
w = sys.stdout.buffer.write
w(b"\x1b]0;pwned\x07\x1b]52;c;cHduZWQ=\x07\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\ osc-done\n")
w(b"\x1bP1$r0m\x1b\\\x1bPq#0;2;0;0;0#0!10~\x1b\\dcs-done\n")
w(b"\x1b[2J\x1b[H\x1b[3;3H\x1b[?1049h\x1b[?25l\x1b[6n\x1b[5A\x1b7\x1b8\x1bc\x1b[r cursor-done\n")
w(b"\x1b[38;5;999m\x1b[38;2;999;0;0m\x1b[" + b"1;" * 100 + b"31mhundred-done\x1b[0m\n")
w(b"\xc2\x9b2J\xc2\x9d0;t\xc2\x9c\x1b[5;8mshown-done\x1b[0m\n")
w(b"\x1b[1;31mRED-MARK\x1b[0m plain\n")
w(b"\x1b[31mx\x1b[32my" * (1 << 16) + b"\n")
sys.stdout.flush()
time.sleep(60)
"""

DONE = ["link osc-done", "dcs-done", "cursor-done", "hundred-done", "shown-done", "RED-MARK plain"]


async def test_only_sgr_colours_reach_the_log_pane(tmp_path: Path) -> None:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    folder = start(f"{sys.executable} {script}")
    try:
        history = LogHistory(spool_path(folder.path))

        def flood_read() -> bool:  # the supervisor's own lines may come first: wait for the last
            history.poll()
            return any(line.text.startswith("xyxy") for line in history.read(1, history.line_count))

        wait_for(flood_read, 30, "the agent's seven lines, the flood last")
        lines = history.read(1, history.line_count)
        texts = [line.text for line in lines]
        for word in DONE:
            assert any(text.endswith(word) for text in texts), (word, texts)
        assert all(text.isprintable() for text in texts)
        red = next(line for line in lines if line.text == "RED-MARK plain")
        assert [(s, e) for s, e, _ in red.styles] == [(0, 8)]
        hundred = next(line for line in lines if line.text == "hundred-done")
        # Only the first 64 parameters are read: bold, and the 31 past them is not.
        assert [(s, e, st.bold, st.fg) for s, e, st in hundred.styles] == [(0, 12, True, None)]
        shown = next(line for line in lines if line.text == "shown-done")
        assert shown.styles == ()  # blink and conceal are not kept: the text is shown plain
        flood = next(line for line in lines if line.text.startswith("xyxy"))
        assert flood.text.endswith(f" … [cut: {(1 << 16) * 12:,} bytes]")

        app = MletuiApp(run_id=folder.id)
        async with app.run_test(size=(120, 40)) as pilot:
            view = app.screen.query_one(LogView)
            await until(pilot, lambda: any("RED-MARK" in view.text_at(y) for y in range(40)), 30)
            strips = [view.render_line(y) for y in range(view.scrollable_content_region.height)]
            segments = [seg for strip in strips for seg in strip]
            assert all(_control_free(seg.text) for seg in segments), [s.text for s in segments]
            marks = [seg for seg in segments if seg.text == "RED-MARK"]
            assert marks and marks[0].style is not None and marks[0].style.bold
            assert marks[0].style.color is not None
            assert marks[0].style.color != Color.default()
    finally:
        assert main(["kill", folder.id, "--yes", "--grace", "1"]) == 0
