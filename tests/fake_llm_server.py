"""A local stand-in for a paid model API: a Chat Completions server that replies from a script.

Standard library only (``http.server`` in a thread on 127.0.0.1). It answers
``POST /v1/chat/completions`` with the next reply of its script and records every request it
received, so tests can assert on the prompts an agent sent and on when it sent them. A reply can
be an assistant message (with a plan and code), an HTTP error (429, 500), a malformed body, or be
held back until the test releases it. A request with ``"stream": true`` gets the reply as
server-sent events, a piece of text an event, and with ``stream_options.include_usage`` a last
chunk that counts the tokens, as the real API sends them; a reply can stop halfway until the test
releases the rest (``hold_midway``).

Run by hand to try the LLM agent without any API key::

    python -m tests.fake_llm_server --port 8765

then ``mletui run digits --agent llm --model fake --base-url http://127.0.0.1:8765/v1``. By hand
it plays :func:`digits_script` and then keeps improving, a little slower so a person can follow.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer. ``content`` is the assistant's message; ``status`` other than 200 is
    an error reply; ``body`` replaces the whole response body (a malformed reply)."""

    content: str = ""
    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hold: threading.Event | None = None  # reply only once the test sets it
    delay: float = 0.0
    usage: tuple[int, int] | None = None  # (prompt, completion) tokens; default: chars / 4
    piece_chars: int = 16  # streamed: the text of each event
    piece_delay: float = 0.0  # streamed: seconds between events
    hold_midway: threading.Event | None = None  # streamed: half the text, then wait for it
    usage_always: bool = False  # streamed: the usage chunk even unasked (some servers do)


@dataclass(frozen=True)
class Received:
    """A request as the server received it."""

    ts: float
    path: str
    headers: dict[str, str]  # names in lower case
    body: dict[str, Any]

    @property
    def prompt(self) -> str:
        """Every message's text, joined: what the model was shown."""
        return "\n".join(str(m.get("content", "")) for m in self.body.get("messages", []))


def code_reply(plan: str, code: str, **kwargs: Any) -> Reply:
    """An assistant message the way the agent asks for it: a plan, then one Python block."""
    return Reply(content=f"{plan}\n\n```python\n{code.strip()}\n```\n", **kwargs)


def error_reply(status: int, message: str, **kwargs: Any) -> Reply:
    body = {"error": {"message": message, "type": "server_error", "code": status}}
    return Reply(status=status, body=json.dumps(body).encode(), **kwargs)


class FakeChatServer:
    """A Chat Completions server on 127.0.0.1 that plays ``script`` in order.

    ``script`` is a list of replies or a function of the request number (0-based) and the request
    body. Past the end of a list it answers 400 ("script exhausted"), which the agent treats as a
    refused prompt.
    """

    def __init__(
        self,
        script: Iterable[Reply] | Callable[[int, dict[str, Any]], Reply],
        port: int = 0,
    ) -> None:
        self._script = script if callable(script) else list(script)
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL, as OPENAI_BASE_URL takes it."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def completions(self) -> list[Received]:
        return [r for r in self.received if r.path.endswith("/chat/completions")]

    def __enter__(self) -> FakeChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            number = len(self.completions) - 1
        if callable(self._script):
            return self._script(number, body)
        if number < len(self._script):
            return self._script[number]
        return error_reply(400, "script exhausted")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                with server._lock:
                    server.received.append(
                        Received(
                            time.time(),
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                        )
                    )
                if not self.path.endswith("/chat/completions"):
                    self._send(error_reply(404, f"no route {self.path}"), body)
                    return
                reply = server._next(body)
                if reply.hold is not None:
                    reply.hold.wait(60)
                if reply.delay:
                    time.sleep(reply.delay)
                self._send(reply, body)

            def _send(self, reply: Reply, request: dict[str, Any]) -> None:
                if request.get("stream") and reply.status == 200 and reply.body is None:
                    self._stream(reply, request)
                    return
                data = reply.body if reply.body is not None else completion(reply, request)
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, reply: Reply, request: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")  # the end of the stream ends the body
                self.end_headers()
                self.close_connection = True
                content = reply.content
                pieces = [
                    content[i : i + reply.piece_chars]
                    for i in range(0, len(content), reply.piece_chars)
                ]
                try:
                    for number, piece in enumerate(pieces):
                        if reply.hold_midway is not None and number == len(pieces) // 2:
                            reply.hold_midway.wait(60)
                        self._event(chunk(request, {"content": piece}))
                        if reply.piece_delay:
                            time.sleep(reply.piece_delay)
                    self._event(chunk(request, {}, finish="stop"))
                    asked = (request.get("stream_options") or {}).get("include_usage")
                    if asked or reply.usage_always:
                        tokens_in, tokens_out = tokens(reply, request)
                        self._event(chunk(request, None, usage=(tokens_in, tokens_out)))
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away mid-reply

            def _event(self, data: dict[str, Any]) -> None:
                self.wfile.write(b"data: " + json.dumps(data).encode() + b"\n\n")
                self.wfile.flush()

        return Handler


