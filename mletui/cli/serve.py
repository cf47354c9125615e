"""``mletui serve``: the control room in a browser, behind a token."""

from __future__ import annotations

import click

from mletui.cli.command import GlobalOptions, UserError, command
from mletui.core import settings


@command("serve", "the control room in a browser, behind a token")
@click.option("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
@click.option("--port", type=int, default=8000, help="port (8000)")
@click.option("--token", help="the token to require (default: $MLETUI_SERVE_TOKEN or new)")
@click.pass_obj
def serve(options: GlobalOptions, host: str, port: int, token: str | None) -> int:
    from mletui.tui.serve import serve as serve_app

    token = token or settings.serve_token()
    if token is not None and len(token) < 16:
        raise UserError("A token needs at least 16 characters; leave it out to get a random one.")
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"mletui serve: {host} is reachable from other machines; the token is the guard.")
    try:
        serve_app(host, port, token, options.theme, options.operator)
    except OSError as exc:
        raise UserError(f"Cannot serve on {host}:{port}: {exc.strerror or exc}.") from exc
    return 0
