"""``mletui replay``, ``pack``, ``audit`` and ``export``: what a run left behind, played back,
carried, verified and tabled."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from mletui.cli.command import GlobalOptions, UserError, command
from mletui.cli.lookup import (
    complete_run_id,
    complete_run_id_or_file,
    record_folder,
    scan,
)
from mletui.core.clock import duration, wall_time
from mletui.core.sanitize import clean_text
from mletui.core.words import counted, file_size


@command("replay", "play a recorded run back through the watch screen")
@click.argument(
    "run",
    help="a run id (or prefix), or a pack file made by `mletui pack`",
    shell_complete=complete_run_id_or_file,
)
@click.option("--speed", type=float, default=10.0, help="times real time (10)")
@click.option("--no-skip-idle", is_flag=True, help="play idle stretches too")
@click.pass_obj
def replay(options: GlobalOptions, run: str, speed: float, no_skip_idle: bool) -> int:
    from mletui.store.pack import PackError, unpack_run
    from mletui.tui.app import MletuiApp

    if speed <= 0:
        raise UserError("--speed must be more than zero.")
    path = Path(run)
    if path.is_file():
        try:
            folder = unpack_run(path)
        except PackError as exc:
            raise UserError(str(exc)) from exc
    elif path.is_dir() or os.sep in run or run.endswith((".tar.gz", ".tgz")):
        what = "is a folder, not a pack" if path.is_dir() else "is no file"
        raise UserError(
            f"{clean_text(run)} {what}: give a pack file made by `mletui pack`, or a run id."
        )
    else:
        why = "mletui keeps only the operator's actions of it, not the record replay plays"
        folder = record_folder(run, why)
    app = MletuiApp(
        replay_id=folder.id,
        speed=speed,
        skip_idle=not no_skip_idle,
        theme_name=options.theme,
        operator=options.operator,
    )
    app.run()
    return 0


@command("export", "runs, scores, actions and resources as tables")
@click.argument(
    "run_ids",
    nargs=-1,
    metavar="[RUN_ID]...",
    help="runs to export",
    shell_complete=complete_run_id,
)
@click.option("--all", "every", is_flag=True, help="every run")
@click.option("--format", "fmt", type=click.Choice(("parquet", "csv", "json")), default="parquet")
@click.option("--out", required=True, help="the folder to write the tables into")
def export(run_ids: tuple[str, ...], every: bool, fmt: str, out: str) -> int:
    from mletui.watch.export import tables, write_tables

    if every and run_ids:
        raise UserError("Give run ids or --all, not both.")
    if not every and not run_ids:
        raise UserError("Name the runs to export, or --all.")
    why = "export tables mletui's own runs' records"
    folders = scan().folders if every else [record_folder(r, why) for r in run_ids]
    try:
        written = write_tables(tables(folders), Path(out), fmt)
    except (OSError, ImportError) as exc:
        raise UserError(f"Cannot write the export: {exc}.") from exc
    names = ", ".join(p.name for p in written)
    print(f"Exported {counted(len(folders), 'run')} to {out}: {names}")
    return 0


@command("pack", "write a run as one file, to replay on another machine")
@click.argument("run_id", shell_complete=complete_run_id)
@click.option("--out", help="the file to write (default: mletui-run-ID.tar.gz)")
def pack(run_id: str, out: str | None) -> int:
    from mletui.store.pack import pack_run

    why = "mletui keeps only the operator's actions of it; its folder is the harness's"
    folder = record_folder(run_id, why)
    try:
        written = pack_run(folder, Path(out) if out else None)
    except OSError as exc:
        raise UserError(f"Cannot write the pack: {exc}.") from exc
    size = written.stat().st_size
    print(f"Run {folder.id} packed into {written} ({file_size(size)}). Replay it anywhere:")
    print(f"  mletui replay {written}")
    return 0


@command("audit", "verify a run's keyed record, list its operator entries")
@click.argument("run_id", shell_complete=complete_run_id)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def audit(run_id: str, as_json: bool) -> int:
    from mletui.core.sanitize import clean_text
    from mletui.store.audit import (
        INTERVENTIONS,
        NOT_CHAINED,
        audit_journal,
        operator_rights_warning,
    )

    folder = record_folder(run_id)  # an Inspect sample: the journal of its operator actions
    report = audit_journal(folder.journal_path)  # a KeyFileError is main's sentence
    warning = operator_rights_warning(folder.read())
    if as_json:
        data = {
            "run_id": folder.id,
            "intact": report.intact,
            "chained": report.chained,
            "entries": report.entries,
            "breaks": [vars(b) for b in report.breaks],
            "operator_entries": [
                {"line": line, **{k: v for k, v in e.items() if k not in ("prev", "mac")}}
                for line, e in report.actions
            ],
            "assisted": bool(report.interventions),
            "operator_rights": warning,
        }
        print(json.dumps(data, indent=2))
        return 0 if report.intact else 1
    if report.intact:
        entries = counted(report.entries, "entry", "entries")
        print(f"Run {folder.id}: the record of {entries} is intact.")
    elif not report.chained and not report.breaks:
        print(f"Run {folder.id}: not chained. {NOT_CHAINED}")
    else:
        print(f"Run {folder.id}: the record is BROKEN:")
        for b in report.breaks:
            print(f"  {clean_text(b.problem)}")
    if warning:
        print(warning)
    for _line, e in report.actions:
        when = wall_time(_number(e.get("ts")))
        mark = "*" if e.get("action") in INTERVENTIONS else " "
        clock = duration(e.get("run_wall_s")) if "run_wall_s" in e else "      -"
        action, who = clean_text(str(e.get("action", "?"))), clean_text(str(e.get("operator", "?")))
        detail = clean_text(str(e.get("detail", "")))
        print(f" {mark} {when}  run {clock}  {action:<15} {who}  {detail}")
    verdict = "assisted (* marks interventions)" if report.interventions else "not assisted"
    print(f"Run {folder.id} is {verdict}.")
    return 0 if report.intact else 1


def _number(value: Any) -> float:
    """A number read from the journal, which anyone may have edited; 0 when it is none."""
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
