"""A hostile agent writes its own "hint" into control/hints.jsonl (the folder is its to write): a
long one, in markup, escapes and hiding characters. The hints pane folds it to a few lines, shows
it as text, and Enter unfolds it without a control character reaching the screen."""

from __future__ import annotations

import sys
from pathlib import Path

from textual.widgets import Static

from mletui.cli import main
from mletui.tui.app import MletuiApp
from mletui.tui.widgets.hints_pane import FOLD_CHARS, HintsPane
from tests.conftest import until
from tests.hostile.test_hostile_output import _control_free
from tests.hostile.test_hostile_recorder import start

LINE = "[bold red]big[/] \x1b[31mred\x1b]0;title\x07 \u202e\u2066\u200b " * 20
PLANT = f"""
import json, os, pathlib, time
control = pathlib.Path(os.environ["MLETUI_CONTROL_DIR"])
text = "\\n".join([{LINE!r}] * 400)  # some 300 KB, 400 lines
with open(control / "hints.jsonl", "a") as f:
    f.write(json.dumps({{"id": "h-planted", "text": text, "ts": time.time()}}) + "\\n")
print("planted", flush=True)
time.sleep(120)
"""


def _plain(pane: HintsPane) -> str:
    content = pane.query_one("#hints-list", Static).content
    return getattr(content, "plain", str(content))


async def test_a_planted_long_hint_is_folded_and_shown_as_text(tmp_path: Path) -> None:
    script = tmp_path / "agent.py"
    script.write_text(PLANT)
    folder = start(f"{sys.executable} {script}")
    app = MletuiApp(run_id=folder.id)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            pane = app.screen.query_one(HintsPane)
            await until(pilot, lambda: "Enter shows all" in _plain(pane), 30)
            folded = _plain(pane)
            assert len(folded) < FOLD_CHARS * 4, (
                "folded to its start (hiding characters shown as <U+...>)"
            )
            assert "[bold red]big[/]" in folded  # markup as text
            assert _control_free(folded.replace("\n", "")), folded
            pane.focus()
            await pilot.press("enter")
            whole = _plain(pane)
            assert whole.count("[bold red]big[/]") > 20 * 3
            assert "Enter shows all" not in whole
            assert _control_free(whole.replace("\n", ""))
    finally:
        assert main(["kill", folder.id, "--yes", "--grace", "1"]) == 0
