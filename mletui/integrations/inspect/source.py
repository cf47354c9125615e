"""Inspect AI's samples as a source of the watch registry: live ones found through Inspect's
discovery files, ended ones in the ``.eval`` logs of the log dir; each opened as an
:class:`~mletui.integrations.inspect.session.InspectSession`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mletui.core.events import StatusUpdate
from mletui.integrations.inspect.client import ControlError
from mletui.integrations.inspect.discovery import EvalProcess, discover
from mletui.integrations.inspect.record import recorded
from mletui.integrations.inspect.rows import SampleRow, TaskInfo, read_live
from mletui.integrations.inspect.session import InspectSession, records_root, status_of
from mletui.watch.replay import ReplaySession
from mletui.watch.session import Session
from mletui.watch.sources import (
    Listings,
    NoSuchRun,
    OpenRequest,
    RunListing,
    SourceError,
    register,
)

NAME = "inspect"
ENV_LOG_DIR = "INSPECT_LOG_DIR"  # Inspect's own: where `inspect eval` writes its logs
DEFAULT_LOG_DIR = "logs"


def log_dir() -> Path:
    """Where ended evals are read: ``$INSPECT_LOG_DIR``, else ``./logs`` (as Inspect writes)."""
    return Path(os.environ.get(ENV_LOG_DIR, "").strip() or DEFAULT_LOG_DIR).expanduser()


@dataclass(frozen=True)
class Found:
    """One sample, with the live process serving it (None: read from its log) and its task."""

    row: SampleRow
    process: EvalProcess | None
    task: TaskInfo | None

    def status(self) -> StatusUpdate:
        return status_of(self.row, self.task, live=self.process is not None)


@dataclass(frozen=True)
class Samples:
    found: tuple[Found, ...]
    problems: tuple[str, ...]  # a sentence per process or log file that could not be read


class InspectSource:
    """The samples of the live evals in ``control`` (default: Inspect's discovery folder) and of
    the ended ones under ``logs`` (default: :func:`log_dir`)."""

    name = NAME

    def __init__(self, control: Path | None = None, logs: Path | None = None) -> None:
        self.control = control
        self.logs = logs

    def samples(self) -> Samples:
        found: dict[str, Found] = {}
        discovery = discover(self.control)
        problems = list(discovery.problems)
        for process in discovery.processes:
            try:
                live = read_live(process)
            except ControlError as exc:
                problems.append(
                    _sentence(str(exc)) if process.unsupported else _unread(process, exc)
                )
                continue
            tasks = {t.eval_id: t for t in live.tasks}
            for row in live.samples:
                found.setdefault(row.id, Found(row, process, tasks.get(row.eval_id)))
        logs = self.logs if self.logs is not None else log_dir()
        if logs.is_dir():
            from mletui.integrations.inspect.logfile import ended_rows

            ended = ended_rows(logs)
            problems += ended.problems
            for row in ended.rows:
                found.setdefault(row.id, Found(row, None, None))  # a live row wins
        return Samples(tuple(found.values()), tuple(problems))

    def listings(self) -> Listings:
        samples = self.samples()
        runs = [
            RunListing(
                NAME,
                f.row.id,
                f.row.task,
                f.row.model,
                NAME,
                f.status().state.value,
                f.row.elapsed_s,
            )
            for f in samples.found
        ]
        return Listings(runs, list(samples.problems))

    def find(self, run_id: str) -> str:
        try:
            return self.lookup(run_id).row.id
        except SourceError:
            folders = recorded(records_root(), run_id)  # its eval and log are gone: its record
            if len(folders) == 1:
                return folders[0].id
            raise

    def lookup(self, run_id: str) -> Found:
        """The sample ``run_id`` names (its id or a unique prefix); SourceError saying why not."""
        samples = self.samples()
        exact = [f for f in samples.found if f.row.id == run_id]
        matches = exact or [f for f in samples.found if f.row.id.startswith(run_id)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            ids = ", ".join(sorted(f.row.id for f in matches)[:5])
            raise SourceError(f"'{run_id}' names several Inspect samples ({ids}): type more of it.")
        why = " ".join(samples.problems)
        if not why:  # every log read: nothing to say beyond "no run matches"
            raise NoSuchRun(f"No Inspect sample '{run_id}'.")
        raise SourceError(f"No Inspect sample '{run_id}'. {why}")

    def open(self, run_id: str, request: OpenRequest) -> Session:
        """The sample, watched; or its record (what mletui recorded while it was watched, or
        read from its log), replayed: asked for, or when the sample can no longer be read."""
        replay = request.replay
        if replay is None:
            try:
                found = self.lookup(run_id)
            except SourceError:
                if not recorded(records_root(), run_id):
                    raise
            else:
                return InspectSession(found.row, found.process, operator=request.operator)
        folders = [f for f in recorded(records_root(), run_id) if f.id == run_id]
        if not folders:
            raise SourceError(
                f"Nothing of the Inspect sample {run_id} is recorded yet: watch it first "
                f"(mletui watch {run_id}), or pack it (mletui pack {run_id})."
            )
        try:
            if replay is None:
                return ReplaySession(folders[0])
            return ReplaySession(folders[0], speed=replay.speed, skip_idle=replay.skip_idle)
        except (OSError, ValueError) as exc:
            raise SourceError(f"The record of {run_id} cannot be read: {exc}.") from exc


def sample_json(found: Found) -> dict[str, Any]:
    """One sample as ``ls --json`` lists it: the keys every source's rows have, then Inspect's."""
    row, status = found.row, found.status()
    return {
        "source": NAME,
        "id": row.id,
        "task": row.task,
        "agent": row.model,
        "runtime": NAME,
        "state": status.state.value,
        "path": row.log_path,
        "created": None,
        "started": None,
        "ended": None,
        "seconds": row.elapsed_s,
        "model": row.model,
        "eval_id": row.eval_id,
        "sample_id": row.sample_id,
        "epoch": row.epoch,
        "inspect_state": row.state,
        "tokens": row.tokens,
        "scores": dict(row.scores),
        "pid": found.process.pid if found.process else None,
    }


def _sentence(text: str) -> str:
    return text if text.endswith(".") else text + "."


def _unread(process: EvalProcess, exc: ControlError) -> str:
    return f"Inspect process {process.pid} cannot be read: {_sentence(str(exc))}"


register(InspectSource)
