"""The workspace at one snapshot, as a tree of its files with their sizes (``t`` in the code
pane). Enter on a file lists its history, the snapshots where it changed; Enter on one of those
shows that file's diff there. Esc or q closes it.

Every name here is the agent's: drawn through :func:`printable`, never as markup, and never used
as a widget id (the lists name their rows by number).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from mletui.core.clock import wall_clock
from mletui.core.events import FileChange, Snapshot
from mletui.store.snapshots import FileAt, file_history, files_at
from mletui.tui.format import component_style, human_bytes, printable

DiffProvider = Callable[[Snapshot], list[tuple[str, str, str]]]

MAX_DIFF_LINES = 5_000  # of one file's diff: a generated file must not freeze the screen
MAX_NAME = 200  # characters of a name drawn in the tree


def tree_rows(files: Sequence[FileAt]) -> list[tuple[int, str, FileAt | None]]:
    """(depth, label, file) for each row of the tree: a folder's row (no file) before its files."""
    rows: list[tuple[int, str, FileAt | None]] = []
    opened: tuple[str, ...] = ()
    for file in files:
        *folders, name = file.path.split("/")
        common = 0
        while common < min(len(opened), len(folders)) and opened[common] == folders[common]:
            common += 1
        for depth in range(common, len(folders)):
            rows.append((depth, folders[depth] + "/", None))
        opened = tuple(folders)
        rows.append((len(folders), name, file))
    return rows


class FileTreeScreen(ModalScreen[None]):
    """The files of snapshot ``seq``; each file's history and its diff at any of its changes."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "file-tree--folder",
        "file-tree--added",
        "file-tree--removed",
        "file-tree--hunk",
        "file-tree--note",
    }

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "close", "Close")]

    CSS_PATH = "../styles/dialogs.tcss"

    def __init__(self, snapshots: Sequence[Snapshot], seq: int, diff: DiffProvider) -> None:
        super().__init__()
        self.snapshots = list(snapshots)
        self.seq = seq
        self.files = files_at(self.snapshots, seq)
        self._diff = diff
        self._rows = tree_rows(self.files)
        self.chosen: FileAt | None = None  # the file whose history is listed
        self.history: list[tuple[Snapshot, FileChange]] = []
        self.diff_text = ""  # the diff shown, as plain text: for the tests and the screen

    def compose(self) -> ComposeResult:
        count = len(self.files)
        title = f"Files at snapshot #{self.seq} · {count} file{'s' if count != 1 else ''}"
        with Vertical():
            yield Label(Text(title + " · Enter: its history · Esc closes"), id="file-tree-title")
            with Horizontal():
                yield OptionList(*self._tree_options(), id="file-tree-files")
                with Vertical(id="file-tree-right"):
                    yield OptionList(id="file-tree-history")
                    with VerticalScroll():
                        yield Static(
                            Text(
                                "Choose a file: Enter lists the snapshots where it changed.",
                                "italic",
                            ),
                            id="file-tree-diff",
                        )

    def on_mount(self) -> None:
        self.query_one("#file-tree-files", OptionList).focus()

    def _tree_options(self) -> list[Option]:
        if not self._rows:
            return [Option(Text("(no files at this snapshot)", style="italic"), disabled=True)]
        folder = component_style(self, "file-tree--folder")
        options = []
        for index, (depth, label, file) in enumerate(self._rows):
            name = printable(label)[:MAX_NAME]
            text = Text("  " * min(depth, 16), no_wrap=True, overflow="ellipsis", end="")
            if file is None:
                text.append(name, folder)
                options.append(Option(text, id=f"r{index}", disabled=True))
                continue
            text.append(name)
            size = "size unknown" if file.size is None else human_bytes(file.size)
            note = "" if file.recorded else ", not recorded"
            text.append(f"  {size}{note}", "dim")
            options.append(Option(text, id=f"r{index}"))
        return options

    @on(OptionList.OptionSelected, "#file-tree-files")
    def _on_file(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_id is not None:
            file = self._rows[int(event.option_id[1:])][2]
            if file is not None:
                self.show_history(file)

    def show_history(self, file: FileAt) -> None:
        """List the snapshots where ``file`` changed, newest first."""
        self.chosen = file
        self.history = file_history(self.snapshots, file.path)
        listing = self.query_one("#file-tree-history", OptionList)
        listing.set_options(
            Option(
                Text.assemble(
                    (f"#{snapshot.seq:<4}", "bold"),
                    " ",
                    (wall_clock(snapshot.ts), "dim"),
                    f" {change.status}",
                    ("" if change.status == "deleted" else f" · {human_bytes(change.size)}", "dim"),
                    (" · shown" if snapshot.seq == self.seq else "", "bold"),
                    no_wrap=True,
                ),
                id=f"h{index}",
            )
            for index, (snapshot, change) in reversed(list(enumerate(self.history)))
        )
        listing.border_title = printable(file.path)[:MAX_NAME]
        count = len(self.history)
        self._note(
            f"{printable(file.path)[:MAX_NAME]}: changed in {count} snapshot"
            f"{'s' if count != 1 else ''}. Enter on one shows its diff there."
            if count
            else f"{printable(file.path)[:MAX_NAME]}: no change of it is in this run's snapshots."
        )
        if count:
            listing.highlighted = 0
            listing.focus()

    @on(OptionList.OptionSelected, "#file-tree-history")
    def _on_change(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_id is not None:
            self.show_change(int(event.option_id[1:]))

    def show_change(self, index: int) -> None:
        """Show the chosen file's diff at the ``index``-th snapshot of its history."""
        snapshot, change = self.history[index]
        self._note(f"loading the diff of #{snapshot.seq}…")
        self._load(snapshot, change.path)

    @work(thread=True, exclusive=True, group="file-tree-diff")
    def _load(self, snapshot: Snapshot, path: str) -> None:
        try:
            found = [(status, diff) for p, status, diff in self._diff(snapshot) if p == path]
            text = found[0][1] if found else "(no text changes)\n"
            status = found[0][0] if found else "changed"
        except Exception as exc:  # a bad file must not take the screen down
            text, status = f"Could not compute the diff ({type(exc).__name__}: {exc}).\n", "?"
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, snapshot.seq, path, status, text)

    def _show(self, seq: int, path: str, status: str, diff: str) -> None:
        lines = diff.splitlines()
        self.diff_text = "\n".join(lines[:MAX_DIFF_LINES])
        out = Text(no_wrap=True, end="")
        out.append(printable(f"{path} at #{seq} ({status})") + "\n", "bold")
        styles = {
            "+": component_style(self, "file-tree--added"),
            "-": component_style(self, "file-tree--removed"),
            "@": component_style(self, "file-tree--hunk"),
        }
        for line in lines[:MAX_DIFF_LINES]:
            meta = line.startswith(("+++", "---"))
            out.append(printable(line) + "\n", "bold" if meta else styles.get(line[:1], ""))
        if len(lines) > MAX_DIFF_LINES:
            note = component_style(self, "file-tree--note")
            out.append(f"… diff cut here ({len(lines) - MAX_DIFF_LINES:,} more lines)\n", note)
        out.rstrip()
        self.query_one("#file-tree-diff", Static).update(out)

    def _note(self, note: str) -> None:
        self.diff_text = ""
        self.query_one("#file-tree-diff", Static).update(Text(note, style="italic"))

    def action_close(self) -> None:
        self.dismiss(None)
