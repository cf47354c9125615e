"""The recorder: writes what a run does into its journal, whether or not anyone watches.

It runs inside the supervisor. Workspace snapshots (watchfiles), the agent's protocol files
(hello, metrics, acks) and resource samples become journal entries; the session replays them.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

from mletui import protocol
from mletui.collectors.resources import ProcessGroupSampler
from mletui.collectors.workspace import (
    WorkspaceTimeline,
    snapshot_from_json,
    snapshot_to_json,
    watch_workspace,
)
from mletui.events import Snapshot
from mletui.journal import Journal, JournalFollower, read_journal
from mletui.store import RunFolder

POLL_S = 0.3
RESOURCE_EVERY_S = 2.0


class Recorder:
    def __init__(self, folder: RunFolder, journal: Journal, pgid: int) -> None:
        self.folder = folder
        self.journal = journal
        self.timeline = WorkspaceTimeline(folder.workspace, folder.snapshots)
        self.timeline.restore(last_snapshot(folder.journal_path))
        self.sampler = ProcessGroupSampler(pgid)
        self._scan_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._metrics = JournalFollower(folder.control / protocol.METRICS, require_kind=False)
        self._acks = JournalFollower(folder.control / protocol.ACKS, require_kind=False)
        self._hello_seen = False

    def start(self) -> None:
        self.scan_workspace()
        for target, name in ((self._watch, "workspace"), (self._poll, "control")):
            thread = threading.Thread(target=target, name=f"recorder-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.scan_workspace()
        self.poll_control()

    def scan_workspace(self) -> None:
        with self._scan_lock:
            snapshot = self.timeline.scan()
            if snapshot is not None:
                self.journal.append("snapshot", snapshot_to_json(snapshot))

    def _watch(self) -> None:
        try:
            watch_workspace(self.folder.workspace, self.scan_workspace, self._stop)
        except Exception as exc:  # a watcher failure must not stop the run: fall back to polling
            self.journal.append("notice", {"text": f"workspace watcher failed ({exc}); polling"})
            while not self._stop.wait(1.0):
                self.scan_workspace()

    def _poll(self) -> None:
        ticks_per_sample = max(1, round(RESOURCE_EVERY_S / POLL_S))
        tick = 0
        while not self._stop.wait(POLL_S):
            self.poll_control()
            if tick % ticks_per_sample == 0:
                sample = self.sampler.sample()
                self.journal.append(
                    "resources",
                    {
                        "cpu": round(sample.cpu_percent, 1),
                        "rss": sample.rss_bytes,
                        "procs": sample.processes,
                        "gpu": sample.gpu,
                    },
                )
            tick += 1

    def poll_control(self) -> None:
        control = self.folder.control
        if not self._hello_seen and (control / protocol.HELLO).exists():
            self._hello_seen = True
            try:
                hello = json.loads((control / protocol.HELLO).read_text(encoding="utf-8"))
                if not isinstance(hello, dict):
                    raise ValueError("not an object")
                self.journal.append("hello", {"hello": hello})
            except (OSError, ValueError) as exc:
                self.journal.append("notice", {"text": f"hello.json is not valid JSON ({exc})"})
        for record in self._metrics.read_new()[0]:
            score = parse_metric(record)
            if score is None:  # the agent is untrusted: a bad line is noted, never fatal
                self.journal.append("notice", {"text": "ignored a malformed metrics.jsonl line"})
            else:
                self.journal.append("score", score)
        for record in self._acks.read_new()[0]:
            self.journal.append(
                "ack",
                {
                    "id": str(record.get("id", "")),
                    "ack_kind": str(record.get("kind", "")),
                    "status": str(record.get("status", "")),
                    "message": str(record.get("message", ""))[:2000],
                },
            )


def parse_metric(record: dict[str, Any]) -> dict[str, Any] | None:
    """A validated score entry from one agent-written metrics line, or None."""
    try:
        value = float(record["value"])
        step = int(record.get("step", 0))
    except (KeyError, TypeError, ValueError):
        return None
    direction = record.get("direction", "higher")
    if not math.isfinite(value) or direction not in ("higher", "lower"):
        return None
    return {
        "step": step,
        "name": str(record.get("name", "score"))[:100],
        "value": value,
        "direction": direction,
        "score_kind": "validation",
    }


def last_snapshot(journal_path: Path) -> Snapshot | None:
    snapshots = [e for e in read_journal(journal_path).entries if e.get("kind") == "snapshot"]
    return snapshot_from_json(snapshots[-1]) if snapshots else None