def tokens(reply: Reply, request: dict[str, Any]) -> tuple[int, int]:
    prompt_chars = sum(len(str(m.get("content", ""))) for m in request.get("messages", []))
    return reply.usage or (prompt_chars // 4, len(reply.content) // 4)


def chunk(
    request: dict[str, Any],
    delta: dict[str, str] | None,
    finish: str | None = None,
    usage: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``: a piece of the reply (``delta``), or the usage at the end."""
    body: dict[str, Any] = {
        "id": "chatcmpl-fake-stream",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": str(request.get("model", "fake")),
        "choices": []
        if delta is None
        else [{"index": 0, "delta": {"role": "assistant", **delta}, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        }
    return body


def completion(reply: Reply, request: dict[str, Any]) -> bytes:
    """A Chat Completions response body for an assistant message."""
    tokens_in, tokens_out = tokens(reply, request)
    body = {
        "id": f"chatcmpl-fake-{time.time_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(request.get("model", "fake")),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": tokens_in,
            "completion_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        },
    }
    return json.dumps(body).encode()


# --- real solutions for the bundled digits task ----------------------------------------------

_HEAD = """
import os
from pathlib import Path

import pandas as pd
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

DATA = Path(os.environ["MLETUI_DATA_DIR"])
train = pd.read_csv(DATA / "train.csv")
test = pd.read_csv(DATA / "test.csv")
features = [c for c in test.columns if c != "id"]
X_train, X_valid, y_train, y_valid = train_test_split(
    train[features], train["label"], test_size=0.2, random_state=0, stratify=train["label"]
)
"""

_TAIL = """
model.fit(X_train, y_train)
value = accuracy_score(y_valid, model.predict(X_valid))
print(f"VALIDATION_METRIC: {value:.4f}")
model.fit(train[features], train["label"])
predictions = pd.DataFrame({"id": test["id"], "label": model.predict(test[features])})
predictions.to_csv(os.environ["MLETUI_PREDICTIONS_PATH"], index=False)
"""


def digits_solution(model: str, imports: str) -> str:
    """A complete solution for the digits task that trains ``model``."""
    return f"{imports}\n{_HEAD}\nprint('training {model}', flush=True)\nmodel = {model}\n{_TAIL}"


LOGISTIC = digits_solution(
    "make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))",
    "from sklearn.linear_model import LogisticRegression\n"
    "from sklearn.pipeline import make_pipeline\n"
    "from sklearn.preprocessing import StandardScaler",
)
# The bug: the forest is used before it is imported, as a model sometimes writes.
FOREST_BUGGY = digits_solution("RandomForestClassifier(n_estimators=60, random_state=0)", "")
FOREST = digits_solution(
    "RandomForestClassifier(n_estimators=60, random_state=0)",
    "from sklearn.ensemble import RandomForestClassifier",
)


def forest(trees: int) -> str:
    return digits_solution(
        f"ExtraTreesClassifier(n_estimators={trees}, random_state=0)",
        "from sklearn.ensemble import ExtraTreesClassifier",
    )


def digits_script() -> list[Reply]:
    """Draft, draft with a bug, debug it, improve the best: real sklearn code for digits."""
    return [
        code_reply("Plan: a scaled logistic regression as a first baseline.", LOGISTIC),
        code_reply("Plan: a random forest on the raw pixels.", FOREST_BUGGY),
        code_reply("Plan: the forest failed with a NameError; import it.", FOREST),
        code_reply("Plan: more randomised trees (extra trees, 150).", forest(150)),
    ]


def endless_digits(delay: float) -> Callable[[int, dict[str, Any]], Reply]:
    """The digits script, then ever bigger forests, each reply after ``delay`` seconds."""
    script = digits_script()

    def reply(number: int, body: dict[str, Any]) -> Reply:
        if number < len(script):
            chosen = script[number]
        else:
            trees = 150 + 50 * (number - len(script) + 1)
            chosen = code_reply(f"Plan: extra trees with {trees} trees.", forest(trees))
        chosen.delay = delay
        return chosen

    return reply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--delay", type=float, default=3.0, help="seconds before each reply")
    args = parser.parse_args()
    with FakeChatServer(endless_digits(args.delay), port=args.port) as server:
        print(f"fake Chat Completions server at {server.url}", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
