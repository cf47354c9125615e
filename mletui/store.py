"""Run folders: where a run lives on disk, its ``run.json``, discovery and id prefixes.

``$MLETUI_HOME/runs/<run_id>/`` holds ``run.json``, ``journal.jsonl``, ``logs/``, ``workspace/``,
``snapshots/``, ``submission/`` and ``control/`` (DESIGN.md, "The run folder").
"""

from __future__ import annotations

import dataclasses
import difflib
import fcntl
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

ENV_HOME = "MLETUI_HOME"


def mletui_home() -> Path:
    env = os.environ.get(ENV_HOME)
    return Path(env).expanduser() if env else Path(platformdirs.user_data_dir("mletui"))


def runs_root() -> Path:
    return mletui_home() / "runs"


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
    state: str = "created"  # created, starting, running, exited, killed
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
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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

    def read(self) -> RunRecord:
        return RunRecord.from_json(json.loads(self.run_json.read_text(encoding="utf-8")))

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


def list_runs() -> list[RunFolder]:
    """Every run folder with a readable ``run.json``, oldest first."""
    root = runs_root()
    if not root.is_dir():
        return []
    folders = [RunFolder(p) for p in root.iterdir() if (p / "run.json").is_file()]
    return sorted(folders, key=_created)


def _created(folder: RunFolder) -> float:
    try:
        return folder.read().created
    except (OSError, ValueError):
        return 0.0


class RunLookupError(Exception):
    """A run id or prefix that names no run, or more than one."""


def resolve_run(prefix: str) -> RunFolder:
    """The run whose id starts with ``prefix`` (any unique prefix works, as with git)."""
    prefix = prefix.strip()
    ids = [f.id for f in list_runs()]
    if not prefix:
        raise RunLookupError("Give a run id (or a unique prefix of one); `mletui ls` lists them.")
    if prefix in ids:
        return RunFolder(runs_root() / prefix)
    matches = [i for i in ids if i.startswith(prefix)]
    if len(matches) == 1:
        return RunFolder(runs_root() / matches[0])
    if matches:
        raise RunLookupError(
            f"'{prefix}' matches {len(matches)} runs: {', '.join(sorted(matches))}. "
            "Type more of the id."
        )
    if not ids:
        raise RunLookupError(f"No run '{prefix}': there are no runs yet. Start one: mletui demo")
    close = difflib.get_close_matches(prefix, ids, n=3, cutoff=0.4)
    hint = f" Closest: {', '.join(close)}." if close else ""
    raise RunLookupError(f"No run '{prefix}'.{hint} `mletui ls` lists them.")
