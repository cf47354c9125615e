"""The agent's steps as a watcher sees them: each step's newest report, its streamed model output
(bounded), and the tree the parents make. UI-free: the steps pane draws it.

Everything here came from the agent: a parent that does not exist is a root, a parent cycle is
broken where it closes, and no step's output grows past :data:`MAX_OUTPUT` characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mletui.core.events import AgentStep, ModelOutput, Snapshot, StepStatus

MAX_OUTPUT = 64_000  # characters of one step's model output kept (the recorder keeps no more)
MAX_STEPS = 5_000  # steps kept; past it the oldest go (an agent that reports millions)
MAX_DEPTH = 64  # deeper steps are drawn at this depth
MAX_UNREPORTED = 100  # steps with output but no report kept at once


@dataclass(frozen=True)
class StepRow:
    """One line of the steps pane: a step and how deep it sits in the tree."""

    step: AgentStep
    depth: int


class StepBook:
    """The steps so far, by number; the newest report of a step replaces the one before."""

    def __init__(self) -> None:
        self.steps: dict[int, AgentStep] = {}
        self.output: dict[int, str] = {}  # of reported steps
        self.output_done: set[int] = set()
        self.last_output: int | None = None  # the step whose reply arrived last
        # Output of steps not (yet) reported: a few, so that a flood of them evicts only its own.
        self._unreported: dict[int, str] = {}

    def add_step(self, step: AgentStep) -> None:
        self.steps.pop(step.step, None)  # re-inserted: the dict's order is the reports' order
        self.steps[step.step] = step
        early = self._unreported.pop(step.step, None)
        if early is not None:
            self.output[step.step] = early
        while len(self.steps) > MAX_STEPS:
            oldest = next(iter(self.steps))
            del self.steps[oldest]
            self.output.pop(oldest, None)
            self.output_done.discard(oldest)

    def add_output(self, output: ModelOutput) -> None:
        into = self.output if output.step in self.steps else self._unreported
        had = into.get(output.step, "")
        room = MAX_OUTPUT - len(had)
        if room > 0 and output.text:
            into[output.step] = had + output.text[:room]
        if output.done and len(self.output_done) < MAX_STEPS:
            self.output_done.add(output.step)
        self.last_output = output.step
        while len(self._unreported) > MAX_UNREPORTED:
            del self._unreported[next(iter(self._unreported))]

    def text_of(self, step: int) -> str:
        """The model's reply for ``step`` so far."""
        return self.output.get(step) or self._unreported.get(step, "")

    def running(self) -> AgentStep | None:
        """The newest step still under way."""
        for step in reversed(self.steps.values()):
            if step.status is StepStatus.RUNNING:
                return step
        return None

    @property
    def branches(self) -> bool:
        """Whether the agent works in a tree (a step with a parent other than the one before)."""
        order = sorted(self.steps)
        previous = {n: order[i - 1] if i else None for i, n in enumerate(order)}
        return any(s.parent is not None and s.parent != previous[n] for n, s in self.steps.items())

    def rows(self) -> list[StepRow]:
        """The steps in order of number; for an agent that branches, as a tree (each step under
        its parent, the children in order), newest at the bottom of its branch."""
        order = sorted(self.steps)
        if not self.branches:
            return [StepRow(self.steps[n], 0) for n in order]
        children: dict[int | None, list[int]] = {}
        for number in order:
            parent = self.steps[number].parent
            is_root = parent is None or parent not in self.steps or parent == number
            children.setdefault(None if is_root else parent, []).append(number)
        rows: list[StepRow] = []
        placed: set[int] = set()

        def place(number: int, depth: int) -> None:
            stack = [(number, depth)]
            while stack:
                current, level = stack.pop()
                if current in placed:
                    continue  # a cycle closes here
                placed.add(current)
                rows.append(StepRow(self.steps[current], min(level, MAX_DEPTH)))
                for child in reversed(children.get(current, [])):
                    stack.append((child, level + 1))

        for root in children.get(None, []):
            place(root, 0)
        for number in order:  # a cycle with no way in from a root: each at the top
            place(number, 0)
        return rows

    def parent_or_previous(self, number: int) -> AgentStep | None:
        """The step this one builds on: its parent, or (an agent without a tree) the one before."""
        step = self.steps.get(number)
        if step is None:
            return None
        if step.parent is not None:
            return self.steps.get(step.parent)
        earlier = [n for n in self.steps if n < number]
        return self.steps[max(earlier)] if earlier else None


def code_of(snapshots: Sequence[Snapshot], step: AgentStep) -> Snapshot | None:
    """The step's code: the snapshot the recorder linked it to, else the newest at its report."""
    if step.snapshot_seq is not None:
        linked = [s for s in snapshots if s.seq == step.snapshot_seq]
        if linked:
            return linked[0]
    return snapshot_at(snapshots, step.ts)


def snapshot_at(snapshots: Sequence[Snapshot], ts: float) -> Snapshot | None:
    """The newest snapshot taken at ``ts`` or before: the code as it stood then."""
    best = None
    for snapshot in snapshots:
        if snapshot.ts <= ts and (best is None or snapshot.seq > best.seq):
            best = snapshot
    return best
