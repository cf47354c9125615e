"""Runs and tasks by what the user typed: a run id or prefix, a task's name or folder; and the
shell's completion of run ids."""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING

import click
from click.shell_completion import CompletionItem

from mletui.cli.command import UserError

if TYPE_CHECKING:
    from mletui.grading.tasks import Task
    from mletui.store.runs import RunFolder, RunScan
    from mletui.watch.sources import Source

_SKIPS_SAID: set[str] = set()  # the broken run folders this command has named already
_RUN_ID = re.compile(r"[0-9A-Za-z_-]+")  # what the shell is offered: no name that could be a trick


def scan() -> RunScan:
    """The runs folder, each broken entry in it named once on stderr (in one line)."""
    from mletui.store.runs import scan_runs

    found = scan_runs()
    for skip in found.skipped:
        line = skip.line()
        if line not in _SKIPS_SAID:
            _SKIPS_SAID.add(line)
            print(f"mletui: {line}", file=sys.stderr)
    return found


def resolve(run_id: str) -> RunFolder:
    from mletui.store.runs import RunLookupError, resolve_run

    try:
        return resolve_run(run_id, scan())
    except RunLookupError as exc:
        raise UserError(str(exc)) from exc


def elsewhere(run_id: str, own: UserError) -> tuple[Source, str]:
    """The source other than mletui's own that knows ``run_id`` (an Inspect sample, an
    MLE-bench run), and the whole id there; else ``own``'s sentence with theirs."""
    import mletui.integrations  # noqa: F401  (each integration registers its source)
    from mletui.watch.sources import OWN, Registry, SourceError, registry

    others = Registry(s for s in registry().sources if s.name != OWN)
    try:
        return others.find(run_id)
    except SourceError as exc:
        raise UserError(f"{own} {exc}") from exc


def record_folder(run_id: str) -> RunFolder:
    """The folder holding the record of ``run_id``: an own run's, or the one mletui keeps for a
    run of another source (an Inspect sample's: a run folder, brought up to date first)."""
    try:
        return resolve(run_id)
    except UserError as own:
        source, found = elsewhere(run_id, own)
    from mletui.watch.sources import OpenRequest, SourceError

    try:
        session = source.open(found, OpenRequest())
    except SourceError as exc:
        raise UserError(str(exc)) from exc
    try:
        sync = getattr(session.control, "sync_record", None)
        if callable(sync):
            sync()
        return session.control.folder
    finally:
        session.close()


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
