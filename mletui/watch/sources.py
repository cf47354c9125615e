"""Where runs come from: a source knows its runs' ids, lists them for the overview, and opens a
:class:`~mletui.watch.session.Session` on one; the registry asks each source in turn.

mletui's own runs (live or replayed) are the first source; an integration registers its own with
:func:`register` when it is imported, so that nothing here knows it by name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mletui import protocol
from mletui.core.sanitize import clean_text
from mletui.store.driverlock import LOCK_FILE
from mletui.store.runs import (
    NoRunMatch,
    RunFolder,
    RunLookupError,
    resolve_run,
    runs_root,
    scan_runs,
)
from mletui.watch.live import WatchSession
from mletui.watch.livestate import RunSummary, summarize
from mletui.watch.replay import ReplaySession
from mletui.watch.session import Session

OWN = "mletui"


class SourceError(Exception):
    """An id that no source knows, or a run that cannot be opened so; the message says why."""


class NoSuchRun(SourceError):
    """The source was read and no run of it matches the id: nothing about this source is worth
    saying beyond that; ``closest``: its ids most like the one given."""

    def __init__(self, text: str, closest: list[str] | None = None) -> None:
        super().__init__(text)
        self.closest = closest or []


def no_run_matches(run_id: str, closest: list[str] | None = None) -> str:
    """The one sentence for an id no source has."""
    hint = f" Closest: {', '.join(closest[:3])}." if closest else ""
    return f"No run matches '{run_id}'.{hint} `mletui ls` lists them."


@dataclass(frozen=True)
class ReplayOptions:
    speed: float = 10.0
    skip_idle: bool = True


@dataclass(frozen=True)
class OpenRequest:
    """How to open a run: as whom, and whether to replay its record instead of watching it."""

    operator: str | None = None
    replay: ReplayOptions | None = None


@dataclass(frozen=True)
class RunListing:
    """One run as its source lists it in the overview."""

    source: str
    id: str
    task: str
    agent: str
    runtime: str
    state: str
    elapsed_s: float | None
    summary: RunSummary | None = None  # mletui's own runs: everything the overview shows


@dataclass
class Listings:
    runs: list[RunListing] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # a sentence per run that could not be read


class Source(Protocol):
    @property
    def name(self) -> str: ...

    def find(self, run_id: str) -> str:
        """The id of the run ``run_id`` names (any unique prefix); SourceError saying why not."""
        ...

    def listings(self) -> Listings: ...

    def open(self, run_id: str, request: OpenRequest) -> Session: ...


class OwnRuns:
    """mletui's own runs under its runs folder: watched live, or replayed from their record."""

    name = OWN

    def __init__(self) -> None:
        # Ended runs' summaries, with the stat of what they were made from: the overview lists
        # every run every second, and an ended run changes only when one of those files does.
        self._ended: dict[Path, tuple[tuple[tuple[int, ...] | None, ...], RunSummary]] = {}

    def find(self, run_id: str) -> str:
        try:
            return resolve_run(run_id).id
        except NoRunMatch as exc:
            raise NoSuchRun(str(exc), exc.closest) from exc
        except RunLookupError as exc:
            raise SourceError(str(exc)) from exc

    def listings(self) -> Listings:
        scan = scan_runs()
        found = Listings(skipped=[skip.line() for skip in scan.skipped])
        listed = {folder.path for folder in scan.folders}
        if len(self._ended) > len(listed) or not self._ended.keys() <= listed:
            self._ended = {p: kept for p, kept in self._ended.items() if p in listed}  # removed
        for folder in scan.folders:
            made_from = _stamp(folder)
            known = self._ended.get(folder.path)
            try:
                if known is not None and known[0] == made_from:
                    s = known[1]
                else:
                    s = summarize(folder, scan.records.get(folder.id))
                    if s.status.state.ended and s.status.driver is None:  # a lock lapses in time
                        self._ended[folder.path] = (made_from, s)
            except (OSError, ValueError, TypeError, KeyError, RecursionError) as exc:
                reason = clean_text(str(exc) or type(exc).__name__)
                found.skipped.append(f"skipped {clean_text(str(folder.path))}: {reason}.")
                continue
            record = s.record
            found.runs.append(
                RunListing(
                    OWN,
                    record.id,
                    record.task,
                    record.agent,
                    record.runtime,
                    s.status.state.value,
                    s.status.wall_s,
                    s,
                )
            )
        return found

    def open(self, run_id: str, request: OpenRequest) -> Session:
        folder = RunFolder(runs_root() / run_id)
        if request.replay is not None:
            options = request.replay
            return ReplaySession(folder, speed=options.speed, skip_idle=options.skip_idle)
        return WatchSession(folder, request.operator)


def _stamp(folder: RunFolder) -> tuple[tuple[int, ...] | None, ...]:
    """What an ended run's summary is made from, as stat says: its record, journal, control folder
    and the control files it reads (a hint or an ack appended in place leaves the folder's stat
    as it was); ctime is in it because the agent can set a file's mtime back."""
    out: list[tuple[int, ...] | None] = []
    control = folder.control
    for path in (
        folder.path / "run.json",
        folder.journal_path,
        folder.path / LOCK_FILE,
        control,
        control / protocol.HINTS,
        control / protocol.ACKS,
        control / protocol.HELLO,
    ):
        try:
            info = os.lstat(path)
            out.append((info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns))
        except OSError:
            out.append(None)
    return tuple(out)


class Registry:
    """The sources one app or command reads, asked in order."""

    def __init__(self, sources: Iterable[Source] = ()) -> None:
        self._sources: dict[str, Source] = {}
        for source in sources:
            self.add(source)

    def add(self, source: Source) -> Registry:
        """Add ``source``, in place of the one of the same name if there is one."""
        self._sources[source.name] = source
        return self

    @property
    def sources(self) -> tuple[Source, ...]:
        return tuple(self._sources.values())

    def get(self, name: str) -> Source | None:
        return self._sources.get(name)

    def find(self, run_id: str) -> tuple[Source, str]:
        """The first source that knows ``run_id``, and the run's whole id there. When none does:
        NoSuchRun, one sentence, if no source had more to say; else each such source's reason
        (an ambiguous prefix, a runs folder given that holds no runs)."""
        reasons: list[str] = []
        closest: list[str] = []
        for source in self._sources.values():
            try:
                return source, source.find(run_id)
            except NoSuchRun as exc:
                closest += exc.closest
            except SourceError as exc:
                reasons.append(str(exc))
        if reasons:
            raise SourceError(" ".join(reasons))
        raise NoSuchRun(no_run_matches(run_id, closest), closest)

    def open(self, run_id: str, request: OpenRequest | None = None) -> Session:
        source, found = self.find(run_id)
        return source.open(found, request or OpenRequest())

    def listings(self) -> Listings:
        merged = Listings()
        for source in self._sources.values():
            found = source.listings()
            merged.runs += found.runs
            merged.skipped += found.skipped
        return merged


_FACTORIES: list[Callable[[], Source]] = [OwnRuns]


def register(factory: Callable[[], Source]) -> None:
    """Make every registry built from now on ask this source too (an integration, on import)."""
    if factory not in _FACTORIES:
        _FACTORIES.append(factory)


def registry() -> Registry:
    """A registry of every registered source, each with its defaults."""
    return Registry(factory() for factory in _FACTORIES)
