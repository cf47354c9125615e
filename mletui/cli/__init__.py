"""``mletui <command>``: the command line, on Click, one module per group of commands. Every
error a user can cause is one sentence on stderr: exit status 1, or 2 for a command line that
does not parse."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from mletui import __version__
from mletui.cli import bench, control, doctor, gpu, grade, image, record, runs, serve, start
from mletui.cli.command import GlobalOptions, OrderedGroup, UserError, global_options
from mletui.store.keys import KeyFileError

COMPLETE_VAR = "_MLETUI_COMPLETE"  # eval "$(_MLETUI_COMPLETE=bash_source mletui)"
USAGE_ERROR = 2  # as argparse and Click: the command line itself is wrong


@click.group(
    "mletui",
    cls=OrderedGroup,
    help="A control room in the terminal for machine-learning-engineering agents.",
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(
    __version__,
    "--version",
    message="mletui %(version)s",
    help="show the program's version number and exit",
)
@global_options
@click.pass_context
def cli(ctx: click.Context) -> int:
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
    return 0


for _command in (
    start.demo,
    start.run,
    runs.watch,
    runs.ls,
    runs.show,
    control.pause,
    control.resume,
    control.freeze,
    control.thaw,
    control.hint,
    control.kill,
    start.tasks,
    bench.bench,
    image.image,
    gpu.gpu,
    grade.grade,
    record.replay,
    serve.serve,
    record.export,
    record.pack,
    record.audit,
    doctor.doctor,
):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status is returned, never raised."""
    instruction = os.environ.get(COMPLETE_VAR)
    if instruction:  # the shell asks for completions of the line it is editing
        from click.shell_completion import shell_complete

        return shell_complete(cli, {"obj": GlobalOptions()}, "mletui", COMPLETE_VAR, instruction)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        status = cli.main(args, prog_name="mletui", standalone_mode=False, obj=GlobalOptions())
    except click.UsageError as exc:
        print(f"mletui: {_usage_sentence(exc)}", file=sys.stderr)
        return USAGE_ERROR
    except click.ClickException as exc:
        print(f"mletui: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except (UserError, KeyFileError) as exc:  # KeyFileError: the journal key, from any command
        print(f"mletui: {exc}", file=sys.stderr)
        return 1
    except (click.Abort, KeyboardInterrupt):  # Click turns Ctrl-C into Abort
        return 130
    except SystemExit as exc:  # Click's own exit after a closed pipe (`mletui ls | head`)
        return exc.code if isinstance(exc.code, int) else 1
    return status if isinstance(status, int) else 0


def _usage_sentence(exc: click.UsageError) -> str:
    """Click's message and where the help is, as one sentence on one line."""
    message = " ".join(exc.format_message().split())
    head, _, guess = message.partition(". Did you mean ")
    message = f"{head} (did you mean {guess})" if guess else message.rstrip(".")
    where = exc.ctx.command_path if exc.ctx is not None else "mletui"
    return f"{message}; see `{where} --help`."
