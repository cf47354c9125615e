"""AIDE's ``journal.json`` as the agent's steps: its tree of nodes, each with its plan, analysis,
metric, buggy flag, error type, run time and terminal output.

AIDE rewrites the file in place after each step (see :mod:`mletui.integrations.mlebench.aide`),
and a node may change between two reads: each node is a step, sent again whenever it changes.
Everything in the file was written by the agent: each field is bounded and typed here, a node
that does not fit is skipped, and the parents are only numbers (a cycle is the reader's care).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mletui.core.events import AgentStep, StepStatus
from mletui.integrations.mlebench.aide import TornJournal, read_journal_data

MAX_NODES = 5000  # a run of AIDE makes hundreds; more is not a journal AIDE wrote
MAX_PLAN = 2000
MAX_ANALYSIS = 4000
MAX_OUTPUT = 16_000  # the end of a node's terminal output


@dataclass(frozen=True)
class _Raw:
    id: str
    step: int
    parent_id: str | None


def steps_of(data: Any) -> list[AgentStep]:
    """The steps of a parsed ``journal.json``, in AIDE's order; TornJournal when it is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise TornJournal("no list of nodes")
    parents = data.get("node2parent")
    parents = parents if isinstance(parents, dict) else {}
    nodes = [n for n in data["nodes"][:MAX_NODES] if isinstance(n, dict)]
    raws: list[_Raw] = []
    for index, n in enumerate(nodes):
        step = n.get("step", index)
        step = step if isinstance(step, int) and not isinstance(step, bool) else index
        parent = parents.get(str(n.get("id"))) or n.get("parent")
        raws.append(_Raw(str(n.get("id")), step, parent if isinstance(parent, str) else None))
    number = {r.id: r.step for r in raws}
    buggy = {r.id for r, n in zip(raws, nodes, strict=True) if n.get("is_buggy") is True}
    return [_step(n, r, number, buggy) for r, n in zip(raws, nodes, strict=True)]


def _step(n: dict[str, Any], raw: _Raw, number: dict[str, int], buggy: set[str]) -> AgentStep:
    metric = n.get("metric")
    value = metric.get("value") if isinstance(metric, dict) else None
    value = _finite(value)
    is_buggy = raw.id in buggy
    parent = number.get(raw.parent_id) if raw.parent_id is not None else None
    if parent is None:
        stage = "draft"
    elif raw.parent_id in buggy:
        stage = "debug"
    else:
        stage = "improve"
    exc_type = n.get("exc_type")
    error = (str(exc_type)[:100] if exc_type else "buggy") if is_buggy else None
    term = n.get("_term_out")
    output = "".join(t for t in term if isinstance(t, str)) if isinstance(term, list) else ""
    analysis = n.get("analysis")
    ctime, seconds = _finite(n.get("ctime")), _finite(n.get("exec_time"))
    if is_buggy:
        outcome = f"buggy: {error}"
    elif value is not None:
        outcome = f"validation {value:.4g}"
    else:
        outcome = "no metric"
    return AgentStep(
        ts=(ctime or 0.0) + (seconds or 0.0),
        step=raw.step,
        stage=stage,
        plan=str(n.get("plan") or "")[:MAX_PLAN],
        outcome=outcome,
        metric=None if is_buggy else value,
        tokens_in=0,
        tokens_out=0,
        cost=None,
        parent=parent,
        seconds=seconds if seconds is None or seconds >= 0 else None,
        status=StepStatus.BUGGY if is_buggy else StepStatus.OK,
        error=error,
        analysis=str(analysis)[:MAX_ANALYSIS] if isinstance(analysis, str) else "",
        started=ctime,
        output=output[-MAX_OUTPUT:],
    )


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class AideSteps:
    """Follows ``journal.json``: the steps that are new or changed since the last poll."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.known: dict[str, AgentStep] = {}  # by node id
        self._stamp: tuple[int, int] | None = None

    def poll(self) -> list[AgentStep]:
        try:
            st = self.path.stat()
        except OSError:
            return []
        stamp = (st.st_size, st.st_mtime_ns)
        if stamp == self._stamp:
            return []
        try:
            data = read_journal_data(self.path)
            steps = steps_of(data)
        except (TornJournal, OSError):
            return []  # caught mid-write: the next poll reads it again
        self._stamp = stamp
        ids = [str(n.get("id")) for n in data["nodes"][:MAX_NODES] if isinstance(n, dict)]
        changed = []
        for node_id, step in zip(ids, steps, strict=True):
            if self.known.get(node_id) != step:
                self.known[node_id] = step
                changed.append(step)
        return changed
