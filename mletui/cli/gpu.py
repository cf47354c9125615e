"""``mletui gpu``: every GPU and every run's share of it, live."""

from __future__ import annotations

import click

from mletui.cli.command import GlobalOptions, UserError, command


@command("gpu", "every GPU and every run's share of it, live")
@click.option(
    "--interval",
    type=float,
    help="seconds between GPU samples (default: 1, or $MLETUI_GPU_INTERVAL)",
)
@click.pass_obj
def gpu(options: GlobalOptions, interval: float | None) -> int:
    from mletui.gpu.nvml import interval_from_env
    from mletui.tui.app import MletuiApp

    seconds = interval_from_env() if interval is None else interval
    if not seconds > 0:
        raise UserError("--interval takes a number of seconds above zero.")
    MletuiApp(theme_name=options.theme, operator=options.operator, gpu_interval_s=seconds).run()
    return 0
