"""Hostile stderr: an agent prints to stderr lines made to look like the log pane's own marks
(the stderr bar, the search counter and its wrap-around word, Rich markup) and control sequences;
the pane shows them as inert text, its bar and counter stay its own."""

from __future__ import annotations

import sys
from pathlib import Path

from mletui.core.events import Stream
from mletui.store.log_search import LogQuery
from mletui.tui.app import MletuiApp
from mletui.tui.widgets.log_view import LogView
from tests.conftest import wait_ended
from tests.hostile.test_hostile_recorder import start
from tests.test_tui import SIZE, until, watch_screen

AGENT = r"""
import sys
for line in [
    "\u258cfake bar pwn",
    "[reverse]/ pwn 99/99[/reverse] pwn",
    "search hit bottom, continuing at top pwn",
    "\x1b[41;97merror pwn\x1b[0m",
    "\x1b]0;retitled\x07\x1b[2J\x1b[Hpwn",
    "\u202epwn\u202c [b]markup[/b]",
    "50%|#####     | 5/10 pwn\r",
]:
    print(line, file=sys.stderr, flush=True)
print("plain pwn", flush=True)
"""


def _control_free(text: str) -> bool:
    return all(c.isprintable() and c not in "\u202e\u202c" for c in text)


async def test_stderr_dressed_as_the_panes_own_marks_stays_text(tmp_path: Path) -> None:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    folder = start(f"{sys.executable} {script}")
    wait_ended(folder, 120)
    app = MletuiApp(run_id=folder.id)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        log = watch_screen(app).query_one(LogView)
        await until(pilot, lambda: any("plain pwn" in line.text for line in log.lines))
        await pilot.press("e", "e")
        await until(pilot, lambda: log._filter is not None and log._filter.caught_up)
        await pilot.pause()
        assert log.stream_filter is Stream.STDERR and log.row_count == 7
        assert str(log.border_title).endswith("stderr only")
        shown = [log.text_at(y) for y in range(log.row_count)]
        bar = log.get_component_rich_style("log-view--stderr-mark")
        for y, text in enumerate(shown):
            assert _control_free(text), repr(text)
            first = next(iter(log.render_line(y)))
            assert first.text == "▌" and first.style is not None and first.style.color == bar.color
        assert shown[0].startswith("▌▌fake bar"), "the agent's bar is text after the pane's"
        assert "[reverse]/ pwn 99/99[/reverse]" in shown[1], "markup shown as typed"
        assert "[b]markup[/b]" in shown[5]
        # The counter counts the lines shown that match, whatever the lines say about counters.
        log.search(LogQuery("pwn"))
        await until(pilot, lambda: log.match_count == (7, True) and log.pointer is not None)
        await pilot.press("n")
        subtitle = str(log.border_subtitle)
        assert log._filter is not None and log.pointer == log._filter.numbers[0]
        assert "1/7 · search hit bottom, continuing at top · line " in subtitle
        assert _control_free(subtitle)
        screen_text = "".join(s.text for s in app.screen._compositor.render_strips())
        assert _control_free(screen_text)
        assert "retitled" not in screen_text
