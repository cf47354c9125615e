"""The steps pane: the agent's steps (a list, or a tree for an agent that branches), newest at the
bottom and followed like the log, with the model's reply growing under them as it streams.

Hidden until the agent reports a step or model output. Redrawn at most every
:data:`REDRAW_S` seconds, whatever the agent's pace: a flood of reports costs one redraw.
"""

from __future__ import annotations

import time
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from mletui.core.clock import short_duration
from mletui.core.events import AgentStep, ModelOutput, StepStatus
from mletui.tui.format import component_style, dollars, printable, tokens
from mletui.watch.steps import StepBook, StepRow

REDRAW_S = 0.25
LIVE_LINES = 8  # the newest lines of the reply that the pane shows
LIVE_CHARS = 4_000  # of which no more than this many characters
PLAN_CHARS = 200  # of the plan, in a row


def status_text(step: AgentStep, now: float) -> str:
    """``running 0:12``, ``ok``, ``buggy: KeyError``, ``skipped``."""
    if step.status is StepStatus.RUNNING:
        started = step.started if step.started is not None else step.ts
        return f"running {short_duration(now - started)}"
    if step.status is StepStatus.BUGGY:
        return f"buggy: {step.error}" if step.error else "buggy"
    return str(step.status.value)


def now_line(book: StepBook, now: float) -> str:
    """What the agent is doing this second, from its own reports."""
    step = book.running()
    if step is None:
        return ""
    started = step.started if step.started is not None else step.ts
    elapsed = short_duration(now - started)
    what = f"step {step.step} ({printable(step.stage)[:20]})" if step.stage else f"step {step.step}"
    if step.step in book.output_done or step.plan:
        return f"now: {what} runs its code · {elapsed}"
    if book.text_of(step.step):
        return f"now: {what} · the model is replying · {elapsed}"
    return f"now: {what} · waiting for the model · {elapsed}"


def live_tail(text: str) -> str:
    """The newest :data:`LIVE_LINES` lines of a reply, shown inert."""
    tail = text[-LIVE_CHARS:]
    return "\n".join(printable(line) for line in tail.splitlines()[-LIVE_LINES:])


