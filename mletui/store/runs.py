"""Run folders: where a run lives on disk, its ``run.json``, discovery and id prefixes.

``$MLETUI_HOME/runs/<run_id>/`` holds ``run.json``, ``journal.jsonl``, ``logs/``, ``workspace/``,
``snapshots/``, ``submission/``, ``control/`` and ``screenshots/`` (docs/architecture.md, "The run
folder").
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import fcntl
import functools
import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from mletui.core import settings
from mletui.core.events import RunState
from mletui.core.safefs import read_regular
from mletui.core.sanitize import clean_text as displayable
from mletui.protocol import clean_text, loads_untrusted

ENV_HOME = settings.HOME
ENV_CONFIG_DIR = settings.CONFIG_DIR
MAX_RUN_JSON_BYTES = 1 << 20  # a run.json is a few kB; anything this big is not one of ours


def mletui_home() -> Path:
    return settings.home() or Path(platformdirs.user_data_dir("mletui"))


def runs_root() -> Path:
    return mletui_home() / "runs"


def config_dir() -> Path:
    """The operator's config folder (journal key, anchors, score patterns, themes):
    ``$MLETUI_CONFIG_DIR``, else the platform's (``~/.config/mletui`` on Linux)."""
    return settings.config_dir() or Path(platformdirs.user_config_dir("mletui"))


@dataclass
class RunRecord:
    """The contents of ``run.json``. Written by the supervisor while the run lives."""

    id: str
    task: str
    task_path: str
    agent: str  # "baseline", or "cmd" for a bring-your-own agent
    command: list[str]
    runtime: str
    created: float
    host: str
    time_limit_s: float | None = None
    state: RunState = RunState.CREATED  # then STARTING, RUNNING; EXITED, KILLED or LOST
    supervisor_pid: int | None = None
    supervisor_started: float | None = None  # process create time, to tell a reused pid
    agent_pid: int | None = None
    started: float | None = None
    ended: float | None = None
    exit_code: int | None = None
    end_reason: str | None = None  # "exited", "operator", "time limit", "supervisor error"
    active_s: float = 0.0
    heartbeat: float | None = None
    env: dict[str, str] = field(default_factory=dict)
    # What the runtime was asked for, completed by it (docker: engine address, image, limits).
    runtime_options: dict[str, Any] = field(default_factory=dict)
    docker_host: str | None = None  # docker: the Engine's address (unix://, tcp://, ssh://)
    container_id: str | None = None  # docker: the run's container
    container_state: str | None = None  # docker: as the Engine last said (running, paused, ...)
    engine_status: str | None = None  # docker: None while the Engine answers; else what is wrong
    oom_killed: bool = False  # the kernel's OOM killer ended the agent (a memory limit)
    agent_user: str | None = None  # local: the user the agent ran as (None: the operator's own)

    @classmethod
    def from_json(cls, data: Any) -> RunRecord:
        """The record in ``data``; ValueError saying what is wrong with it (not an object, a
        field missing or of the wrong type). Unknown keys are ignored."""
        if not isinstance(data, dict):
            raise ValueError(f"it holds a JSON {type(data).__name__}, not an object")
        values: dict[str, Any] = {}
        for name, expected, required, check, optional in _record_fields():
            if name not in data:
                if required:
                    raise ValueError(f"it has no '{name}'")
                continue
            value = data[name]
            if not (optional if value is None else check is None or check(value)):
                wanted = "a run state" if expected == "RunState" else expected
                raise ValueError(f"its '{name}' is {_json_kind(value)}, not {wanted}")
            values[name] = RunState(value) if expected == "RunState" else value
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "state": RunState(self.state).value}


@functools.cache
def _record_fields() -> tuple[tuple[str, str, bool, Callable[[Any], bool] | None, bool], ...]:
    """Each field of a run record: its name, its annotation, whether it is required, the test a
    value other than null must pass (None: any) and whether null is allowed (worked out once:
    ``ls`` reads thousands of records)."""
    fields = []
    for f in dataclasses.fields(RunRecord):
        annotation = str(f.type)
        optional = annotation.endswith(" | None")
        base = annotation[: -len(" | None")] if optional else annotation
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        fields.append((f.name, annotation, required, _TYPE_CHECKS.get(base), optional))
    return tuple(fields)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_RUN_STATES = frozenset(state.value for state in RunState)

# The annotations of RunRecord's fields, each with the test a value from JSON must pass. A field
# whose annotation is not here is taken as it comes.
_TYPE_CHECKS: dict[str, Any] = {
    "str": lambda v: isinstance(v, str),
    "float": _is_number,
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "list[str]": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "dict[str, str]": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
    "dict[str, Any]": lambda v: isinstance(v, dict),
    "RunState": lambda v: isinstance(v, str) and v in _RUN_STATES,
}


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"the string {clean_text(json.dumps(value[:40]))}"
    return {"int": "a number", "float": "a number", "list": "a list", "dict": "an object"}.get(
        type(value).__name__, type(value).__name__
    )


