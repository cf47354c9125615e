"""A hostile Inspect control channel: the eval process runs the agent's harness, so what it
answers is the adversary's. A fake control server on a Unix socket, found through a discovery
file as a real eval's is, names its task, model and sample in markup, escape sequences and bidi
characters, puts them in the transcript, sends every field with the wrong type, numbers no float
holds, bodies over the bound, JSON nested past any parser's depth, and a socket that never
answers. ``ls``, ``show`` and the watch screen stay up, say one sentence where they must, and
show every text inert."""

from __future__ import annotations

import contextlib
import json
import re
import socketserver
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mletui.cli import main
from mletui.core.events import AgentStep
from mletui.core.records import decode
from mletui.core.sanitize import FORMAT_CHARS
from mletui.integrations.inspect.session import cache_dir
from mletui.integrations.inspect.source import InspectSource
from mletui.integrations.inspect.transcript import MAX_PLAN
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder
from mletui.tui.app import MletuiApp
from mletui.tui.screens.watch import WatchScreen
from mletui.tui.widgets.log_view import LogView
from mletui.tui.widgets.steps_pane import StepsPane
from tests.conftest import until
from tests.test_tui import SIZE

MARKUP = "[bold red]x[/]"
# Markup, a retitle, a colour, an 8-bit CSI, bidi overrides and isolates, zero-width, a BOM, a tag.
BAD = MARKUP + "\x1b]0;pwned\x07\x1b[31m\x9b2J\u202e\u2066\u200b\ufeff\U000e0041\x00\x7f"
SHOWN_MARKUP = "[bold red]x[/]"
HUGE_INT = "1" + "0" * 5000  # past Python's digit limit for int(): json.loads refuses it
BIG_INT = "1" + "0" * 400  # an int no float holds
EVAL_ID = "EVALidAAAA"


def _control_free(text: str) -> bool:
    bad = re.compile(rf"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029{FORMAT_CHARS}]")
    return bad.search(text) is None


def _task(**over: Any) -> dict[str, Any]:
    return {
        "eval_id": EVAL_ID,
        "task_id": "T1" + BAD,
        "task": "task" + BAD,
        "model": "model" + BAD,
        "status": "running" + BAD,
        "log_location": "/nonexistent/" + BAD,
        "paused": ["task" + BAD, 5, None],
        "paused_now": "task",  # a string, not a list
        "held": "1",
        "samples": {"in_flight": [1]},
        **over,
    }


# Every field of a task row with the wrong type, and rows that are no rows at all.
WRONG_TASKS = [
    {k: [k] for k in _task()},
    {k: {"x": 1} for k in _task()},
    {k: 1.5 for k in _task()},
    {k: True for k in _task()},
    {k: None for k in _task()},
    [],
    "task",
    7,
    None,
]

SAMPLE = {
    "sample_id": "s" + BAD,
    "epoch": 1,
    "status": "running",
    "total_time": 12.5,
    "total_tokens": 1234,
    "scores": {"acc" + BAD: "C" + BAD, BAD: {"value": BAD}},
    "limit": "token" + BAD,
    "error": None,
}


def _raw_samples() -> str:
    """The sample rows, with numbers JSON allows and Python's floats do not (written by hand)."""
    rows = [json.dumps(SAMPLE)]
    for key in SAMPLE:
        for wrong in ("[1]", '{"a": 1}', "1.5", "true", "null", '"x"', "-1", BIG_INT):
            rows.append(
                json.dumps({**SAMPLE, "sample_id": f"w{len(rows)}"})[:-1] + f', "{key}": {wrong}}}'
            )
    for sample_id, total, started in (
        ("inf", "1e400", "null"),
        ("nan", "NaN", "null"),
        ("big", BIG_INT, "null"),
        ("neg", "-1e400", "null"),
        ("started-inf", "null", "1e400"),
        ("started-nan", "null", "NaN"),
        ("started-big", "null", BIG_INT),
    ):
        rows.append(
            f'{{"sample_id": "{sample_id}", "epoch": 1, "status": "running", '
            f'"total_time": {total}, "started_at": {started}}}'
        )
    rows += ["[]", '"row"', "7", "null", '{"sample_id": {"a": 1}, "epoch": 1}']
    return '{"samples": [' + ", ".join(rows) + "]}"


