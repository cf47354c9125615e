"""Streamed model output on its way into the journal: bounded a step and a run, coalesced a poll.

An agent may write its reply's text a character a line, for a million steps; the journal gets at
most one entry a step a poll, no more than :data:`PER_STEP` characters a step, and no more than
:data:`PER_RUN` (each entry counted as at least :data:`ENTRY_COST`) in all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mletui import protocol
from mletui.core.events import ModelOutput

PER_STEP = protocol.MAX_MODEL_OUTPUT
PER_RUN = 8_000_000
ENTRY_COST = 256  # what an entry costs the run's budget whatever its length: a flood of tiny ones


@dataclass
class _Pending:
    text: list[str] = field(default_factory=list)
    done: bool = False
    truncated: bool = False


class ModelOutputGate:
    """Takes the model_output lines of one poll; :meth:`drain` gives the entries to journal."""

    def __init__(self) -> None:
        self.per_step: dict[int, int] = {}
        self.spent = 0
        self.full = False  # the run's budget is spent: the rest is dropped (one notice says so)
        self.noticed = False
        self._pending: dict[int, _Pending] = {}

    def add(self, record: dict[str, Any]) -> str | None:
        """One agent-written line; a problem with it, or None."""
        step, text, done = record.get("step"), record.get("text", ""), record.get("done", False)
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            return "model_output without a step (a whole number)"
        if not isinstance(text, str) or not isinstance(done, bool):
            return "model_output whose text is not text, or done not true or false"
        if self.full:
            return None
        had = self.per_step.get(step, 0)
        if had >= PER_STEP and not done:
            return None
        pending = self._pending.setdefault(step, _Pending())
        room = PER_STEP - had
        if len(text) > room:
            text, pending.truncated = text[:room], True
        self.per_step[step] = had + len(text)
        pending.text.append(text)
        pending.done = pending.done or done
        return None

    def drain(self) -> list[ModelOutput]:
        """The entries of this poll: one a step, in the order the steps came."""
        out = []
        for step, pending in self._pending.items():
            text = "".join(pending.text)
            cost = max(ENTRY_COST, len(text))
            if self.spent + cost > PER_RUN:
                self.full = True
                break
            self.spent += cost
            out.append(ModelOutput(0.0, step, text, pending.done, pending.truncated))
        self._pending.clear()
        return out

    def notice(self) -> str | None:
        """Once, when the run's budget ran out: what the operator should know."""
        if not self.full or self.noticed:
            return None
        self.noticed = True
        return f"the agent's model output passed {PER_RUN:,} characters; the rest is not recorded"
