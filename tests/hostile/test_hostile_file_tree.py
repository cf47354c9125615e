"""The file tree of a hostile workspace: names that are markup, escape sequences and control
characters, a folder named like a link, and a link to a host secret. The tree shows every name
inert, lists no link, and a file's history and diff are drawn the same way."""

from __future__ import annotations

from textual.widgets import OptionList, Static

from mletui.tui.app import MletuiApp
from mletui.tui.screens.file_tree import FileTreeScreen
from mletui.tui.screens.watch import WatchScreen
from mletui.tui.widgets.code_pane import CodePane
from tests.conftest import until, wait_for
from tests.hostile.test_hostile_recorder import entries, kill, start

NAMES = r"""
cd "$MLETUI_WORKSPACE"
python3 - <<'EOF'
import os, time
os.makedirs("[link=file:]dir", exist_ok=True)
names = ("[bold red]markup.py", "\x1b[31mred\x1b]0;title\x07.py", "bell\x07\x08.txt",
         "[link=file:]dir/[b]inner.py")
for name in names:
    with open(name, "w") as f:
        f.write("print('\x1b[2Jfirst')\n")
os.symlink("/etc/passwd", "secret.py")
time.sleep(1.5)
with open(names[0], "w") as f:
    f.write("print('\x1b[2Jsecond [b]x[/b]')\n")
EOF
echo written; sleep 60
"""


def _drawn(screen: FileTreeScreen, selector: str) -> list[str]:
    listing = screen.query_one(selector, OptionList)
    return [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)]


async def test_the_file_tree_of_hostile_names_is_inert_and_lists_no_link() -> None:
    folder = start(NAMES)
    try:

        def changed() -> bool:
            snapshots = entries(folder, "snapshot")
            return any(c["status"] == "modified" for s in snapshots for c in s["changes"])

        wait_for(
            changed,
            30,
            "the snapshot where the markup file changed",
        )
        app = MletuiApp(run_id=folder.id, operator="pilot")
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            assert isinstance(screen, WatchScreen)
            code = screen.query_one(CodePane)
            await until(pilot, lambda: len(code.snapshots) >= 2)
            code.query_one(OptionList).focus()
            await pilot.press("t")
            await until(pilot, lambda: isinstance(app.screen, FileTreeScreen))
            tree = app.screen
            assert isinstance(tree, FileTreeScreen)
            drawn = _drawn(tree, "#file-tree-files")
            text = "\n".join(drawn)
            assert not any(ch in text for ch in "\x1b\x07\x08")  # no control reaches the screen
            assert "[bold red]markup.py" in text  # markup shown as the text it is
            assert "[link=file:]dir/" in text and "[b]inner.py" in text
            assert "secret.py" not in text  # the link was never followed nor listed
            assert "root:" not in text

            # The markup file: its history (two snapshots), and its diff at the newest change.
            files = tree.query_one("#file-tree-files", OptionList)
            files.focus()
            files.highlighted = next(i for i, t in enumerate(drawn) if "markup" in t)
            await pilot.press("enter")
            await until(pilot, lambda: len(tree.history) == 2)
            assert [c.status for _, c in tree.history] == ["added", "modified"]
            history = "\n".join(_drawn(tree, "#file-tree-history"))
            assert "modified" in history and "added" in history
            await pilot.press("enter")  # the newest change, highlighted first
            await until(pilot, lambda: tree.diff_text != "")
            assert "second [b]x[/b]" in tree.diff_text
            shown = str(tree.query_one("#file-tree-diff", Static).render())
            assert "second [b]x[/b]" in shown and "\x1b" not in shown
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is screen)
    finally:
        kill(folder)
