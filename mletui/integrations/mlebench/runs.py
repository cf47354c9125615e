"""MLE-bench run groups and runs under a runs folder, and each run's state from its ``run.log``.

Layout, as MLE-bench's harness writes it:
``runs/<%Y-%m-%dT%H-%M-%S-%Z>_run-group_<agent>/<competition>_<uuid4>/`` (``%Z`` is ``GMT`` or
``UTC``, as the machine names it) with ``run.log`` (written while the run lives), and
``submission/``, ``logs/``, ``code/`` (copied out of the container at the end, before the
harness logs the run's completion). ``metadata.json`` in the group appears after the whole group.

A run's state comes from the harness's own records only: its ``metadata.json``, and the records
of ``run.log`` that are not the agent's ``[Container]`` chunks. An end record counts only when no
chunk of the agent follows it, and a completion only once MLE-bench's copies are there (nothing
of the run folder is mounted into the container, so the agent cannot make them). When the harness
itself is gone (no ``run_agent.py`` process holds the group's logs, none of them written for
:data:`QUIET_S`, no ``metadata.json``), a run without an end is "lost", and ``why`` says so.
"""

from __future__ import annotations

import calendar
import difflib
import json
import math
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from mletui.core.clock import duration
from mletui.integrations.mlebench.runlog import HarnessRecord, harness_records, parse_header_time

