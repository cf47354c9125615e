"""MLE-bench run groups and runs under a runs folder, and each run's state from its ``run.log``.

Layout, as MLE-bench's harness writes it:
``runs/<%Y-%m-%dT%H-%M-%S-GMT>_run-group_<agent>/<competition>_<uuid4>/``
with ``run.log`` (written while the run lives), and ``submission/``, ``logs/``, ``code/`` (copied
out of the container at the end). ``metadata.json`` in the group appears after the whole group.
"""

from __future__ import annotations

import calendar
import difflib
import json
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ENV_RUNS = "MLEBENCH_RUNS"
GROUP_RE = re.compile(r"^(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-GMT)_run-group_(?P<agent>.+)$")
RUN_RE = re.compile(
    r"^(?P<comp>[^_]+)_(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
COMPLETED_RE = re.compile(r"Run completed in (?P<s>[0-9.]+) seconds")
FAILED_MARK = "Run failed for seed"
TAIL_BYTES = 65536


class MlebenchLookupError(Exception):
    """A run id or prefix that names no MLE-bench run, or more than one."""


@dataclass(frozen=True)
class MlebenchRun:
    """One run of an MLE-bench run group, as its folder shows it now."""

    path: Path
    group: str
    agent: str
    competition: str
    state: str  # "queued", "running", "done", "failed"
    created: float  # the group's start (its folder name), or the folder's mtime
    started: float | None  # the first run.log line
    ended: float | None  # the last run.log line of a done or failed run
    seconds: float | None  # "Run completed in X seconds"

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def elapsed_s(self) -> float | None:
        """How long it ran (or has been running); None before it started."""
        if self.seconds is not None:
            return self.seconds
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started

    @property
    def log_path(self) -> Path:
        return self.path / "run.log"

    @property
    def code_dir(self) -> Path:
        return self.path / "code"

    @property
    def logs_dir(self) -> Path:
        return self.path / "logs"

    @property
    def submission_path(self) -> Path:
        return self.path / "submission" / "submission.csv"


def runs_folder(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The MLE-bench runs folder: ``explicit``, else ``$MLEBENCH_RUNS``, else ``./runs`` when it
    holds at least one run group; None when there is none."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_RUNS)
    if env:
        return Path(env).expanduser()
    local = Path("runs")
    if local.is_dir() and any(GROUP_RE.match(p.name) for p in _dirs(local)):
        return local
    return None


def _dirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir())
    except OSError:
        return []


def group_created(name: str, fallback: float) -> float:
    match = GROUP_RE.match(name)
    if not match:
        return fallback
    try:
        return float(calendar.timegm(time.strptime(match["ts"], "%Y-%m-%dT%H-%M-%S-GMT")))
    except ValueError:
        return fallback


def list_mlebench_runs(root: Path) -> list[MlebenchRun]:
    """Every run of every run group under ``root``, oldest group first."""
    runs: list[MlebenchRun] = []
    for group in _dirs(root):
        match = GROUP_RE.match(group.name)
        if not match:
            continue
        for run in _dirs(group):
            if RUN_RE.match(run.name):
                runs.append(read_run(run))
    return sorted(runs, key=lambda r: (r.created, r.group, r.id))


def read_run(path: Path) -> MlebenchRun:
    """A run as its folder shows it now (its state from the ends of ``run.log``)."""
    group = path.parent.name
    match = GROUP_RE.match(group)
    agent = match["agent"] if match else group
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    created = group_created(group, mtime)
    competition = path.name.split("_", 1)[0]
    log = path / "run.log"
    try:
        size = log.stat().st_size
        with log.open("rb") as f:
            head = f.read(4096)
            f.seek(max(0, size - TAIL_BYTES))
            tail = f.read()
    except OSError:
        return MlebenchRun(path, group, agent, competition, "queued", created, None, None, None)
    started = _first_time(head.split(b"\n"))
    text = tail.decode("utf-8", errors="replace")
    ended = _first_time(reversed(tail.split(b"\n")))
    state, seconds = "running", None
    if FAILED_MARK in text or _metadata_failed(path):
        state = "failed"
    elif done := COMPLETED_RE.search(text):
        state, seconds = "done", float(done["s"])
    return MlebenchRun(
        path,
        group,
        agent,
        competition,
        state,
        created,
        started,
        ended if state in ("done", "failed") else None,
        seconds,
    )


def _first_time(lines: Iterable[bytes]) -> float | None:
    from mletui.integrations.mlebench.runlog import parse_header_time

    for line in lines:
        ts = parse_header_time(line)
        if ts is not None:
            return ts
    return None


def _metadata_failed(path: Path) -> bool:
    try:
        data = json.loads((path.parent / "metadata.json").read_text(encoding="utf-8"))
        return data["runs"][path.name]["success"] is False
    except (OSError, ValueError, KeyError, TypeError):
        return False


def resolve_mlebench_run(root: Path, prefix: str) -> MlebenchRun:
    """The run whose id starts with ``prefix`` (any unique prefix works, as with git)."""
    prefix = prefix.strip()
    runs = list_mlebench_runs(root)
    if not prefix:
        raise MlebenchLookupError("Give an MLE-bench run id (or a unique prefix of one).")
    exact = [r for r in runs if r.id == prefix]
    matches = exact or [r for r in runs if r.id.startswith(prefix)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = ", ".join(sorted(f"{r.group}/{r.id}" for r in matches))
        raise MlebenchLookupError(f"'{prefix}' matches {len(matches)} MLE-bench runs: {names}.")
    if not runs:
        raise MlebenchLookupError(f"No MLE-bench run '{prefix}': no run groups under {root}.")
    close = difflib.get_close_matches(prefix, [r.id for r in runs], n=3, cutoff=0.4)
    hint = f" Closest: {', '.join(close)}." if close else ""
    raise MlebenchLookupError(f"No MLE-bench run '{prefix}' under {root}.{hint}")