class StepsPane(Vertical):
    """The agent's steps; Enter on one asks for its detail (:class:`StepChosen`)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "steps-pane--ok",
        "steps-pane--buggy",
        "steps-pane--running",
        "steps-pane--muted",
    }

    DEFAULT_CSS = """
    StepsPane {
        height: 1fr;
        display: none;
        &.-active { display: block; }
        & > #steps-title {
            width: 1fr;
            padding: 0 1;
            background: $panel;
            color: $foreground;
            text-style: bold;
        }
        & > OptionList {
            height: 1fr;
            border: none;
            padding: 0;
            background: $surface;
        }
        & > #steps-live {
            height: auto;
            max-height: 10;
            padding: 0 1;
            background: $surface;
            border-top: hkey $panel-lighten-1;
            color: $foreground-muted;
        }
        & > .steps-pane--ok { color: $text-success; }
        & > .steps-pane--buggy { color: $text-error; }
        & > .steps-pane--running { color: $text-accent; text-style: bold; }
        & > .steps-pane--muted { color: $foreground-muted; }
    }
    """

    class NowChanged(Message):
        """What the agent is doing now changed (empty: no step under way)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class StepChosen(Message):
        """The operator chose step ``step`` (Enter)."""

        def __init__(self, pane: StepsPane, step: int) -> None:
            super().__init__()
            self.pane = pane
            self.step = step

        @property
        def control(self) -> StepsPane:
            return self.pane

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.book = StepBook()
        self._dirty = False
        self._following = True  # the newest step stays highlighted until the operator moves
        self._rows: list[StepRow] = []
        self.hidden_by_operator = False
        self._now = ""

    def compose(self) -> ComposeResult:
        yield Label(Text("Steps"), id="steps-title")
        yield OptionList(id="steps-list")
        yield Static(Text(""), id="steps-live")

    def on_mount(self) -> None:
        self.set_interval(REDRAW_S, self._redraw)

    # -- events ----------------------------------------------------------------------------

    def add_step(self, step: AgentStep) -> None:
        self.book.add_step(step)
        self._changed()

    def add_output(self, output: ModelOutput) -> None:
        self.book.add_output(output)
        self._changed()

    def _changed(self) -> None:
        self._dirty = True
        if not self.hidden_by_operator:
            self.add_class("-active")

    def toggle(self) -> None:
        """Show or hide the pane (the operator's key)."""
        self.hidden_by_operator = self.has_class("-active")
        self.set_class(not self.hidden_by_operator, "-active")

    @property
    def rows(self) -> list[StepRow]:
        """The rows drawn, top to bottom."""
        return self._rows

    # -- drawing ---------------------------------------------------------------------------

    def _redraw(self) -> None:
        now = time.time()
        self._title(now)
        running = self.book.running() is not None
        if not self._dirty and not running:
            return  # a running step's clock still ticks
        dirty, self._dirty = self._dirty, False
        listing = self.query_one(OptionList)
        if dirty:
            self._rows = self.book.rows()
            highlighted = listing.highlighted
            listing.set_options([self._option(row, now) for row in self._rows])
            if self._rows:
                if self._following or highlighted is None:
                    listing.highlighted = len(self._rows) - 1
                else:
                    listing.highlighted = min(highlighted, len(self._rows) - 1)
        elif running:
            for index, row in enumerate(self._rows):
                if row.step.status is StepStatus.RUNNING:
                    listing.replace_option_prompt_at_index(index, self._prompt(row, now))
        self._live()

    def _title(self, now: float) -> None:
        count = len(self.book.steps)
        shape = "tree" if self.book.branches else "list"
        title = Text(f"Steps · {count} · {shape} · Enter: detail")
        doing = now_line(self.book, now)
        if doing != self._now:
            self._now = doing
            self.post_message(self.NowChanged(doing))
        if doing:
            title.append(f" · {doing}", "bold")
        self.query_one("#steps-title", Label).update(title)

    def _live(self) -> None:
        running = self.book.running()
        number = running.step if running is not None else self.book.last_output
        text = self.book.text_of(number) if number is not None else ""
        live = self.query_one("#steps-live", Static)
        if not text:
            live.display = False
            return
        live.display = True
        done = "" if number not in self.book.output_done else " (complete)"
        out = Text(f"the model's reply, step {number}{done}:\n", "bold", end="")
        out.append(live_tail(text))
        live.update(out)

    def _option(self, row: StepRow, now: float) -> Option:
        return Option(self._prompt(row, now), id=str(row.step.step))

    def _prompt(self, row: StepRow, now: float) -> Text:
        step = row.step
        style = {
            StepStatus.OK: "steps-pane--ok",
            StepStatus.BUGGY: "steps-pane--buggy",
            StepStatus.RUNNING: "steps-pane--running",
            StepStatus.SKIPPED: "steps-pane--muted",
        }[step.status]
        muted = component_style(self, "steps-pane--muted")
        out = Text(no_wrap=True, overflow="ellipsis")
        if row.depth:
            out.append("  " * (row.depth - 1) + "└ ", muted)
        out.append(f"#{step.step:<3} ", "bold")
        if step.stage:
            out.append(printable(step.stage)[:12] + " ", muted)
        out.append(status_text(step, now)[:60], component_style(self, style))
        if step.metric is not None:
            out.append(f" {step.metric:.4g}", "bold")
        if step.seconds is not None:
            out.append(f" {short_duration(step.seconds)}", muted)
        if step.tokens_in or step.tokens_out:
            out.append(f" {tokens(step.tokens_in)}/{tokens(step.tokens_out)} tok", muted)
        if step.cost is not None and step.cost > 0:
            out.append(f" {dollars(step.cost)}", muted)
        if step.hint_used:
            out.append(" hint", "bold")
        plan = " ".join(step.plan[: PLAN_CHARS * 2].split())[:PLAN_CHARS]
        if plan:
            out.append("  " + printable(plan))
        return out

    # -- the operator ----------------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#steps-list")
    def _on_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        listing = event.option_list
        self._following = listing.highlighted is None or listing.highlighted >= len(self._rows) - 1

    @on(OptionList.OptionSelected, "#steps-list")
    def _on_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_id is not None:
            self.post_message(self.StepChosen(self, int(event.option_id)))
