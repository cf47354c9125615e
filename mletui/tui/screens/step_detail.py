"""One step in full: its plan, analysis and outcome, its output (the agent's own record of it, or
the part of the log it produced, read from the spool by time) and its code diffed against its
parent's (or, for an agent without a tree, the step before). Esc or q closes it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static
from textual.worker import get_current_worker

from mletui.core.clock import short_duration, wall_clock
from mletui.core.events import AgentStep, Snapshot, StepStatus
from mletui.store.spool import LogHistory
from mletui.tui.format import component_style, dollars, printable, tokens
from mletui.tui.widgets.steps_pane import status_text
from mletui.watch.steps import code_of

PairDiff = Callable[[Snapshot, Snapshot], list[tuple[str, str, str]]]

MAX_OUTPUT_LINES = 2_000  # of the log, from the step's start
MAX_DIFF_LINES = 3_000
MAX_TEXT = 20_000  # of a plan, an analysis, a reply


class StepDetailScreen(ModalScreen[None]):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"step-detail--added", "step-detail--removed"}

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "close", "Close")]

    CSS_PATH = "../styles/dialogs.tcss"

    def __init__(
        self,
        step: AgentStep,
        parent: AgentStep | None,
        reply: str,
        logs: LogHistory | None,
        snapshots: Sequence[Snapshot],
        pair_diff: PairDiff | None,
    ) -> None:
        super().__init__()
        self.step = step
        self.parent_step = parent
        self.reply = reply
        self.logs = logs
        self.snapshots = list(snapshots)
        self.pair_diff = pair_diff
        self.output_text = ""  # as loaded: for the tests and the screen
        self.diff_text = ""

    def compose(self) -> ComposeResult:
        step = self.step
        title = f"Step {step.step}" + (f" · {printable(step.stage)[:20]}" if step.stage else "")
        with Vertical():
            yield Label(Text(title), id="step-detail-title")
            with VerticalScroll():
                yield Static(self._summary(), id="step-detail-summary")
                yield Static(Text("loading its output…", style="italic"), id="step-output")
                yield Static(Text("loading its code…", style="italic"), id="step-diff")

    def on_mount(self) -> None:
        self._load()

    def _summary(self) -> Text:
        step, parent = self.step, self.parent_step
        out = Text(end="")

        def field(name: str, value: str) -> None:
            out.append(f"{name}: ", "bold")
            out.append(printable(value[:MAX_TEXT]) + "\n")

        field("status", status_text(step, time.time()))
        if step.parent is not None:
            field("parent", f"step {step.parent}")
        elif parent is not None:
            field("builds on", f"step {parent.step} (the one before)")
        if step.started is not None:
            field("started", wall_clock(step.started))
        if step.seconds is not None:
            field("took", short_duration(step.seconds))
        if step.metric is not None:
            field("metric", f"{step.metric:.6g}")
        if step.tokens_in or step.tokens_out:
            cost = f", {dollars(step.cost)}" if step.cost is not None else ""
            field("tokens", f"{tokens(step.tokens_in)} in / {tokens(step.tokens_out)} out{cost}")
        if step.hint_used:
            field("hint", "an operator's hint was in its prompt")
        if step.outcome:
            field("outcome", step.outcome)
        out.append("\nplan\n", "bold underline")
        out.append(printable(step.plan[:MAX_TEXT] or "(none reported)") + "\n")
        if step.analysis:
            out.append("\nanalysis\n", "bold underline")
            out.append(printable(step.analysis[:MAX_TEXT]) + "\n")
        if self.reply:
            out.append("\nthe model's reply\n", "bold underline")
            out.append(printable(self.reply[-MAX_TEXT:]) + "\n")
        return out

    @work(thread=True, exclusive=True, group="step-detail")
    def _load(self) -> None:
        output = self._output()
        diff = self._diff()
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, output, diff)

    def _output(self) -> str:
        """The step's output: the agent's own record of it, else its stretch of the log."""
        step = self.step
        if step.output:
            return step.output[-MAX_TEXT:]
        if self.logs is None or step.started is None:
            return ""
        first = self.logs.number_at_time(step.started)
        if first < 1:
            return ""
        lines = []
        for line in self.logs.read(first, MAX_OUTPUT_LINES):
            if line.ts > step.ts and step.status is not StepStatus.RUNNING:
                break
            lines.append(line.text)
        return "\n".join(lines)

    def _diff(self) -> str:
        """The step's code against its parent's (or the step before's): a unified diff."""
        mine = code_of(self.snapshots, self.step)
        if mine is None:
            return "(no code snapshot was taken before this step ended)"
        base = self.parent_step
        theirs = code_of(self.snapshots, base) if base is not None else None
        if theirs is None:
            files = {path: "added" for path in mine.files}
            listing = "\n".join(f"{path} (added)" for path in sorted(files))
            return f"snapshot #{mine.seq}; nothing before it to diff against:\n{listing}"
        if theirs.seq == mine.seq:
            return f"the same code as step {base.step if base else '?'} (snapshot #{mine.seq})"
        if self.pair_diff is None:
            return "(this run's code cannot be diffed between two steps)"
        lines = [f"snapshot #{theirs.seq} (step {base.step if base else '?'}) → #{mine.seq}"]
        for path, status, diff in self.pair_diff(theirs, mine):
            lines.append(f"{path} ({status})")
            lines.extend(diff.splitlines())
            if len(lines) > MAX_DIFF_LINES:
                lines = [*lines[:MAX_DIFF_LINES], "… diff cut here"]
                break
        return "\n".join(lines)

    def _show(self, output: str, diff: str) -> None:
        self.output_text, self.diff_text = output, diff
        text = Text("\noutput\n", "bold underline", end="")
        text.append(printable(output) if output else "(no output recorded for this step)")
        self.query_one("#step-output", Static).update(text)
        code = Text("\n\ncode\n", "bold underline", end="")
        added = component_style(self, "step-detail--added")
        removed = component_style(self, "step-detail--removed")
        for line in diff.splitlines():
            plus, minus = line.startswith("+"), line.startswith("-")
            code.append(printable(line) + "\n", added if plus else removed if minus else "")
        self.query_one("#step-diff", Static).update(code)

    def action_close(self) -> None:
        self.dismiss(None)
