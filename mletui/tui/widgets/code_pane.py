"""The code pane: the workspace's snapshots, newest first, and the diff of the one selected
(against the one before, or against a snapshot marked with ``m``)."""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.cells import cell_len, chop_cells
from rich.style import Style
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from mletui.core.clock import wall_clock
from mletui.core.events import FileChange, Snapshot
from mletui.core.words import counted, noun_for
from mletui.tui.format import BakedStyles, human_bytes, printable

DiffProvider = Callable[[Snapshot], list[tuple[str, str, str]]]
"""Returns ``(path, status, unified_diff_text)`` for each file a snapshot changed."""

PairDiffProvider = Callable[[Snapshot, Snapshot], list[tuple[str, str, str]]]
"""The same for every file that differs between two snapshots (older, newer)."""

MAX_DIFF_LINES = 5_000
"""A diff longer than this is cut: a generated file must not freeze the pane."""

_DIFF_CACHE_SIZE = 32


def cut_line(line: str, width: int, *, gutter: bool) -> list[str]:
    """``line`` cut into rows of at most ``width`` cells; with ``gutter``, its first character
    (a diff's ``+``, ``-`` or space) starts every row, so a wrapped change still reads as one."""
    if width < 2 or cell_len(line) <= width:
        return [line]
    if gutter:
        return [line[0] + piece for piece in chop_cells(line[1:], width - 1)]
    return chop_cells(line, width)


def _summary(snapshot: Snapshot) -> str:
    if not snapshot.changes:
        return "(no changes)"
    first = snapshot.changes[0]
    more = len(snapshot.changes) - 1
    label = f"{first.path} ({first.status})"
    return f"{label} +{more} more" if more else label


class _DiffBody(Static):
    """The diff's text: says when its width changes, so the pane cuts its rows again."""

    def __init__(self, content: Text, on_width: Callable[[int], None], *, id: str) -> None:
        super().__init__(content, id=id)
        self._on_width = on_width

    def on_resize(self, event: events.Resize) -> None:
        self._on_width(event.size.width)


