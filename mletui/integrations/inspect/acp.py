"""Operator messages into an Inspect agent through the eval's ACP server (``--acp-server``).

Inspect's ACP server speaks JSON-RPC 2.0, one JSON object a line, on a Unix socket named by
``<pid>.json`` in Inspect's data folder (``acp/``, beside ``control/``). A hint is a
``session/prompt`` to the sample's session: Inspect turns it into a user message marked
``source="operator"``, queued for the agent's next turn, and refuses it when the sample's agent
has no turn loop bound to a channel (a ``react()`` agent has one; ``generate()`` does not).

Every answer is untrusted (the process runs the agent's harness): lines are read up to a bound,
a connection reads a bounded number of bytes within a deadline, and anything unexpected becomes
:class:`AcpError` with a sentence. The server's own notifications (the transcript it streams to a
bound client) are read past, never kept."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from mletui.core.safefs import NotARegularFile, read_regular
from mletui.core.sanitize import clean_text
from mletui.integrations.inspect.discovery import control_dir

TIMEOUT_S = 5.0
PROTOCOL_VERSION = 1  # ACP's; the server answers the lower of its own and this
MAX_DISCOVERY_BYTES = 64 * 1024
MAX_LINE_BYTES = 1 << 20  # answers to our requests are small; a longer line is skipped unread
MAX_READ_BYTES = 64 << 20  # all lines one connection reads (a replayed transcript included)
MAX_HINT_CHARS = 20_000
CHUNK = 64 * 1024
METHOD_NOT_FOUND = -32601


class AcpError(Exception):
    """The ACP server did not do what was asked; the message says why, in a sentence."""


def acp_dir() -> Path:
    """Inspect's ACP discovery folder: ``acp/`` beside its control folder."""
    return control_dir().parent / "acp"


