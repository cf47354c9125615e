"""``mletui watch``, ``ls`` and ``show``: looking at runs, on screen or as text."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mletui.cli.command import GlobalOptions, UserError, command
from mletui.cli.lookup import complete_run_id, elsewhere, find, resolve, scan, sources
from mletui.core.clock import duration, wall_time
from mletui.core.events import state_text
from mletui.core.words import counted

if TYPE_CHECKING:
    from mletui.store.runs import RunRecord, RunScan
    from mletui.watch.livestate import RunSummary
    from mletui.watch.sources import Registry


def watch_run(
    options: GlobalOptions,
    run_id: str | None,
    drive: bool = False,
    show_grades: bool = False,
    notify: tuple[str, ...] = (),
    sources: Registry | None = None,
) -> int:
    """The watch screen on one run (the overview without one); what to type next is printed
    when the operator quits."""
    from mletui.tui.app import MletuiApp

    app = MletuiApp(
        run_id=run_id,
        sources=sources,
        theme_name=options.theme,
        operator=options.operator,
        drive=drive,
        show_grades=show_grades,
        alerts=True,
        notify_urls=notify,
    )
    app.run()
    for line in app.farewell():
        print(line)
    return 0


@command("watch", "watch a run; without an id, the runs overview")
@click.argument(
    "run_id",
    required=False,
    help="a run id or any unique prefix of one",
    shell_complete=complete_run_id,
)
@click.option(
    "--drive", is_flag=True, help="take the driver lock at once (else at your first action)"
)
@click.option(
    "--notify",
    metavar="URL",
    multiple=True,
    help="send alerts to this Apprise URL too (repeatable; e.g. json://host:port/, mailto://...)",
)
@click.option(
    "--mlebench-data",
    metavar="PATH",
    help="MLE-bench's data folder, to score an MLE-bench run's submissions with its private "
    "answers and MLE-bench's grader; default: $MLEBENCH_DATA, else ~/.cache/mle-bench/data",
)
@click.pass_obj
def watch(
    options: GlobalOptions,
    run_id: str | None,
    drive: bool,
    notify: tuple[str, ...],
    mlebench_data: str | None,
) -> int:
    from mletui.integrations.mlebench.grading import ENV_DATA

    if mlebench_data:  # read by every MLE-bench run this watcher opens
        os.environ[ENV_DATA] = str(Path(mlebench_data).expanduser().resolve())
    registry = sources()  # the overview lists every source's runs; an id is looked up in each
    if run_id is not None:
        found = find(run_id)  # mletui's own runs first, as every command does
        run_id = found.id
        drive = drive and found.folder is not None  # only mletui's own runs have a driver
    return watch_run(options, run_id, drive=drive, notify=notify, sources=registry)


def _summary_json(summary: RunSummary) -> dict[str, Any]:
    from mletui.watch.grades import grade_json

    status = summary.status
    return {
        **summary.record.to_json(),
        "state": status.state.value,  # the state it is in now, as every source says it
        "wall_s": round(status.wall_s, 1),
        "active_s": round(status.active_s, 1),
        "time_left_s": None if status.time_left_s is None else round(status.time_left_s, 1),
        "observe_only": status.observe_only,
        "best_validation": summary.best,
        "metric": summary.best_name,
        "direction": summary.direction,
        "steps": summary.steps,
        "actions": summary.actions,
        "hints_sent": summary.hints_sent,
        "hints_unacknowledged": summary.hints_unacknowledged,
        "assisted": summary.assisted,
        "gpu": summary.gpu,
        "stalls": [{"flag": f.flag, "text": f.text, "since": f.since} for f in summary.stalls],
        **grade_json(summary),
    }


@command("ls", "list runs")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_obj
def ls(options: GlobalOptions, as_json: bool) -> int:
    from mletui.integrations.inspect.listing import print_samples
    from mletui.integrations.inspect.source import InspectSource, sample_json
    from mletui.integrations.mlebench.listing import print_runs, run_json, summarize_run
    from mletui.integrations.mlebench.runs import list_mlebench_runs, runs_folder

    summaries = _summaries(scan())
    mlebench = runs_folder(options.mlebench_runs)
    inspect = InspectSource().samples()
    for problem in inspect.problems:  # an Inspect process or log that cannot be read
        print(f"mletui: {problem}", file=sys.stderr)
    if as_json:
        rows = [_ls_row(s, {}) for s in summaries]
        if mlebench is not None:
            rows += [_ls_row(summarize_run(r), run_json(r)) for r in list_mlebench_runs(mlebench)]
        rows += [sample_json(f) for f in inspect.found]
        print(json.dumps(_one_shape(rows), indent=2))
        return 0
    console = _console()
    print_samples(inspect.found, console)
    if mlebench is not None:
        print_runs(mlebench, console)
        if not summaries:
            return 0
    if not summaries and inspect.found:
        return 0
    if not summaries:
        print("No runs yet. Start one: mletui demo")
        return 0
    from mletui.watch.grades import grade_cell

    header = ("ID", "TASK", "AGENT", "RUNTIME", "STATE", "ELAPSED", "BEST", "GRADE", "HINTS")
    table: list[tuple[str, ...]] = [
        (
            s.record.id,
            s.record.task,
            s.record.agent,
            s.record.runtime,
            state_text(s.status),
            duration(s.status.wall_s),
            "-" if s.best is None else f"{s.best:.4g}",
            grade_cell(s),
            str(s.hints_sent),
            "yes" if s.assisted else "-",
        )
        for s in summaries
    ]
    _print_table((*header, "ASSISTED"), table, console)
    if any(grade_cell(s).endswith("*") for s in summaries):
        print("* grade seen by an operator while the run was live (`mletui audit` says who)")
    return 0


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]], console: Any) -> None:
    """``ls``'s table of runs, the first column (the id) never cut. At a terminal, Rich fits it
    to the width; piped, every cell is whole, so the table is laid out here in the same shape
    (a cell's width, one space either side): Rich's layout of thousands of rows is slow."""
    from mletui.core.sanitize import clean_text, plain_cells

    if console.is_terminal:
        from rich.table import Table

        table = Table(box=None, header_style="bold")
        table.add_column(header[0], no_wrap=True, min_width=max(len(r[0]) for r in rows))
        for col in header[1:]:
            table.add_column(col, overflow="ellipsis")
        for row in rows:
            table.add_row(*plain_cells(row))
        console.print(table)
        return
    from rich.cells import cell_len

    lines = [header, *(tuple(clean_text(cell) for cell in row) for row in rows)]
    widths = [max(cell_len(line[n]) for line in lines) for n in range(len(header))]
    out = []
    for line in lines:
        cells = (
            cell + " " * (width - cell_len(cell)) for cell, width in zip(line, widths, strict=True)
        )
        out.append(" " + "  ".join(cells) + " ")
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()


def _console() -> Any:
    """Where ``ls`` prints its tables: at a terminal, its width; piped, wide enough that no cell
    is cut (a script reads whole ids)."""
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=10_000)
    return console


def _ls_row(summary: RunSummary, extra: dict[str, Any]) -> dict[str, Any]:
    """One run as ``ls --json`` lists it (and ``show --json`` shows it): its summary."""
    return {"source": "mletui", **_summary_json(summary), **extra}


def _one_shape(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every row with the same keys, whatever its source: a key another source has and this
    one does not is null."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    return [{key: row.get(key) for key in keys} for row in rows]


def _summaries(found: RunScan) -> list[RunSummary]:
    """Each run's summary; a run whose record cannot be read is named on stderr and left out."""
    from mletui.core.sanitize import clean_text
    from mletui.watch.livestate import summarize

    summaries = []
    for folder in found.folders:
        try:
            # ls shows no driver: its lock is not read
            summaries.append(summarize(folder, found.records.get(folder.id), driver_lock=False))
        except (OSError, ValueError, TypeError, KeyError, RecursionError) as exc:
            reason = clean_text(str(exc) or type(exc).__name__)
            print(f"mletui: skipped {clean_text(str(folder.path))}: {reason}.", file=sys.stderr)
    return summaries


@command("show", "one run in detail")
@click.argument("run_id", shell_complete=complete_run_id)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def show(run_id: str, as_json: bool) -> int:
    from mletui.core.sanitize import clean_text
    from mletui.watch.grades import grade_rows
    from mletui.watch.livestate import summarize

    try:
        folder = resolve(run_id)
    except UserError as own:
        return _show_elsewhere(run_id, own, as_json)
    summary = summarize(folder)
    if as_json:  # ls's row: the same keys for every source
        print(json.dumps(_ls_row(summary, {}), indent=2))
        return 0
    r = summary.record
    rows = [
        ("id", r.id),
        ("task", f"{r.task} ({r.task_path})"),
        ("agent", r.agent + ("" if r.agent != "cmd" else f": {r.command[-1]}")),
        ("runtime", r.runtime),
        ("state", state_text(summary.status)),
        ("observe-only", "yes (no hello.json)" if summary.status.observe_only else "no"),
        ("created", wall_time(r.created)),
        ("wall time", duration(summary.status.wall_s)),
        ("active time", duration(summary.status.active_s)),
        (
            "time left",
            "-" if summary.status.state.ended else duration(summary.status.time_left_s),
        ),
        (
            "best validation",
            "-"
            if summary.best is None
            else f"{summary.best:.6g} {summary.best_name} ({summary.direction} is better, "
            f"{counted(summary.steps, 'step')})",
        ),
        *grade_rows(summary),
        ("operator actions", ", ".join(f"{k} {v}" for k, v in summary.actions.items()) or "none"),
        ("assisted", "yes: an operator intervened" if summary.assisted else "no"),
        ("hints", f"{summary.hints_sent} sent, {summary.hints_unacknowledged} unacknowledged"),
        *_docker_rows(r),
        *_rights_rows(r),
        ("folder", str(folder.path)),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:  # values hold what the agent named (a metric, the command)
        print(f"{key:<{width}}  {clean_text(value)}")
    return 0


def _show_elsewhere(run_id: str, own: UserError, as_json: bool) -> int:
    """``show`` of a run another source lists (an Inspect sample, an MLE-bench run)."""
    from mletui.core.sanitize import clean_text
    from mletui.integrations.inspect.listing import sample_rows
    from mletui.integrations.inspect.source import InspectSource, sample_json
    from mletui.integrations.mlebench.source import MlebenchSource

    source, found = elsewhere(run_id, own)
    if isinstance(source, MlebenchSource) and source.root is not None:
        return _show_mlebench(source.root, found, as_json)
    if not isinstance(source, InspectSource):
        raise UserError(f"{found} is a {source.name} run: `mletui ls` lists it; show does not.")
    sample = source.lookup(found)
    if as_json:
        print(json.dumps(sample_json(sample), indent=2))
        return 0
    rows = sample_rows(sample)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:  # the eval's words (task, model, scores) are the agent's harness's
        print(f"{key:<{width}}  {clean_text(value)}")
    return 0


def _show_mlebench(root: Path, run_id: str, as_json: bool) -> int:
    """``show`` of an MLE-bench run: the harness's facts, AIDE's best score, mletui's grades
    and the operator actions journaled on it."""
    from mletui.core.sanitize import clean_text
    from mletui.integrations.mlebench.listing import run_json, summarize_run
    from mletui.integrations.mlebench.runs import resolve_mlebench_run
    from mletui.integrations.mlebench.session import OBSERVE_ONLY, cache_dir
    from mletui.watch.grades import grade_rows

    run = resolve_mlebench_run(root, run_id)
    summary = summarize_run(run)
    if as_json:
        print(json.dumps(_ls_row(summary, run_json(run)), indent=2))
        return 0
    best = summary.best
    rows = [
        ("id", run.id),
        ("task", run.competition),
        ("agent", run.agent),
        ("source", f"MLE-bench, run group {run.group}"),
        ("state", run.state + (f" ({summary.status.end_reason})" if run.why else "")),
        ("observe-only", f"yes: {OBSERVE_ONLY}"),
        ("started", "-" if run.started is None else wall_time(run.started)),
        ("wall time", duration(run.elapsed_s)),
        (
            "best validation",
            "-"
            if best is None
            else f"{best:.6g} {summary.best_name} ({summary.direction} is better, "
            f"{counted(summary.steps, 'scored node')})",
        ),
        *grade_rows(summary),
        ("operator actions", ", ".join(f"{k} {v}" for k, v in summary.actions.items()) or "none"),
        ("assisted", "yes: an operator intervened" if summary.assisted else "no"),
        ("folder", str(run.path)),
        ("mletui's record", str(cache_dir(run))),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:  # the agent's and the harness's words, cleaned
        print(f"{key:<{width}}  {clean_text(value)}")
    return 0


def _rights_rows(record: RunRecord) -> list[tuple[str, str]]:
    from mletui.store.audit import operator_rights_warning

    warning = operator_rights_warning(record)
    return [("agent rights", warning)] if warning else []


def _docker_rows(record: RunRecord) -> list[tuple[str, str]]:
    """`show`'s lines about a run's container, for the docker runtime."""
    if record.runtime != "docker":
        return []
    from mletui.runtimes.docker.container import describe_limits

    options = record.runtime_options
    limits = describe_limits(options)
    rows = [
        ("engine", record.docker_host or "-"),
        ("engine link", record.engine_status or "answering"),
        ("image", str(options.get("image", "-"))),
        ("container", f"{(record.container_id or '-')[:12]} ({record.container_state or '-'})"),
        ("limits", limits or "none"),
    ]
    if record.oom_killed:
        rows.append(("out of memory", "yes: the kernel's OOM killer ended the agent"))
    return rows