class CodePane(Vertical, BakedStyles):
    """A timeline of workspace snapshots and the selected snapshot's diff.

    Diffs come from ``diff_provider``, which reads files: it runs in a thread worker and never
    on the UI thread.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "code-pane--file",
        "code-pane--hunk",
        "code-pane--added",
        "code-pane--removed",
        "code-pane--meta",
        "code-pane--note",
    }

    DEFAULT_CSS = """
    CodePane {
        height: 1fr;
        & > #code-title {
            width: 1fr;
            padding: 0 1;
            background: $panel;
            color: $foreground;
            text-style: bold;
        }
        & > OptionList {
            height: auto;
            max-height: 35%;
            border: none;
            padding: 0;
            background: $surface;
        }
        & > VerticalScroll {
            height: 1fr;
            background: $surface;
            padding: 0 1;
            border-top: hkey $panel-lighten-1;
            /* the diff is cut to the width left of the scrollbar: one that comes and goes
               would change that width, and the cut, with every re-flow */
            scrollbar-gutter: stable;
        }
        & > .code-pane--file {
            color: $text-primary;
            text-style: bold;
        }
        & > .code-pane--hunk {
            color: $text-accent;
        }
        & > .code-pane--added {
            color: $text-success;
        }
        & > .code-pane--removed {
            color: $text-error;
        }
        & > .code-pane--meta {
            color: $foreground-muted;
            text-style: bold;
        }
        & > .code-pane--note {
            color: $foreground-muted;
            text-style: italic;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "mark", "Mark snapshot", show=False),
        Binding("t", "files", "Files at snapshot", show=False),
    ]

    class _AtSnapshot(Message):
        """A message about snapshot ``seq`` of this pane."""

        def __init__(self, code_pane: CodePane, seq: int) -> None:
            super().__init__()
            self.code_pane = code_pane
            self.seq = seq

        @property
        def control(self) -> CodePane:
            return self.code_pane

    class SnapshotSelected(_AtSnapshot):
        """The operator (or a new snapshot) selected the snapshot ``seq``."""

    class FilesWanted(_AtSnapshot):
        """The operator asked for the workspace at snapshot ``seq`` as a tree (``t``)."""

    @property
    def diff_provider(self) -> DiffProvider:
        """Where the diffs of one snapshot come from (they read files: call it off the UI)."""
        return self._diff_provider

    class DiffLoaded(Message):
        """The diff worker finished for snapshot ``seq`` (``error`` set when it failed)."""

        def __init__(
            self,
            code_pane: CodePane,
            seq: int,
            files: Sequence[tuple[str, str, str]],
            error: str | None,
            base: int | None = None,
        ) -> None:
            super().__init__()
            self.code_pane = code_pane
            self.seq = seq
            self.base = base  # the marked snapshot it was diffed against; None: the one before
            self.files = files
            self.error = error

        @property
        def control(self) -> CodePane:
            return self.code_pane

    def __init__(
        self,
        diff_provider: DiffProvider,
        *,
        pair_diff: PairDiffProvider | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._diff_provider = diff_provider
        self._pair_diff = pair_diff
        self._marked: int | None = None
        self._snapshots: list[Snapshot] = []  # ordered by seq
        self._seqs: list[int] = []
        self._selected: int | None = None
        self._pinned = False  # the operator stepped back: new snapshots don't move the view
        self._shown: tuple[int, Sequence[tuple[str, str, str]], str | None, int | None] | None = (
            None
        )
        self._width = 0  # the diff's rows are cut to this many cells (0: not laid out yet)
        self._diffs: OrderedDict[
            tuple[int | None, int], tuple[Sequence[tuple[str, str, str]], str | None]
        ] = OrderedDict()

    def compose(self) -> ComposeResult:
        yield Label(Text("Code · no snapshots yet"), id="code-title")
        yield OptionList(id="code-snapshots")
        with VerticalScroll(id="code-diff-scroll"):
            yield _DiffBody(
                Text("The workspace has not changed yet.", style="italic"),
                self._reflow,
                id="code-diff",
            )

    # -- public API ------------------------------------------------------------------------

    @property
    def selected_seq(self) -> int | None:
        """The snapshot whose diff is shown."""
        return self._selected

    @property
    def snapshots(self) -> Sequence[Snapshot]:
        """Every snapshot added, oldest first."""
        return self._snapshots

    def add_snapshot(self, snapshot: Snapshot) -> None:
        """Add a snapshot; it is shown at once unless the operator has stepped back."""
        index = bisect.bisect_left(self._seqs, snapshot.seq)
        if index < len(self._seqs) and self._seqs[index] == snapshot.seq:
            return  # already known (a replayed event)
        self._seqs.insert(index, snapshot.seq)
        self._snapshots.insert(index, snapshot)
        if not self.is_mounted:
            return
        self._rebuild_list()
        if not self._pinned or self._selected is None:
            self._select(self._seqs[-1], pinned=False)
        else:
            self._sync_highlight()

    @property
    def marked_seq(self) -> int | None:
        """The snapshot marked with ``m``: the others are diffed against it."""
        return self._marked

    @property
    def shown_base(self) -> int | None:
        """The snapshot the diff on screen is against (None: the one before it, or none shown)."""
        return self._shown[3] if self._shown is not None else None

    def action_mark(self) -> None:
        """Mark the selected snapshot (again: unmark it); every other is then diffed against it."""
        if self._selected is None:
            return
        if self._pair_diff is None:
            self.notify("This run's code cannot be diffed between any two snapshots.")
            return
        self._marked = None if self._marked == self._selected else self._selected
        self._rebuild_list()
        self._sync_highlight()
        self._reload()

    def action_files(self) -> None:
        """The workspace at the selected snapshot as a tree; each file's history and diffs."""
        if self._selected is None:
            self.notify("The workspace has no snapshot yet.")
            return
        self.post_message(self.FilesWanted(self, self._selected))

    def _base(self) -> int | None:
        """What the selected snapshot is diffed against: the mark, if it is another snapshot."""
        marked = self._marked
        return marked if marked is not None and marked != self._selected else None

    def select_previous(self) -> None:
        """Step to the snapshot before the selected one (older)."""
        if self._selected is None:
            return
        index = self._seqs.index(self._selected)
        if index > 0:
            self.select_seq(self._seqs[index - 1])

    def select_next(self) -> None:
        """Step to the snapshot after the selected one (newer)."""
        if self._selected is None:
            return
        index = self._seqs.index(self._selected)
        if index < len(self._seqs) - 1:
            self.select_seq(self._seqs[index + 1])

    def select_seq(self, seq: int) -> None:
        """Show snapshot ``seq``; choosing the newest resumes following new snapshots."""
        if seq not in self._seqs:
            return
        self._select(seq, pinned=seq != self._seqs[-1])

    # -- list ------------------------------------------------------------------------------

    def on_mount(self) -> None:
        if self._snapshots:
            self._rebuild_list()
            self._select(self._seqs[-1], pinned=False)

    def _rebuild_list(self) -> None:
        options = [
            Option(
                Text.assemble(
                    (f"#{s.seq:<4}", "bold"),
                    " ",
                    (wall_clock(s.ts), "dim"),
                    " ",
                    printable(_summary(s)),
                    (" (marked)" if s.seq == self._marked else "", "bold"),
                    no_wrap=True,
                    overflow="ellipsis",
                ),
                id=str(s.seq),
            )
            for s in reversed(self._snapshots)
        ]
        self.query_one(OptionList).set_options(options)
        count = len(self._snapshots)
        mark = f" · diffs against #{self._marked}" if self._marked is not None else " · m marks"
        self.query_one("#code-title", Label).update(
            Text(f"Code · {count} snapshot{'s' if count != 1 else ''} · [ ] to step{mark}")
        )

    def _sync_highlight(self) -> None:
        if self._selected is None:
            return
        option_list = self.query_one(OptionList)
        index = len(self._seqs) - 1 - self._seqs.index(self._selected)
        if option_list.highlighted != index:
            option_list.highlighted = index

    @on(OptionList.OptionHighlighted, "#code-snapshots")
    def _on_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        # Highlights we set ourselves arrive late, after the list may have moved on: act only
        # on the one that is still current.
        current = event.option_list.highlighted_option
        if event.option_id is None or current is None or current.id != event.option_id:
            return
        seq = int(event.option_id)
        if seq != self._selected:
            self.select_seq(seq)

    @on(OptionList.OptionSelected, "#code-snapshots")
    def _on_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_id is not None:
            self.select_seq(int(event.option_id))

    # -- diff ------------------------------------------------------------------------------

    def _select(self, seq: int, *, pinned: bool) -> None:
        self._pinned = pinned
        changed = seq != self._selected
        self._selected = seq
        self._sync_highlight()
        if not changed:
            return
        self.post_message(self.SnapshotSelected(self, seq))
        self._reload()

    def _reload(self) -> None:
        """Show the selected snapshot's diff (against the mark, if any): cached, or loaded."""
        seq, base = self._selected, self._base()
        if seq is None:
            return
        cached = self._diffs.get((base, seq))
        if cached is not None:
            self._diffs.move_to_end((base, seq))
            self._show_diff(seq, *cached, base)
            return
        snapshot = self._snapshots[self._seqs.index(seq)]
        against = None if base is None else self._snapshots[self._seqs.index(base)]
        self._show_note(f"loading the diff of #{seq}…")
        self._load_diff(snapshot, against)

    @work(thread=True, exclusive=True, group="code-pane-diff")
    def _load_diff(self, snapshot: Snapshot, against: Snapshot | None) -> None:
        try:
            if against is None or self._pair_diff is None:
                files = list(self._diff_provider(snapshot))
            else:
                old, new = sorted((against, snapshot), key=lambda s: s.seq)
                files = list(self._pair_diff(old, new))
            error = None
        except Exception as exc:  # a bad file must not take the watcher down
            files = []
            error = f"{type(exc).__name__}: {exc}"
        if not get_current_worker().is_cancelled:
            base = None if against is None else against.seq
            self.post_message(self.DiffLoaded(self, snapshot.seq, files, error, base))

    @on(DiffLoaded)
    def _on_diff_loaded(self, event: DiffLoaded) -> None:
        self._diffs[(event.base, event.seq)] = (event.files, event.error)
        while len(self._diffs) > _DIFF_CACHE_SIZE:
            self._diffs.popitem(last=False)
        if event.seq == self._selected and event.base == self._base():
            self._show_diff(event.seq, event.files, event.error, event.base)

    def _show_note(self, note: str) -> None:
        self._shown = None
        self.query_one("#code-diff", Static).update(Text(note, style="italic"))

    def _show_diff(
        self,
        seq: int,
        files: Sequence[tuple[str, str, str]],
        error: str | None,
        base: int | None = None,
    ) -> None:
        self._shown = (seq, files, error, base)
        self._width = self.query_one("#code-diff", Static).size.width
        self._render_diff(seq, files, error, base)
        self.query_one("#code-diff-scroll", VerticalScroll).scroll_home(animate=False)

    def _reflow(self, width: int) -> None:
        """Cut the diff shown again for a new width, leaving the scroll where it is."""
        if width != self._width:
            self._width = width
            if self._shown is not None:
                self._render_diff(*self._shown)

    def _render_diff(
        self,
        seq: int,
        files: Sequence[tuple[str, str, str]],
        error: str | None,
        base: int | None,
    ) -> None:
        snapshot = self._snapshots[self._seqs.index(seq)]
        out = Text(no_wrap=True, end="")
        if base is None:
            changed = counted(len(snapshot.changes), "file")
            header = f"#{seq} · {wall_clock(snapshot.ts)} · {changed} changed"
        else:
            old, new = sorted((base, seq))
            differ = f"{counted(len(files), 'file')} {noun_for(len(files), 'differs', 'differ')}"
            header = f"#{old} → #{new} (marked: #{base}) · {differ}"
        self._append_line(out, header, self._style("code-pane--meta"))
        if error is not None:
            self._append_line(
                out,
                printable(f"Could not compute the diff ({error})."),
                self._style("code-pane--removed"),
            )
        diffs = {path: (status, diff) for path, status, diff in files}
        budget = MAX_DIFF_LINES
        shown: set[str] = set()
        for change in snapshot.changes if base is None else ():
            shown.add(change.path)
            status, diff = diffs.get(change.path, (change.status, ""))
            budget = self._append_file(out, change.path, status, diff, change, budget)
        for path, (status, diff) in diffs.items():
            if path not in shown:
                budget = self._append_file(out, path, status, diff, None, budget)
        out.rstrip()
        self.query_one("#code-diff", Static).update(out)

    def _append_file(
        self,
        out: Text,
        path: str,
        status: str,
        diff: str,
        change: FileChange | None,
        budget: int,
    ) -> int:
        out.append("\n")
        self._append_line(out, printable(f"{path} ({status})"), self._style("code-pane--file"))
        note = self._style("code-pane--note")
        if change is not None and not change.recorded:
            out.append(f"(data file, size {human_bytes(change.size)}, not recorded)\n", note)
            return budget
        if not diff.strip():
            empty = "(file deleted)" if status == "deleted" else "(no text changes)"
            out.append(empty + "\n", note)
            return budget
        lines = diff.splitlines()
        if budget <= 0:
            out.append(f"({len(lines):,} diff lines not shown)\n", note)
            return 0
        for line in lines[:budget]:
            changed = line.startswith(("+", "-", " ")) and not line.startswith(("+++", "---"))
            self._append_line(out, printable(line), self._diff_line_style(line), gutter=changed)
        if len(lines) > budget:
            out.append(f"… diff cut here ({len(lines) - budget:,} more lines)\n", note)
        return budget - len(lines)

    def _append_line(self, out: Text, line: str, style: Style, *, gutter: bool = False) -> None:
        for row in cut_line(line, self._width, gutter=gutter):
            out.append(row + "\n", style)

    def _diff_line_style(self, line: str) -> Style:
        if line.startswith(("+++", "---")):
            return self._style("code-pane--meta")
        if line.startswith("@@"):
            return self._style("code-pane--hunk")
        if line.startswith("+"):
            return self._style("code-pane--added")
        if line.startswith("-"):
            return self._style("code-pane--removed")
        return Style()

    def _redraw_styled(self) -> None:
        # The diff's colours are baked into its Text.
        if self._shown is not None:
            self._show_diff(*self._shown)