def acp_socket(pid: int, folder: Path | None = None) -> Path | None:
    """The ACP socket of the eval process ``pid``; None when it serves none (or says it
    unreadably: a file that is no regular file, not JSON, or names another pid)."""
    path = (acp_dir() if folder is None else folder) / f"{pid}.json"
    try:
        value = json.loads(read_regular(path, MAX_DISCOVERY_BYTES))
    except (OSError, NotARegularFile, ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or value.get("pid", pid) != pid:
        return None
    socket_path = value.get("socket_path")
    if not isinstance(socket_path, str) or not socket_path or "\x00" in socket_path:
        return None  # a TCP server (host, port) is not looked for: Inspect binds one only if asked
    return Path(socket_path)


class AcpClient:
    """Requests to one eval's ACP server, one short connection for each."""

    def __init__(self, socket_path: Path, timeout: float = TIMEOUT_S) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def session(self, task: str, sample_id: str, epoch: int) -> dict[str, Any] | None:
        """Inspect's listing of the sample (``sessionId``, ``interactive``); None when the
        sample has no ACP session (not started, or ended)."""
        with _Connection(self.socket_path, self.timeout) as conn:
            conn.initialize()
            return _find(conn.call("inspect/list_samples", {}), task, sample_id, epoch)

    def prompt(self, task: str, sample_id: str, epoch: int, text: str) -> None:
        """Send ``text`` as an operator message to the sample's agent."""
        with _Connection(self.socket_path, self.timeout) as conn:
            conn.initialize()
            listing = _find(conn.call("inspect/list_samples", {}), task, sample_id, epoch)
            if listing is None:
                raise AcpError("the sample has no ACP session now (not started, or ended)")
            session_id = listing.get("sessionId")
            if not isinstance(session_id, str) or not session_id:
                raise AcpError("the sample's agent has not opened an ACP session")
            conn.call("session/load", {"cwd": "/", "sessionId": session_id, "mcpServers": []})
            conn.call(
                "session/prompt",
                {"sessionId": session_id, "prompt": [{"type": "text", "text": text}]},
            )


def accepts_operator_messages(listing: dict[str, Any] | None) -> bool:
    return listing is not None and listing.get("interactive") is True


def _find(answer: dict[str, Any], task: str, sample_id: str, epoch: int) -> dict[str, Any] | None:
    samples = answer.get("samples")
    for item in samples if isinstance(samples, list) else []:
        if not isinstance(item, dict):
            continue
        item_epoch = item.get("epoch")
        if (
            item.get("task") == task
            and str(item.get("sampleId")) == sample_id
            and isinstance(item_epoch, int)
            and not isinstance(item_epoch, bool)
            and item_epoch == epoch
        ):
            return item
    return None


class _Connection:
    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.buffer = b""
        self.read_bytes = 0
        self.next_id = 0

    def __enter__(self) -> _Connection:
        self.sock.settimeout(self.timeout)
        try:
            self.sock.connect(str(self.path))
        except FileNotFoundError:
            self.sock.close()
            raise AcpError("the eval's ACP socket is gone (the eval has ended)") from None
        except OSError as exc:
            self.sock.close()
            raise AcpError(f"the eval's ACP server cannot be reached: {_reason(exc)}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def initialize(self) -> None:
        self.call(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "clientCapabilities": {},
                "clientInfo": {"name": "mletui", "version": "1"},
            },
        )

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The ``result`` of ``method``; AcpError with Inspect's reason when it refuses."""
        self.next_id += 1
        ident = self.next_id
        self._send({"jsonrpc": "2.0", "id": ident, "method": method, "params": params})
        while True:
            message = self._message()
            if message is None:
                continue
            if "method" in message and "id" in message:
                # A request to us (a permission, a form): mletui offers none of them.
                error = {"code": METHOD_NOT_FOUND, "message": "not offered by this client"}
                self._send({"jsonrpc": "2.0", "id": message["id"], "error": error})
                continue
            if message.get("id") != ident or "method" in message:
                continue  # a notification, or an answer to no request of ours
            if "error" in message:
                raise AcpError(f"Inspect refused {method}: {_refusal(message['error'])}")
            result = message.get("result")
            if result is None:
                return {}
            if not isinstance(result, dict):
                raise AcpError(f"the answer to {method} is not a JSON object")
            return result

    def _send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        try:
            self.sock.settimeout(self._left())
            self.sock.sendall(data)
        except TimeoutError:
            raise AcpError(self._late()) from None
        except OSError as exc:
            raise AcpError(f"the eval's ACP server failed: {_reason(exc)}") from None

    def _message(self) -> dict[str, Any] | None:
        """The next line as a JSON object; None for a line skipped (over the bound, or no
        JSON object)."""
        line = self._line()
        if line is None:
            return None
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            return None
        return value if isinstance(value, dict) else None

    def _line(self) -> bytes | None:
        skipping = False
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line, self.buffer = self.buffer[:end], self.buffer[end + 1 :]
                return None if skipping else line
            if len(self.buffer) > MAX_LINE_BYTES:
                skipping, self.buffer = True, b""  # past the bound: read to its end, unkept
            if self.read_bytes > MAX_READ_BYTES:
                raise AcpError(f"the eval's ACP server sent over {MAX_READ_BYTES} bytes unasked")
            try:
                self.sock.settimeout(self._left())
                chunk = self.sock.recv(CHUNK)
            except TimeoutError:
                raise AcpError(self._late()) from None
            except OSError as exc:
                raise AcpError(f"the eval's ACP server failed: {_reason(exc)}") from None
            if not chunk:
                raise AcpError("the eval's ACP server closed the connection")
            self.read_bytes += len(chunk)
            self.buffer += chunk

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise AcpError(self._late())
        return left

    def _late(self) -> str:
        return f"the eval's ACP server did not answer within {self.timeout:g} s"


def _refusal(error: object) -> str:
    """Inspect's reason (``data.reason``), else the error's message, as plain short text."""
    if isinstance(error, dict):
        data = error.get("data")
        if isinstance(data, dict) and isinstance(data.get("reason"), str):
            return clean_text(data["reason"], 300)
        if isinstance(error.get("message"), str):
            return clean_text(error["message"], 300)
    return "no reason given"


def _reason(exc: OSError) -> str:
    return clean_text(str(exc.strerror or exc), 200)
