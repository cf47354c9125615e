"""A hostile ACP server: the eval process runs the agent's harness, so what its ACP socket answers
to a hint is untrusted. Lines past the bound, lines that are no JSON object, requests to mletui,
refusals in markup, escapes and bidi characters, a server that never answers and one that never
ends a line: each is one sentence (AcpError), bounded in time and bytes; a discovery file that
lies is no socket."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mletui.integrations.inspect.acp import MAX_LINE_BYTES, AcpClient, AcpError, acp_socket

Handler = Callable[[socket.socket], None]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Handler], Path]]:
    servers: list[socket.socket] = []

    def start(handler: Handler) -> Path:
        path = tmp_path / f"acp{len(servers)}.sock"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        server.listen(4)
        servers.append(server)

        def accept() -> None:
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                threading.Thread(target=handler, args=(conn,), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        return path

    yield start
    for server in servers:
        server.close()


def requests(conn: socket.socket) -> Iterator[dict[str, object]]:
    with conn, conn.makefile("rb") as lines:
        for line in lines:
            yield json.loads(line)


def send(conn: socket.socket, *messages: object) -> None:
    for message in messages:
        data = message if isinstance(message, bytes) else json.dumps(message).encode()
        conn.sendall(data + b"\n")


EVIL = "[bold red]no[/] \x1b[2J\x1b]0;owned\x07 \u202eevil"
answered: list[object] = []


def lying(conn: socket.socket) -> None:
    for request in requests(conn):
        method, ident = request.get("method"), request.get("id")
        if method is None:  # our answer to its request
            answered.append(request)
            continue
        # Before each answer: a line past the bound, junk, a list, a request to us, an answer to
        # no request of ours, a notification.
        send(
            conn,
            b"x" * (MAX_LINE_BYTES + 10),
            b"\xff\xfe not json",
            [1, 2, 3],
            {"jsonrpc": "2.0", "id": "perm", "method": "session/request_permission"},
            {"jsonrpc": "2.0", "id": 999, "result": {"samples": []}},
            {"jsonrpc": "2.0", "method": "session/update", "params": {"x": EVIL}},
        )
        if method == "inspect/list_samples":
            sample = {"sessionId": "S", "interactive": True, "task": "t", "sampleId": 1, "epoch": 1}
            send(conn, {"jsonrpc": "2.0", "id": ident, "result": {"samples": ["no", sample]}})
        elif method == "session/prompt":
            error = {"code": -32600, "message": "x", "data": {"reason": EVIL}}
            send(conn, {"jsonrpc": "2.0", "id": ident, "error": error})
        else:
            send(conn, {"jsonrpc": "2.0", "id": ident, "result": None})


def silent(conn: socket.socket) -> None:
    for _ in requests(conn):
        pass


def endless(conn: socket.socket) -> None:
    with conn:
        try:
            while True:
                conn.sendall(b"{" * 65536)
        except OSError:
            return


def test_a_lying_server_is_read_past_and_its_refusal_is_plain_text(serve: Callable) -> None:
    client = AcpClient(serve(lying), timeout=10)
    listing = client.session("t", "1", 1)
    assert listing is not None and listing["sessionId"] == "S"
    with pytest.raises(AcpError) as refused:
        client.prompt("t", "1", 1, "hint")
    text = str(refused.value)
    assert text.startswith("Inspect refused session/prompt:")
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    # Its requests to mletui were answered, as not offered.
    assert answered and all(a["error"]["code"] == -32601 for a in answered)  # type: ignore[index]


def test_silence_and_an_endless_line_end_in_time(serve: Callable) -> None:
    with pytest.raises(AcpError, match="did not answer within 1 s"):
        AcpClient(serve(silent), timeout=1).session("t", "1", 1)
    with pytest.raises(AcpError):
        AcpClient(serve(endless), timeout=5).session("t", "1", 1)


def test_a_discovery_file_that_lies_is_no_socket(tmp_path: Path) -> None:
    me = os.getpid()
    path = tmp_path / f"{me}.json"
    for value in (
        {"pid": me + 1, "socket_path": "/x.sock"},
        {"pid": me, "socket_path": ["/x.sock"]},
        {"pid": me, "socket_path": "/x\x00.sock"},
        {"pid": me, "host": "127.0.0.1", "port": 9},
        [1] * 10,
    ):
        path.write_text(json.dumps(value))
        assert acp_socket(me, tmp_path) is None
    path.write_text("[" * 100_000)
    assert acp_socket(me, tmp_path) is None
    path.unlink()
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"pid": me, "socket_path": "/x.sock"}))
    path.symlink_to(target)
    assert acp_socket(me, tmp_path) is None  # read without following the link
    path.unlink()
    target.rename(path)
    assert acp_socket(me, tmp_path) == Path("/x.sock")
