"""AIDE's ``journal.json`` (the AIDE fork MLE-bench installs) as validation scores.

AIDE rewrites the whole file in place after each step, not atomically: a read can catch it half
written. A read that does not parse is tried again a few times, then at the next poll; what was
read before stays.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mletui.core.events import Score

RETRIES = 3
RETRY_S = 0.05
METRIC_NAME = "validation"


@dataclass(frozen=True)
class AideNode:
    id: str
    step: int
    ctime: float
    value: float | None  # None: no metric (a buggy node, or not parsed)
    maximize: bool | None
    is_buggy: bool
    no_metric: bool  # AIDE gave it a metric that is not a number (NaN): evaluated, no score
    parent: str | None
    plan: str


class TornJournal(ValueError):
    """The file could not be parsed (caught mid-write, or not AIDE's journal)."""


def parse_journal(text: str) -> list[AideNode]:
    try:
        data = json.loads(text)
        raw_nodes = data["nodes"]
        parents = data.get("node2parent") or {}
        return [_node(n, parents) for n in raw_nodes]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TornJournal(str(exc)) from exc


def _node(n: dict[str, Any], parents: dict[str, str]) -> AideNode:
    metric = n.get("metric") or {}
    value = metric.get("value") if isinstance(metric, dict) else None
    maximize = metric.get("maximize") if isinstance(metric, dict) else None
    number = (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    )
    no_metric = number is not None and not math.isfinite(number)
    if no_metric:
        number = None
    node_id = str(n["id"])
    return AideNode(
        id=node_id,
        step=int(n.get("step", 0)),
        ctime=float(n.get("ctime") or 0.0),
        value=number,
        maximize=None if maximize is None else bool(maximize),
        is_buggy=bool(n.get("is_buggy")),
        no_metric=no_metric,
        parent=parents.get(node_id) or n.get("parent"),
        plan=str(n.get("plan") or ""),
    )


def read_journal(path: Path, retries: int = RETRIES, retry_s: float = RETRY_S) -> list[AideNode]:
    """The journal's nodes; raises :class:`TornJournal` when no try parsed, OSError when unread."""
    error: TornJournal | None = None
    for attempt in range(retries):
        if attempt:
            time.sleep(retry_s)
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            return parse_journal(text)
        except TornJournal as exc:
            error = exc
    assert error is not None
    raise error


class AideScores:
    """Follows ``journal.json``: each node once, as it appears: a :class:`Score` for a node with a
    metric, and apart the nodes with none: the buggy ones, and those whose metric is NaN."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: set[str] = set()
        self.torn_reads = 0  # polls whose every try failed to parse
        self._stamp: tuple[int, int] | None = None

    def reset_stamp(self) -> None:
        """Read the file again at the next poll (it moved: the container's, then the host's)."""
        self._stamp = None

    def poll(self) -> tuple[list[Score], list[AideNode]]:
        """New (scores, nodes without a score) since the last poll."""
        try:
            st = self.path.stat()
        except OSError:
            return [], []
        stamp = (st.st_size, st.st_mtime_ns)
        if stamp == self._stamp:
            return [], []
        try:
            nodes = read_journal(self.path)
        except TornJournal:
            self.torn_reads += 1
            return [], []  # the stamp stays: the next poll tries again
        except OSError:
            return [], []
        self._stamp = stamp
        scores: list[Score] = []
        buggy: list[AideNode] = []
        for node in sorted(nodes, key=lambda n: (n.step, n.ctime)):
            if node.id in self.seen:
                continue
            if node.value is not None and not node.is_buggy:
                scores.append(score_of(node))
            elif node.is_buggy or node.no_metric:
                buggy.append(node)
            else:
                continue  # not evaluated yet
            self.seen.add(node.id)
        return scores, buggy


def score_of(node: AideNode) -> Score:
    assert node.value is not None
    return Score(
        ts=node.ctime or time.time(),
        step=node.step,
        name=METRIC_NAME,
        value=node.value,
        direction="lower" if node.maximize is False else "higher",
        source="aide",
    )


def describe_unscored(node: AideNode) -> str:
    if node.is_buggy:
        return f"[aide] step {node.step}: node {node.id[:8]} is buggy (no validation score)"
    return f"[aide] step {node.step}: node {node.id[:8]} has no metric (AIDE's metric is NaN)"


def read_journal_data(
    path: Path, retries: int = RETRIES, retry_s: float = RETRY_S, max_bytes: int = 256 << 20
) -> Any:
    """The parsed JSON of ``journal.json`` (for its steps); :class:`TornJournal` when no try
    parsed or it is larger than ``max_bytes``, OSError when unread."""
    error = TornJournal("not read")
    for attempt in range(retries):
        if attempt:
            time.sleep(retry_s)
        if path.stat().st_size > max_bytes:
            raise TornJournal(f"larger than {max_bytes} bytes")
        try:
            return json.loads(path.read_text(encoding="utf-8", errors="replace"))
        except RecursionError as exc:
            raise TornJournal("nested too deeply") from exc
        except ValueError as exc:
            error = TornJournal(str(exc))
    raise error
