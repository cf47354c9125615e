"""The search tree's records: a step (node) with its code, outcome and usage, and the operator's
guidance kept for the prompts."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from mletui import protocol


@dataclass
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = 0.0

    def add(self, tokens_in: int, tokens_out: int, cost: float | None) -> None:
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self.cost = None if cost is None or self.cost is None else self.cost + cost


@dataclass
class Node:
    """One step: the code a model call produced and what running it gave."""

    step: int
    stage: str  # "draft", "debug" or "improve"
    parent: int | None
    plan: str = ""
    code: str | None = None
    output: str = ""  # the end of the solution's output
    metric: float | None = None
    outcome: str = ""
    failed: bool = True
    depth: int = 0  # fixes in a row on this line (a draft or an improvement is 0)
    debugged: bool = False
    abandoned: bool = False  # "revert to best": not worth debugging any more
    started: float = field(default_factory=time.monotonic)
    started_at: float = field(default_factory=time.time)  # the same moment, for the operator
    paused_s: float = 0.0  # held by a soft pause: not the step's own time
    usage: Usage = field(default_factory=lambda: Usage())

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started - self.paused_s

    @property
    def debuggable(self) -> bool:
        return self.failed and self.code is not None and not self.debugged and not self.abandoned


@dataclass
class Guidance:
    hint: protocol.Hint
    answered: bool = False