def read_run_json(path: Path) -> RunRecord:
    """Read a ``run.json`` that anyone may have written: never through a symbolic link, only a
    regular file, at most :data:`MAX_RUN_JSON_BYTES`. OSError when it cannot be opened
    (missing); ValueError saying what is wrong with it (a link, a fifo, its contents)."""
    data = read_regular(path, MAX_RUN_JSON_BYTES)
    if not data.strip():
        raise ValueError("run.json is empty")
    try:
        value = loads_untrusted(data, MAX_RUN_JSON_BYTES)
    except ValueError as exc:
        raise ValueError(f"run.json is cut short or not JSON ({exc})") from exc
    try:
        return RunRecord.from_json(value)
    except ValueError as exc:
        raise ValueError(f"run.json is not a run record: {exc}") from exc


class RunFolder:
    """One run's folder and the paths inside it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def id(self) -> str:
        return self.path.name

    run_json = property(lambda self: self.path / "run.json")
    journal_path = property(lambda self: self.path / "journal.jsonl")
    logs_dir = property(lambda self: self.path / "logs")
    log_path = property(lambda self: self.path / "logs" / "output.log")
    workspace = property(lambda self: self.path / "workspace")
    snapshots = property(lambda self: self.path / "snapshots")
    submission = property(lambda self: self.path / "submission")
    control = property(lambda self: self.path / "control")
    screenshots = property(lambda self: self.path / "screenshots")  # saved from the watch screen

    def read(self) -> RunRecord:
        """This run's record (:func:`read_run_json`: OSError or ValueError with a reason)."""
        return read_run_json(self.run_json)

    def write(self, record: RunRecord) -> None:
        tmp = self.path / f".run.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(record.to_json(), indent=2), encoding="utf-8")
        os.replace(tmp, self.run_json)

    @contextmanager
    def updating(self) -> Iterator[RunRecord]:
        """Read-modify-write ``run.json`` under a lock shared by every mletui process."""
        with (self.path / ".run.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                record = self.read()
                yield record
                self.write(record)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def new_run_id(root: Path) -> str:
    while True:
        run_id = secrets.token_hex(4)
        if not (root / run_id).exists():
            return run_id


def create_run_folder(record: RunRecord) -> RunFolder:
    root = runs_root()
    root.mkdir(parents=True, exist_ok=True)
    folder = RunFolder(root / record.id)
    folder.path.mkdir()
    for sub in ("logs", "workspace", "snapshots", "submission", "control"):
        (folder.path / sub).mkdir()
    folder.write(record)
    return folder


def make_record(
    task: str,
    task_path: str,
    agent: str,
    command: list[str],
    runtime: str,
    time_limit_s: float | None,
    env: dict[str, str] | None = None,
) -> RunRecord:
    return RunRecord(
        id=new_run_id(runs_root()),
        task=task,
        task_path=task_path,
        agent=agent,
        command=command,
        runtime=runtime,
        created=time.time(),
        host=socket.gethostname(),
        time_limit_s=time_limit_s,
        env=env or {},
    )


@dataclass(frozen=True)
class SkippedRun:
    """An entry of the runs folder that is not a usable run, and why."""

    path: Path
    reason: str

    def line(self) -> str:
        """One line naming the entry, safe to print whatever its name's bytes."""
        return f"skipped {_shown(self.path)}: {displayable(clean_text(self.reason))}."


@dataclass
class RunScan:
    """What :func:`scan_runs` found: the usable runs, oldest first, and the rest."""

    folders: list[RunFolder]
    skipped: list[SkippedRun]
    records: dict[str, RunRecord] = field(default_factory=dict)  # each run's, as read by the scan


def scan_runs() -> RunScan:
    """Every entry of the runs folder: a folder whose ``run.json`` reads as a record of the run
    it names is a run; anything else (a broken, partial or foreign folder, a stray file, a name
    that is not UTF-8) is skipped with a reason. Entries starting with a dot are mletui's own."""
    root = runs_root()
    found: list[tuple[float, RunFolder]] = []
    skipped: list[SkippedRun] = []
    records: dict[str, RunRecord] = {}
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except FileNotFoundError:
        return RunScan([], [])
    except OSError as exc:
        return RunScan([], [SkippedRun(root, f"cannot list it ({exc.strerror or exc})")])
    for entry in entries:
        path = Path(entry.path)
        if entry.name.startswith("."):
            continue
        record, reason = _entry_record(entry)
        if record is not None:
            found.append((record.created, RunFolder(path)))
            records[record.id] = record
        else:
            skipped.append(SkippedRun(path, reason))
    found.sort(key=lambda pair: (pair[0], pair[1].id))
    if len(_READ) > len(entries):  # run folders removed: their records are not kept
        listed = {Path(entry.path) / "run.json" for entry in entries}
        for gone in [path for path in _READ if path not in listed]:
            del _READ[gone]
    return RunScan([folder for _, folder in found], skipped, records)


def _entry_record(entry: os.DirEntry[str]) -> tuple[RunRecord | None, str]:
    """The run record of one runs-folder entry, or None and why it is not a run."""
    reason = _unusable(entry)
    if reason is not None:
        return None, reason
    try:
        record = _read_record(Path(entry.path) / "run.json")
    except FileNotFoundError:
        return None, "it has no run.json"
    except OSError as exc:
        return None, f"cannot read its run.json ({exc.strerror or exc})"
    except ValueError as exc:
        return None, str(exc)
    if record.id != entry.name:
        return None, f"its run.json is the record of run {clean_text(record.id)!r}"
    return record, ""


_READ: dict[Path, tuple[tuple[int, ...], RunRecord]] = {}  # run.json files read, with their stat


def _read_record(path: Path) -> RunRecord:
    """``run.json``'s record, parsed again only when the file changed: the overview scans every
    run every second, and an ended run's record does not change."""
    try:
        info = os.lstat(path)
    except OSError:
        return read_run_json(path)  # says why it cannot be read
    stamp = (info.st_mode, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    known = _READ.get(path)
    if known is not None and known[0] == stamp:
        return _copied(known[1])  # a caller may change its copy
    record = read_run_json(path)
    _READ[path] = (stamp, _copied(record))
    return record


def _copied(record: RunRecord) -> RunRecord:
    """A copy that shares nothing a caller could change in place (a full deep copy of every
    record each second would cost the overview more than reading them)."""
    out = copy.copy(record)
    out.command = list(record.command)
    out.env = dict(record.env)
    out.runtime_options = copy.deepcopy(record.runtime_options)
    return out


def entry_reason(entry: os.DirEntry[str]) -> str:
    """Why a runs-folder entry is not a usable run; "" when it is one."""
    return _entry_record(entry)[1]


def _unusable(entry: os.DirEntry[str]) -> str | None:
    """Why a runs-folder entry cannot be a run before its run.json is read; None if it can."""
    if entry.is_symlink():
        return "it is a symbolic link, not a run folder"
    if not entry.is_dir(follow_symlinks=False):
        return "it is a file, not a run folder"
    if clean_text(entry.name) != entry.name:
        return "its name is not UTF-8"
    return None


def _shown(path: Path) -> str:
    """A path as it can be printed: undecodable bytes as ``\\xNN``, control characters gone."""
    return displayable(clean_text(str(path)))


def list_runs() -> list[RunFolder]:
    """Every usable run folder, oldest first (:func:`scan_runs` says what was skipped)."""
    return scan_runs().folders


def resolve_by_name(prefix: str) -> RunFolder | None:
    """The one run whose folder name starts with ``prefix``, reading that run's run.json only:
    a run's id is its folder's name, so the runs folder's listing is the id index, and the one
    run.json read checks the match is a run (no other folder is opened). None when that does
    not settle it (no match, several, or a broken folder): the full scan then says why."""
    if not prefix or prefix.startswith("."):
        return None
    try:
        with os.scandir(runs_root()) as entries:
            matches = [e for e in entries if e.name.startswith(prefix)]
    except OSError:
        return None
    exact = [e for e in matches if e.name == prefix]
    if exact:
        matches = exact
    if len(matches) != 1:
        return None
    record, _ = _entry_record(matches[0])
    return None if record is None else RunFolder(Path(matches[0].path))


class RunLookupError(Exception):
    """A run id or prefix that names no run, or more than one."""


class NoRunMatch(RunLookupError):
    """No run's id is or starts with the prefix; ``closest``: the ids most like it."""

    def __init__(self, text: str, closest: list[str] | None = None) -> None:
        super().__init__(text)
        self.closest = closest or []


class RunIdTaken(RunLookupError):
    """The id names mletui's own runs, but not one usable run (a broken folder, several runs):
    no other source is asked."""


def resolve_run(prefix: str, scan: RunScan | None = None) -> RunFolder:
    """The run whose id starts with ``prefix`` (any unique prefix works, as with git). Broken
    folders are never matched by a prefix; naming one exactly says what is wrong with it."""
    prefix = prefix.strip()
    if scan is None:
        found = resolve_by_name(prefix)
        if found is not None:
            return found
    scan = scan or scan_runs()
    ids = [f.id for f in scan.folders]
    for skip in scan.skipped:
        if prefix and skip.path.name == prefix:
            raise RunIdTaken(
                f"Run folder {_shown(skip.path)} is not usable: {displayable(skip.reason)}."
            )
    if not prefix:
        raise RunLookupError("Give a run id (or a unique prefix of one); `mletui ls` lists them.")
    if prefix in ids:
        return RunFolder(runs_root() / prefix)
    matches = [i for i in ids if i.startswith(prefix)]
    if len(matches) == 1:
        return RunFolder(runs_root() / matches[0])
    if matches:
        raise RunIdTaken(
            f"'{prefix}' matches {len(matches)} runs: {', '.join(sorted(matches))}. "
            "Type more of the id."
        )
    if not ids:
        raise NoRunMatch(f"No run '{prefix}': there are no runs yet. Start one: mletui demo")
    close = difflib.get_close_matches(prefix, ids, n=3, cutoff=0.4)
    hint = f" Closest: {', '.join(close)}." if close else ""
    raise NoRunMatch(f"No run '{prefix}'.{hint} `mletui ls` lists them.", close)
