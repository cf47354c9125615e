"""A small client of Inspect's control channel: HTTP/1.1 over the eval process's Unix socket.

Every answer is untrusted (the process runs the agent's harness, and answers carry agent text):
bodies are read up to a bound, and a refusal, a parse error, a timeout or a stock 404 (a route
this Inspect does not have) becomes :class:`ControlError` with a sentence."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from mletui.core.sanitize import clean_text

TIMEOUT_S = 5.0
MAX_BODY_BYTES = 8 << 20  # an events page of 500 compact events is well under 1 MiB
PAGE_LIMIT = 200  # events per page: bounded answers, several pages a poll when behind
Params = dict[str, str | int | float | bool | None]


class ControlError(Exception):
    """A request the control channel did not answer as asked; the message says why."""

    def __init__(self, text: str, status: int | None = None) -> None:
        super().__init__(text)
        self.status = status  # the HTTP status, when the server answered


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.socket_path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


class ControlClient:
    """Requests to one eval process's control channel (one connection per request)."""

    def __init__(self, socket_path: Path, timeout: float = TIMEOUT_S) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    # Reads.
    def tasks(self) -> list[Any]:
        return _list(self.request("GET", "/tasks"), "/tasks")

    def samples(self, eval_id: str) -> dict[str, Any]:
        path = f"/evals/{_segment(eval_id)}/samples"
        return _dict(self.request("GET", path, {"all": True}), path)

    def events(
        self, eval_id: str, sample_id: str, epoch: int, since: str | None, limit: int = PAGE_LIMIT
    ) -> dict[str, Any]:
        """One page of the sample's high-signal events after cursor ``since`` (None: from the
        start), with their truncated text (``content``); ``next`` is the cursor to pass on."""
        path = f"/evals/{_segment(eval_id)}/sample/events"
        params: Params = {"sample_id": sample_id, "epoch": epoch, "content": True, "limit": limit}
        if since is not None:
            params["since"] = since
        return _dict(self.request("GET", path, params), path)

    def task_config(self, task_id: str) -> dict[str, Any]:
        path = f"/tasks/{_segment(task_id)}/config"
        return _dict(self.request("GET", path), path)

    # Actions.
    def pause_task(self, task_id: str, now: bool) -> dict[str, Any]:
        path = f"/tasks/{_segment(task_id)}/pause"
        return _dict(self.request("POST", path, {"now": now or None}), path)

    def resume_task(self, task_id: str) -> dict[str, Any]:
        path = f"/tasks/{_segment(task_id)}/resume"
        return _dict(self.request("POST", path), path)

    def pause_model(self, model: str, now: bool) -> dict[str, Any]:
        return _dict(self.request("POST", "/models/pause", {"model": model, "now": now or None}))

    def resume_model(self, model: str) -> dict[str, Any]:
        return _dict(self.request("POST", "/models/resume", {"model": model}))

    def pause_process(self, now: bool) -> dict[str, Any]:
        return _dict(self.request("POST", "/pause", {"now": now or None}))

    def resume_process(self) -> dict[str, Any]:
        return _dict(self.request("POST", "/resume"))

    def cancel_sample(
        self, eval_id: str, sample_id: str, epoch: int, action: str
    ) -> dict[str, Any]:
        path = f"/evals/{_segment(eval_id)}/sample/cancel"
        params: Params = {"sample_id": sample_id, "epoch": epoch, "action": action}
        return _dict(self.request("POST", path, params), path)

    def cancel_tool_call(self, eval_id: str, sample_id: str, epoch: int) -> dict[str, Any]:
        path = f"/evals/{_segment(eval_id)}/sample/cancel-tool-call"
        return _dict(self.request("POST", path, {"sample_id": sample_id, "epoch": epoch}), path)

    def set_limits(self, task_id: str, limits: dict[str, int | str]) -> dict[str, Any]:
        """Change the task's per-sample limits (``time_limit``, ``token_limit``,
        ``message_limit``: a number, or ``"clear"``)."""
        path = f"/tasks/{_segment(task_id)}/config"
        return _dict(self.request("PATCH", path, dict(limits)), path)

    def request(self, method: str, path: str, params: Params | None = None) -> Any:
        """The parsed JSON answer; ControlError with a sentence for anything else."""
        query = urlencode({k: _param(v) for k, v in (params or {}).items() if v is not None})
        target = f"{path}?{query}" if query else path
        conn = _UnixConnection(self.socket_path, self.timeout)
        try:
            conn.request(method, target, headers={"Accept": "application/json"})
            response = conn.getresponse()
            body = response.read(MAX_BODY_BYTES + 1)
            status = response.status
        except FileNotFoundError:
            raise ControlError("the eval's control socket is gone (the eval has ended)") from None
        except ConnectionRefusedError:
            raise ControlError("the eval's control socket refused the connection") from None
        except TimeoutError:
            raise ControlError(
                f"the eval's control channel did not answer {method} {path} within "
                f"{self.timeout:g} s"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise ControlError(f"the eval's control channel failed: {_reason(exc)}") from None
        finally:
            conn.close()
        if len(body) > MAX_BODY_BYTES:
            raise ControlError(f"the answer to {method} {path} is over {MAX_BODY_BYTES} bytes")
        try:
            value = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ControlError(
                f"the answer to {method} {path} is not JSON (HTTP {status})", status
            ) from None
        except (ValueError, RecursionError):
            # An integer past Python's digit limit, or arrays nested past the parser's depth.
            raise ControlError(
                f"the answer to {method} {path} is JSON no parser should take (HTTP {status})",
                status,
            ) from None
        if 200 <= status < 300:
            return value
        if isinstance(value, dict) and "error" in value:
            raise ControlError(f"Inspect refused: {clean_text(str(value['error']), 500)}", status)
        if status == 404:
            # The router's own 404: the route does not exist in this Inspect.
            raise ControlError(f"this Inspect has no {method} {path} (an older version)", status)
        detail = clean_text(json.dumps(value)[:500], 500)
        raise ControlError(f"Inspect answered {method} {path} with HTTP {status}: {detail}", status)


def _param(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
    return clean_text(str(text), 200)


def _dict(value: Any, what: str = "the answer") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ControlError(f"the answer to {what} is not a JSON object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ControlError(f"the answer to {what} is not a JSON list")
    return value
