"""The control room on a web page: textual-serve, bound to loopback, behind a token.

Every browser session runs its own ``mletui watch`` (the runs overview). Sessions are watchers
until they act: the first action takes the driver lock, as in the terminal. The page and its
websocket need the token: ``/?token=...`` once, then a same-site cookie carries it.
"""

from __future__ import annotations

import hmac
import secrets
import shlex
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web
from textual_serve.server import Server

COOKIE = "mletui_token"
OPEN_PATHS = ("/static/",)  # the page's own scripts and fonts: nothing about any run

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_token() -> str:
    return secrets.token_urlsafe(24)


class TokenServer(Server):
    """textual-serve's server with a token check in front of the page and the websocket."""

    def __init__(self, command: str, token: str, host: str, port: int) -> None:
        super().__init__(command, host=host, port=port, title="mletui")
        self.token = token

    def _token_ok(self, request: web.Request) -> bool:
        given = request.query.get("token") or request.cookies.get(COOKIE) or ""
        return hmac.compare_digest(given.encode(), self.token.encode())

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()

        @web.middleware
        async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path.startswith(OPEN_PATHS):
                return await handler(request)
            if not self._token_ok(request):
                return web.Response(
                    status=403,
                    text="mletui: a valid token is needed. Open the address `mletui serve` "
                    "printed (it ends in ?token=...).\n",
                )
            response = await handler(request)
            if request.query.get("token") and not response.prepared:
                response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict")
            return response

        app.middlewares.append(require_token)
        return app

    async def on_startup(self, app: web.Application) -> None:
        print(f"mletui serve: open {self.public_url}/?token={self.token}", flush=True)
        print("Sessions watch until they act (the first action takes the driver lock).")
        print("Ctrl+C stops the server; the runs go on.", flush=True)


def serve(host: str, port: int, token: str | None, theme: str | None, operator: str | None) -> None:
    argv = [sys.executable, "-m", "mletui"]
    if theme:
        argv += ["--theme", theme]
    argv += ["--operator", operator or "web", "watch"]
    server = TokenServer(shlex.join(argv), token or new_token(), host, port)
    server.serve()