def _deep(depth: int) -> dict[str, Any]:
    value: Any = "bottom" + BAD
    for _ in range(depth):
        value = {"k" + BAD: value}
    return value


def _events() -> str:
    events: list[Any] = [
        {
            "uuid": "m1",
            "event": "model",
            "timestamp": 1.0,
            "model": "model" + BAD,
            "tokens": 12,
            "completion": ("said" + BAD + "\n") * 3,
        },
        {
            "uuid": "t1",
            "event": "tool",
            "timestamp": 2.0,
            "function": "bash" + BAD,
            "arguments": {"command": "run" + BAD},
            "result": "out" + BAD + "\r\nmore" + BAD,
        },
        {
            "uuid": "t2",
            "event": "tool",
            "timestamp": 2.0,
            "function": ["bash"],
            "arguments": _deep(40),
            "result": [BAD, {"x": BAD}],
            "error": {"message": BAD},
        },
        {"uuid": "e1", "event": "error", "timestamp": "yesterday", "error": "err" + BAD},
        {"uuid": "l1", "event": "logger", "timestamp": None, "message": {"text": BAD}},
        {"uuid": "i1", "event": "info", "timestamp": [1], "data": _deep(30)},
        {"uuid": "x1", "event": ["model"], "completion": BAD},
        {"uuid": 5, "event": "model", "completion": "uuid-int" + BAD},
        {
            "uuid": "m2",
            "event": "model",
            "model": 7,
            "tokens": "12",
            "completion": 5,
            "pending": "yes",
        },
        "an event" + BAD,
        None,
        [1, 2],
        7,
    ]
    body = json.dumps({"events": events, "next": "c1", "done": True})
    # Numbers no float holds, in the fields that are read as numbers.
    extra = (
        f'{{"uuid": "n1", "event": "model", "timestamp": {BIG_INT}, "tokens": {BIG_INT}, '
        '"completion": "bignum"}, '
        '{"uuid": "n2", "event": "model", "timestamp": 1e400, "completion": "infnum"}, '
        '{"uuid": "n3", "event": "model", "timestamp": NaN, "completion": "nannum"}'
    )
    return body.replace('"events": [', '"events": [' + extra + ", ", 1)


Answer = Callable[[str, str, dict[str, list[str]]], tuple[int, bytes] | None]


