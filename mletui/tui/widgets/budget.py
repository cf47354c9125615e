"""The budget line: what an agent that calls a model has used, against its limits, on one line.

Time used and left, steps, tokens in and out, and the estimated cost. Hidden until the agent
reports usage, steps or limits through the protocol (the baseline never does).
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.widget import Widget

from mletui.core.clock import duration
from mletui.core.events import AgentStep, BudgetLimits, StatusUpdate, TokenUsage
from mletui.tui.format import append_time_left, component_style, dollars, short_name, tokens


class BudgetLine(Widget):
    """One line: time, steps, tokens and estimated cost of a run whose agent reports them."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"budget-line--label", "budget-line--over"}

    DEFAULT_CSS = """
    BudgetLine {
        height: 1;
        width: 1fr;
        display: none;
        color: $foreground;
        &.-active { display: block; }
        & > .budget-line--label { color: $foreground-muted; }
        & > .budget-line--over { color: $warning; text-style: bold; }
    }
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.tokens_in = 0
        self.tokens_out = 0
        self.cost: float | None = 0.0  # None once a call's cost was unknown
        self.calls = 0
        self.steps = 0
        self.limits: BudgetLimits | None = None
        self.status: StatusUpdate | None = None
        self._view: tuple[object, ...] = ()

    def add_usage(self, usage: TokenUsage) -> None:
        """Count one model call."""
        self.calls += 1
        self.tokens_in += usage.tokens_in
        self.tokens_out += usage.tokens_out
        self.cost = None if usage.cost is None or self.cost is None else self.cost + usage.cost
        self._activate()

    def add_step(self, step: AgentStep) -> None:
        self.steps = max(self.steps, step.step)
        self._activate()

    def set_limits(self, limits: BudgetLimits) -> None:
        self.limits = limits
        self._activate()

    def update_status(self, status: StatusUpdate) -> None:
        self.status = status
        self._refresh_if_changed()

    def _activate(self) -> None:
        self.add_class("-active")
        self._refresh_if_changed()

    def _view_key(self) -> tuple[object, ...]:
        status = self.status
        return (
            self.tokens_in,
            self.tokens_out,
            self.cost,
            self.steps,
            self.limits,
            None
            if status is None
            else (duration(status.active_s, "—"), duration(status.time_left_s, "—")),
            None if status is None else status.state.ended,
        )

    def _refresh_if_changed(self) -> None:
        view = self._view_key()
        if view != self._view:
            self._view = view
            self.refresh()

    def render(self) -> Text:
        label = component_style(self, "budget-line--label")
        over = self.get_component_rich_style("budget-line--over")
        out = Text(no_wrap=True, overflow="ellipsis", end="")
        out.append(" budget ", label)
        status, limits = self.status, self.limits
        if status is not None:
            out.append(" time ", label)
            out.append(duration(status.active_s, "—"))
            append_time_left(out, status, label)
        max_steps = limits.max_steps if limits else None
        out.append("  │ steps ", label)
        out.append(str(self.steps), over if max_steps and self.steps >= max_steps else "")
        if max_steps:
            out.append(f" of {max_steps}", label)
        out.append("  │ tokens ", label)
        out.append(tokens(self.tokens_in))
        out.append(" in ", label)
        out.append(tokens(self.tokens_out))
        out.append(" out", label)
        out.append("  │ cost ", label)
        max_cost = limits.max_cost if limits else None
        if self.cost is None:
            out.append("unknown (no price for the model)", label)
        else:
            out.append(
                f"≈ {dollars(self.cost)}", over if max_cost and self.cost >= max_cost else ""
            )
            if max_cost:
                limit = f"${max_cost:.2f}" if max_cost >= 0.01 else dollars(max_cost)
                out.append(f" of {limit}", label)
        if limits and limits.model:
            out.append("  │ model ", label)
            out.append(short_name(limits.model))
        return out
