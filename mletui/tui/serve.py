"""The control room on a web page: textual-serve, bound to loopback, behind a token.

Every browser session runs its own ``mletui watch`` (the runs overview). Sessions are watchers
until they act: the first action takes the driver lock, as in the terminal. The page and its
websocket need the token: ``/?token=...`` once, then a same-site cookie carries it. The
websocket is taken only from the page's own origin (no other site's page can drive a session
with the operator's cookie), and no log line ever holds the token.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import shlex
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web
from textual_serve.server import Server

COOKIE = "mletui_token"
OPEN_PATHS = ("/static/",)  # the page's own scripts and fonts: nothing about any run
WEBSOCKET_PATH = "/ws"
_TOKEN_IN_QUERY = re.compile(r"(token=)[^&\s\"']*")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_token() -> str:
    return secrets.token_urlsafe(24)


class TokenServer(Server):
    """textual-serve's server with a token check in front of the page and the websocket."""

    def __init__(self, command: str, token: str, host: str, port: int) -> None:
        super().__init__(command, host=host, port=port, title="mletui")
        self.token = token

    def initialize_logging(self) -> None:
        """textual-serve's logging, with every line (aiohttp's access log too) redacted."""
        super().initialize_logging()
        for handler in logging.getLogger().handlers:
            handler.addFilter(TokenRedactor(self.token))

    def _origin_ok(self, request: web.Request) -> bool:
        """The websocket's Origin is the page's own: the address it was served from."""
        origin = request.headers.get("Origin", "")
        own = {f"{request.scheme}://{request.host}", self.public_url}
        return origin in own

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
            if request.path == WEBSOCKET_PATH and not self._origin_ok(request):
                return web.Response(
                    status=403,
                    text="mletui: the websocket is only for the page this server sent.\n",
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


class TokenRedactor(logging.Filter):
    """Rewrites a log record so it holds neither the token nor any ``token=`` value (an access
    log line has the query string, and a websocket's Referer the page's address with it)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _TOKEN_IN_QUERY.sub(r"\1[redacted]", message).replace(self.token, "[redacted]")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def serve(host: str, port: int, token: str | None, theme: str | None, operator: str | None) -> None:
    argv = [sys.executable, "-m", "mletui"]
    if theme:
        argv += ["--theme", theme]
    argv += ["--operator", operator or "web", "watch"]
    server = TokenServer(shlex.join(argv), token or new_token(), host, port)
    server.serve()
