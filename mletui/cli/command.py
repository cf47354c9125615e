"""What every ``mletui`` command shares: the global options (taken before or after the command's
name), the help's layout, and the one-sentence error a user can fix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

THEME_HELP = "colour theme (default: $MLETUI_THEME or mletui-dark)"
OPERATOR_HELP = "your name in the journal (default: user@host)"
MLEBENCH_RUNS_HELP = (
    "an MLE-bench runs folder (its run groups); default: $MLEBENCH_RUNS, else ./runs if it holds"
    " run groups"
)

F = TypeVar("F", bound=Callable[..., Any])


class UserError(Exception):
    """A mistake the user can fix; printed as one line, never a traceback."""


@dataclass
class GlobalOptions:
    """``--theme``, ``--operator`` and ``--mlebench-runs``, wherever on the line they were given
    (the last wins)."""

    theme: str | None = None
    operator: str | None = None
    mlebench_runs: str | None = None


def _remember(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None and param.name is not None:
        setattr(ctx.ensure_object(GlobalOptions), param.name, value)


_GLOBAL = (
    ("--theme", "THEME", THEME_HELP),
    ("--operator", "OPERATOR", OPERATOR_HELP),
    ("--mlebench-runs", "PATH", MLEBENCH_RUNS_HELP),
)


def _global_options() -> list[click.Option]:
    return [
        click.Option([name], metavar=var, help=text, expose_value=False, callback=_remember)
        for name, var, text in _GLOBAL
    ]


def global_options(f: F) -> F:
    """The global options on the group; read them with ``pass_obj``."""
    for name, var, text in reversed(_GLOBAL):
        f = click.option(name, metavar=var, help=text, expose_value=False, callback=_remember)(f)
    return f


class MletuiCommand(click.Command):
    """A command whose help reads as the argparse one did: options named by their value
    (``--out OUT``), and options that belong to one mode under a heading of their own."""

    def __init__(self, *args: Any, sections: dict[str, tuple[str, ...]] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.sections = sections or {}
        for param in self.params:
            named = isinstance(param, click.Option) and not param.is_flag and not param.metavar
            if named and not isinstance(param.type, click.Choice):
                param.metavar = param.opts[0].lstrip("-").replace("-", "_").upper()

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        placed = {name for names in self.sections.values() for name in names}
        rows: dict[str | None, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None or isinstance(param, click.Argument):
                continue
            section = next((t for t, names in self.sections.items() if param.name in names), None)
            rows.setdefault(section if param.name in placed else None, []).append(record)
        for title in (None, *self.sections):
            if rows.get(title):
                with formatter.section(title or "Options"):
                    formatter.write_dl(rows[title])


class OrderedGroup(click.Group):
    """Commands listed in the order they were added (by use), not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


def command(
    name: str,
    help: str,
    short_help: str | None = None,
    sections: dict[str, tuple[str, ...]] | None = None,
) -> Callable[[Callable[..., int]], click.Command]:
    """A command named ``name`` that takes the global options too, listed after its own."""

    def decorate(f: Callable[..., int]) -> click.Command:
        made = click.command(
            name, cls=MletuiCommand, help=help, short_help=short_help or help, sections=sections
        )(f)
        made.params.extend(_global_options())
        return made

    return decorate