ENV_RUNS = "MLEBENCH_RUNS"
GROUP_RE = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2})-(?:GMT|UTC)_run-group_(?P<agent>.+)$"
)
RUN_RE = re.compile(
    r"^(?P<comp>[^_]+)_(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
COMPLETED_RE = re.compile(r"^Run completed in (?P<s>[0-9.]+) seconds")
FAILED_MARK = "Run failed for seed"
TAIL_BYTES = 65536
COPIES = ("submission", "logs", "code")  # what MLE-bench copies out before it logs the end
QUIET_S = 900.0  # a harness that wrote nothing into any of its group's logs for this long
HARNESS_SCRIPT = "run_agent.py"
PROBE_TTL_S = 5.0


class MlebenchLookupError(Exception):
    """A run id or prefix that names no MLE-bench run, or more than one."""


class NoMlebenchRun(MlebenchLookupError):
    """The runs folder holds runs, and none matches; ``closest``: the ids most like it."""

    def __init__(self, text: str, closest: list[str]) -> None:
        super().__init__(text)
        self.closest = closest


@dataclass(frozen=True)
class MlebenchRun:
    """One run of an MLE-bench run group, as its folder shows it now."""

    path: Path
    group: str
    agent: str
    competition: str
    state: str  # "queued", "running", "done", "failed", "lost"
    created: float  # the group's start (its folder name), or the folder's mtime
    started: float | None  # the first run.log line
    ended: float | None  # the last run.log line of a done or failed run
    seconds: float | None  # "Run completed in X seconds"
    why: str | None = None  # a lost run: how it is known that the harness is gone

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
        return float(calendar.timegm(time.strptime(match["ts"], "%Y-%m-%dT%H-%M-%S")))
    except ValueError:
        return fallback


def list_mlebench_runs(root: Path, probe: HarnessProbe | None = None) -> list[MlebenchRun]:
    """Every run of every run group under ``root``, oldest group first."""
    probe = probe or HarnessProbe()
    runs: list[MlebenchRun] = []
    for group in _dirs(root):
        match = GROUP_RE.match(group.name)
        if not match:
            continue
        for run in _dirs(group):
            if RUN_RE.match(run.name):
                runs.append(read_run(run, probe))
    return sorted(runs, key=lambda r: (r.created, r.group, r.id))


def read_run(path: Path, probe: HarnessProbe | None = None) -> MlebenchRun:
    """A run as its folder shows it now (its state from the harness's records, see above)."""
    group = path.parent.name
    match = GROUP_RE.match(group)
    agent = match["agent"] if match else group
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    created = group_created(group, mtime)
    competition = path.name.split("_", 1)[0]
    success = _metadata_success(path)
    log = path / "run.log"
    try:
        size = log.stat().st_size
        with log.open("rb") as f:
            head = f.read(4096)
            f.seek(max(0, size - TAIL_BYTES))
            tail = f.read()
    except OSError:
        state = "queued" if success is None else "done" if success else "failed"
        run = MlebenchRun(path, group, agent, competition, state, created, None, None, None)
        return _lost_or_not(run, probe)
    started = _first_time(head.split(b"\n"))
    lines = tail.split(b"\n")
    if size > len(tail):
        lines = lines[1:]  # the window starts inside a line
    records = harness_records(lines)
    end: HarnessRecord | None = None
    for record in records:
        if record.container:
            end = None  # the agent went on after it: that "end" was the agent's text
        elif FAILED_MARK in record.message or COMPLETED_RE.match(record.message):
            end = record
    completed = None if end is None else COMPLETED_RE.match(end.message)
    if not any((path / name).is_dir() for name in COPIES):
        completed = None  # not yet copied out: the harness has not got there
    state, seconds = "running", None
    if success is False or (end is not None and FAILED_MARK in end.message):
        state = "failed"
    elif completed is not None or success:
        state = "done"
    if completed is not None:
        seconds = float(completed["s"])
    ended = next((r.ts for r in reversed(records) if r.ts is not None), None)
    run = MlebenchRun(
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
    return _lost_or_not(run, probe)


def _lost_or_not(run: MlebenchRun, probe: HarnessProbe | None) -> MlebenchRun:
    """``run`` as lost when it has no end and its harness is gone."""
    if run.state not in ("queued", "running"):
        return run
    why = (probe or HarnessProbe()).gone(run.path.parent)
    if why is None:
        return run
    if run.state == "queued":
        why = f"never started: {why}"
    return replace(run, state="lost", why=why)


class HarnessProbe:
    """Whether MLE-bench's harness is still there for a run group: a ``run_agent.py`` process
    on this machine that holds one of the group's files open, or a log written lately. The
    process table is read once per :data:`PROBE_TTL_S` (a listing asks for every group)."""

    def __init__(self, quiet_s: float = QUIET_S) -> None:
        self.quiet_s = quiet_s
        self._read_at = -math.inf
        self._open: list[set[str] | None] = []  # per harness process: its open files, or None

    def gone(self, group: Path) -> str | None:
        """Why the group's harness is known to be gone, or None (it is there, or it may be)."""
        if (group / "metadata.json").exists():
            return None  # the harness finished the group: its records say the rest
        quiet = _quiet_for(group)
        if quiet < self.quiet_s:
            return None
        processes = self._processes()
        if processes is None:
            return None  # this machine's processes cannot be read: it may be there
        prefix = str(group.resolve()) + os.sep
        holding = [files for files in processes if files is None or _any_under(files, prefix)]
        if holding:
            return None
        where = (
            "no run_agent.py process on this machine"
            if not processes
            else "no run_agent.py process holds this group's logs"
        )
        return f"the harness is gone ({where}; no log written for {duration(quiet)})"

    def _processes(self) -> list[set[str] | None] | None:
        now = time.monotonic()
        if now - self._read_at < PROBE_TTL_S:
            return self._open
        try:
            import psutil
        except ImportError:
            return None
        found: list[set[str] | None] = []
        try:
            for proc in psutil.process_iter(["cmdline"]):
                cmdline = proc.info.get("cmdline") or []
                if not any(os.path.basename(str(arg)) == HARNESS_SCRIPT for arg in cmdline):
                    continue
                try:
                    found.append({f.path for f in proc.open_files()})
                except (psutil.AccessDenied, psutil.ZombieProcess):
                    found.append(None)  # another user's: it may hold the group
                except psutil.NoSuchProcess:
                    continue
        except psutil.Error:
            return None
        self._read_at, self._open = now, found
        return found


def _any_under(files: set[str], prefix: str) -> bool:
    return any(f.startswith(prefix) for f in files)


def _quiet_for(group: Path) -> float:
    """Seconds since anything of the group (its folder, a run folder, a run.log) was written."""
    newest = 0.0
    paths = [group, *_dirs(group)]
    paths += [p / "run.log" for p in paths[1:]]
    for path in paths:
        try:
            newest = max(newest, path.stat().st_mtime)
        except OSError:
            continue
    return max(0.0, time.time() - newest)


def _first_time(lines: Iterable[bytes]) -> float | None:
    for line in lines:
        ts = parse_header_time(line)
        if ts is not None:
            return ts
    return None


def _metadata_success(path: Path) -> bool | None:
    """What the group's ``metadata.json`` says of the run (None: nothing, or no such file)."""
    try:
        data = json.loads((path.parent / "metadata.json").read_text(encoding="utf-8"))
        success = data["runs"][path.name]["success"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return success if isinstance(success, bool) else None


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
        raise MlebenchLookupError(
            f"No run matches '{prefix}': no MLE-bench run groups under {root}."
        )
    close = difflib.get_close_matches(prefix, [r.id for r in runs], n=3, cutoff=0.4)
    hint = f" Closest: {', '.join(close)}." if close else ""
    raise NoMlebenchRun(f"No MLE-bench run '{prefix}' under {root}.{hint}", close)