def hostile_answer(method: str, path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
    if path == "/tasks":
        rows = [_task(), *WRONG_TASKS]
        return 200, json.dumps(rows).encode()
    if path == f"/evals/{EVAL_ID}/samples":
        return 200, _raw_samples().encode()
    if path == f"/evals/{EVAL_ID}/sample/events":
        if query.get("since"):
            return 200, b'{"events": [], "next": "c1", "done": true}'
        return 200, _events().encode()
    if method == "POST":  # every action refused with a hostile reason
        return 409, json.dumps({"error": "refused" + BAD + "\n" * 50 + "x" * 10_000}).encode()
    return 404, json.dumps({"detail": "Not Found" + BAD}).encode()


def huge_answer(method: str, path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
    return 200, b"[" + b'"' + b"x" * (9 << 20) + b'"]'


def deep_answer(method: str, path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
    if path == "/tasks":
        return 200, b"[" * 200_000 + b"]" * 200_000
    return 404, b"{}"


def bignum_answer(method: str, path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
    return 200, ("[" + HUGE_INT + "]").encode()


def wrong_answer(method: str, path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
    """Valid JSON of the wrong shape everywhere, and a status line that is no number."""
    if path == "/tasks":
        return 200, json.dumps([_task(eval_id="E2")]).encode()
    return 200, json.dumps({"samples": {"not": "a list"}, "events": "x"}).encode()


def hang_answer(method: str, path: str, query: dict[str, list[str]]) -> None:
    threading.Event().wait(30)  # the socket takes the request and never answers
    return None


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    answer: Answer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        url = urlsplit(self.path)
        got = self.server.answer(self.command, url.path, parse_qs(url.query))
        if got is None:
            return
        status, body = got
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client stopped reading past its bound
            self.wfile.write(body)

    do_GET = do_POST = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def address_string(self) -> str:
        return "unix"


class FakeEvals:
    """Fake eval processes: a live pid each (a sleeping child), a discovery file, a server."""

    def __init__(self, tmp: Path) -> None:
        self.control = tmp / "control"
        self.control.mkdir()
        self.tmp = tmp
        self.servers: list[_Server] = []
        self.children: list[subprocess.Popen[bytes]] = []

    def add(self, name: str, answer: Answer, discovery: dict[str, Any] | None = None) -> int:
        child = subprocess.Popen(["sleep", "120"])
        self.children.append(child)
        sock = self.tmp / f"{name}.sock"
        server = _Server(str(sock), _Handler)
        server.answer = answer
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)
        info = {
            "pid": child.pid,
            "socket_path": str(sock),
            "started_at": 1.0,
            "api_version": 8,
            "run_id": "run" + BAD,
            "eval_set_id": ["x"],
            **(discovery or {}),
        }
        (self.control / f"{child.pid}.json").write_text(json.dumps(info))
        return child.pid

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()
        for child in self.children:
            child.kill()
            child.wait()


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEvals]:
    evals = FakeEvals(tmp_path)
    monkeypatch.setenv("MLETUI_INSPECT_CONTROL_DIR", str(evals.control))
    monkeypatch.setenv("INSPECT_LOG_DIR", str(tmp_path / "no-logs"))
    monkeypatch.setenv("COLUMNS", "200")
    yield evals
    evals.close()


def _one_sentence_each(err: str, count: int) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) == count, err
    assert _control_free(err.replace("\n", "")), err


def test_ls_and_show_over_hostile_and_broken_channels(
    fakes: FakeEvals, capsys: pytest.CaptureFixture[str]
) -> None:
    fakes.add("hostile", hostile_answer)
    broken = [
        fakes.add("huge", huge_answer),
        fakes.add("deep", deep_answer),
        fakes.add("bignum", bignum_answer),
    ]
    fakes.add("wrong", wrong_answer)  # JSON of the wrong shape: no row, nothing to say
    # Discovery files with every field of the wrong type are a sentence each, not a crash.
    for value in ([1], {"a": 1}, 1e400, "8", None, True, BIG_INT):
        fakes.add(f"disc{len(fakes.children)}", hostile_answer, {"api_version": value})
        fakes.add(f"sock{len(fakes.children)}", hostile_answer, {"socket_path": value})
    fakes.add("start", hostile_answer, {"started_at": float("inf")})
    (fakes.control / "123.json").write_bytes(b"\xff\xfe" + BAD.encode())  # a dead pid: stale
    capsys.readouterr()

    samples = InspectSource().samples()
    rows = [f.row for f in samples.found]
    assert rows and all(r.eval_id == EVAL_ID for r in rows)
    assert main(["ls"]) == 0
    out, err = capsys.readouterr()
    assert _control_free(out.replace("\n", "")), out
    assert MARKUP in out  # markup shown as its characters
    assert "Traceback" not in err and _control_free(err.replace("\n", "")), err
    for pid in broken:
        said = [line for line in err.splitlines() if f"process {pid}" in line]
        assert len(said) == 1, err
    assert main(["ls", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {row["id"] for row in listed if row["source"] == "inspect"} >= {r.id for r in rows}

    for row in rows:
        assert main(["show", row.id]) == 0
        out, err = capsys.readouterr()
        assert _control_free(out.replace("\n", "")) and "Traceback" not in err, out + err


def test_a_socket_that_never_answers_is_one_sentence(
    fakes: FakeEvals, capsys: pytest.CaptureFixture[str]
) -> None:
    pid = fakes.add("hang", hang_answer)
    capsys.readouterr()
    assert main(["ls"]) == 0
    _, err = capsys.readouterr()
    _one_sentence_each(err, 1)
    assert f"process {pid}" in err and "did not answer" in err


def _screen_text(app: MletuiApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_the_watch_screen_shows_a_hostile_sample_inert(fakes: FakeEvals) -> None:
    fakes.add("hostile", hostile_answer)
    (found,) = [f for f in InspectSource().samples().found if f.row.sample_id == "s" + BAD]
    app = MletuiApp(run_id=found.row.id)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = app.screen
        assert isinstance(screen, WatchScreen)

        def look(*wanted: str) -> bool:
            text = _screen_text(app)
            assert _control_free(text.replace("\n", "")), [
                c for c in text if not c.isprintable() and c != "\n"
            ]
            return all(w in text for w in wanted)

        await until(pilot, lambda: look("said" + SHOWN_MARKUP, "out" + SHOWN_MARKUP), 20)
        await until(pilot, lambda: look("bignum", "infnum", "nannum"), 10)
        # The model and tool calls as steps: their plan lines cleaned, every call one step.
        steps = screen.query_one(StepsPane)
        await until(pilot, lambda: len(steps.rows) >= 5, 10)
        plans = [row.step.plan for row in steps.rows]
        assert all(_control_free(plan) for plan in plans), plans
        assert max(len(plan) for plan in plans) <= MAX_PLAN, [len(plan) for plan in plans]
        assert any(plan.startswith("said" + SHOWN_MARKUP) for plan in plans), plans
        assert any(plan.startswith("run" + SHOWN_MARKUP) for plan in plans), plans
        assert len({row.step.step for row in steps.rows}) == len(steps.rows)
        # The record's journal holds them as drawn: cleaned before they were written.
        journal = read_journal(RunFolder(cache_dir(found.row)).journal_path).entries
        written = [r for r in map(decode, journal) if isinstance(r, AgentStep)]
        assert {r.plan for r in written} >= set(plans)
        assert all(_control_free(r.plan + r.outcome + (r.error or "")) for r in written)
        # A page held by a pending event is read again: what it showed is not shown twice.
        await pilot.pause(1.5)
        log = screen.query_one(LogView)
        assert sum("uuid-int" in line.text for line in log.lines) == 1
        assert sum(line.text.startswith("[error]") for line in log.lines) == 1
        # An action the channel refuses: its reason, cleaned, in one notification.
        await until(pilot, lambda: screen.check_action("kill", ()) is True, 10)
        await pilot.press("K")
        await pilot.pause(0.3)
        await pilot.press("a")
        await until(pilot, lambda: any("refused" in n.message for n in app._notifications), 10)
        # The error, and the journal's note that it was not applied.
        said = [n.message for n in app._notifications if "refused" in n.message]
        assert all(_control_free(text) and len(text) < 700 for text in said), said
        assert look()
        await pilot.press("q")


async def test_the_watch_screen_stays_up_when_the_channel_hangs(fakes: FakeEvals) -> None:
    fakes.add("hostile", hostile_answer)
    (found,) = [f for f in InspectSource().samples().found if f.row.sample_id == "s" + BAD]
    app = MletuiApp(run_id=found.row.id)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        assert isinstance(app.screen, WatchScreen)
        for server in fakes.servers:
            server.answer = hang_answer
        await pilot.press("question_mark")  # the screen answers keys while the poll waits
        await until(pilot, lambda: not isinstance(app.screen, WatchScreen), 5)
        await pilot.press("escape")
        await until(
            pilot, lambda: any("did not answer" in n.message for n in app._notifications), 20
        )
        assert _control_free(_screen_text(app).replace("\n", ""))
        await pilot.press("q")
