"""Runs and tasks by what the user typed: a run id or prefix, a task's name or folder; and the
shell's completion of run ids.

Every command finds a run here, through the source registry: mletui's own runs first, then each
integration's (MLE-bench's runs under ``--mlebench-runs``, Inspect's samples), with one prefix rule
and one sentence when no source, or more than one run, answers."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click
from click.shell_completion import CompletionItem

from mletui.cli.command import GlobalOptions, UserError

if TYPE_CHECKING:
    from mletui.grading.tasks import Task
    from mletui.store.runs import RunFolder, RunScan, SkippedRun
    from mletui.watch.session import Session
    from mletui.watch.sources import Registry, Source

_SKIPS_SAID: set[str] = set()  # the broken run folders this command has named already
_RUN_ID = re.compile(r"[0-9A-Za-z_-]+")  # what the shell is offered: no name that could be a trick


def scan() -> RunScan:
    """The runs folder, each broken entry in it named once on stderr (in one line)."""
    from mletui.store.runs import scan_runs

    found = scan_runs()
    _say_skipped(found.skipped)
    return found


def _say_skipped(skipped: list[SkippedRun]) -> None:
    for skip in skipped:
        line = skip.line()
        if line not in _SKIPS_SAID:
            _SKIPS_SAID.add(line)
            print(f"mletui: {line}", file=sys.stderr)


class OwnIdError(UserError):
    """The id names mletui's own runs but no usable one: other sources are not asked."""


class NoOwnRun(UserError):
    """No run of mletui's own matches the id; ``closest``: its ids most like it."""

    def __init__(self, text: str, closest: list[str]) -> None:
        super().__init__(text)
        self.closest = closest


def resolve(run_id: str) -> RunFolder:
    from mletui.store.runs import (
        NoRunMatch,
        RunIdTaken,
        RunLookupError,
        resolve_by_name,
        resolve_run,
    )

    found = resolve_by_name(run_id.strip())  # one listing and one run.json, however many runs
    if found is not None:
        from mletui.store.summarycache import skipped_runs

        _say_skipped(skipped_runs())
        return found
    try:  # no match, several or a broken folder: the whole scan names what is wrong
        return resolve_run(run_id, scan())
    except RunIdTaken as exc:
        raise OwnIdError(str(exc)) from exc
    except NoRunMatch as exc:
        raise NoOwnRun(str(exc), exc.closest) from exc
    except RunLookupError as exc:
        raise UserError(str(exc)) from exc


def options() -> GlobalOptions:
    """The global options of the command being run (none outside one)."""
    ctx = click.get_current_context(silent=True)
    found = ctx.find_object(GlobalOptions) if ctx is not None else None
    return found or GlobalOptions()


def sources() -> Registry:
    """Every source, MLE-bench's reading the command's ``--mlebench-runs`` (else its default)."""
    import mletui.integrations  # noqa: F401  (each integration registers its source)
    from mletui.integrations.mlebench.runs import runs_folder
    from mletui.integrations.mlebench.source import MlebenchSource
    from mletui.watch.sources import registry

    return registry().add(MlebenchSource(runs_folder(options().mlebench_runs)))


def elsewhere(run_id: str, own: UserError) -> tuple[Source, str]:
    """The source other than mletui's own that knows ``run_id`` (an Inspect sample, an
    MLE-bench run), and the whole id there. Else one sentence: no run matches, or what the
    sources that could have had it say (an ambiguous prefix, a runs folder that holds none)."""
    from mletui.watch.sources import OWN, NoSuchRun, Registry, SourceError, no_run_matches

    if not isinstance(own, NoOwnRun):  # a broken own run, no id at all: said alone
        raise own
    others = Registry(s for s in sources().sources if s.name != OWN)
    try:
        return others.find(run_id)
    except NoSuchRun as exc:
        raise UserError(no_run_matches(run_id, own.closest + exc.closest)) from exc
    except SourceError as exc:
        raise UserError(str(exc)) from exc


# How a sentence names a run of each source other than mletui's own.
KINDS = {"mle-bench": "an MLE-bench run", "inspect": "an Inspect sample"}


def kind(source: Source) -> str:
    return KINDS.get(source.name, f"a {source.name} run")


@dataclass(frozen=True)
class Found:
    """The run an id names: mletui's own (``folder``), or another source's (``source``)."""

    id: str
    folder: RunFolder | None = None
    source: Source | None = None


def find(run_id: str) -> Found:
    """The run ``run_id`` (or a unique prefix) names, in any source; UserError saying why not."""
    try:
        folder = resolve(run_id)
    except UserError as own:
        source, found = elsewhere(run_id, own)
        return Found(found, source=source)
    return Found(folder.id, folder=folder)


@contextmanager
def session(found: Found, operator: str | None = None) -> Iterator[Session]:
    """A watch session on another source's run, closed after use."""
    from mletui.watch.sources import OpenRequest, SourceError

    assert found.source is not None
    try:
        opened = found.source.open(found.id, OpenRequest(operator=operator))
    except SourceError as exc:
        raise UserError(str(exc)) from exc
    try:
        yield opened
    finally:
        opened.close()


def record_folder(run_id: str, why: str | None = None) -> RunFolder:
    """The folder holding the record of ``run_id``: an own run's, or the one mletui keeps for a
    run of another source. With ``why``, only a whole record will do (an Inspect sample's, brought
    up to date first); a source that keeps only the operator's actions is refused, ending with
    ``why``."""
    found = find(run_id)
    if found.folder is not None:
        return found.folder
    with session(found) as opened:
        sync = getattr(opened.control, "sync_record", None)
        if callable(sync):
            sync()
        elif why is not None:
            assert found.source is not None
            raise UserError(f"{found.id} is {kind(found.source)}: {why}.")
        return opened.control.folder


def task(name: str) -> Task:
    from mletui.grading.tasks import TaskError, resolve_task

    try:
        return resolve_task(name)
    except TaskError as exc:
        raise UserError(str(exc)) from exc


def run_ids_starting(prefix: str) -> list[str]:
    """The run folders' names that start with ``prefix``: one listing, no run.json read, so a
    tab press stays quick with thousands of runs."""
    from mletui.store.runs import runs_root

    try:
        entries = list(os.scandir(runs_root()))
    except OSError:
        return []
    return sorted(
        e.name
        for e in entries
        if e.name.startswith(prefix)
        and _RUN_ID.fullmatch(e.name)
        and e.is_dir(follow_symlinks=False)
    )


def complete_run_id(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    return [CompletionItem(run_id) for run_id in run_ids_starting(incomplete)]


def complete_run_id_or_file(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Run ids, and the shell's own file completion (a pack, a submission)."""
    return [*complete_run_id(ctx, param, incomplete), CompletionItem(incomplete, type="file")]
