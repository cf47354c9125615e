"""Hostile output: what an agent names, logs and writes reaches an export as plain text (never a
formula, never a control sequence) and every pane as inert text; ``serve`` talks only to its
own page and never logs its token."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mletui.cli import main
from mletui.core.sanitize import FORMAT_CHARS
from mletui.store.runs import RunFolder
from mletui.tui.app import MletuiApp
from tests.conftest import until, wait_ended, wait_for
from tests.hostile.test_hostile_recorder import score_names, start
from tests.test_serve import TOKEN, serving, status_of

__all__ = ["serving"]  # a fixture

FORMULA = '=HYPERLINK("http://x","y")'
RETITLE = "\x1b]0;pwned\x07"
# Every kind of invisible or reordering character a pane or an export must not pass on raw.
BIDI = "\u202e\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d\u200b\u200c\u200d\u200e\u200f"
INVISIBLE = BIDI + "\ufeff\u061c\u2060\u00ad\U000e0041"


def _agent(tmp_path: Path, body: str) -> RunFolder:
    """A run of a hostile Python agent (``body``, with ``control`` its control folder)."""
    script = tmp_path / "agent.py"
    script.write_text(
        "import json, os, pathlib\n"
        "control = pathlib.Path(os.environ['MLETUI_CONTROL_DIR'])\n"
        "def metric(step, name, value):\n"
        "    with open(control / 'metrics.jsonl', 'a') as f:\n"
        "        f.write(json.dumps({'step': step, 'name': name, 'value': value}) + '\\n')\n" + body
    )
    return start(f"{sys.executable} {script}")


# --- exports ----------------------------------------------------------------------------------

EXPORT_NAMES = [
    FORMULA,
    f"{RETITLE}loss",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,1)",
    "\t=1+1",
    "\r=1+1",
    f"acc\u202eyrtnev{INVISIBLE}\x9b31m\x00\x7f",
]


def _control_free(text: str) -> bool:
    """No C0 control but the line end, no DEL or C1, no format character."""
    bad = re.compile(rf"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029{FORMAT_CHARS}]")
    return bad.search(text) is None


def test_an_export_holds_no_formula_and_no_control_character(tmp_path: Path) -> None:
    body = "".join(f"metric({i}, {name!r}, 0.{i})\n" for i, name in enumerate(EXPORT_NAMES, 1))
    folder = _agent(tmp_path, body + "import time; time.sleep(1)\n")
    wait_ended(folder, 60)
    wait_for(lambda: len(score_names(folder)) == len(EXPORT_NAMES), 10, "every metric")

    assert main(["export", folder.id, "--format", "csv", "--out", str(tmp_path / "csv")]) == 0
    raw = (tmp_path / "csv" / "scores.csv").read_bytes().decode()
    assert _control_free(raw), repr(raw)
    with (tmp_path / "csv" / "scores.csv").open(newline="", encoding="utf-8") as f:
        names = [row["name"] for row in csv.DictReader(f)]
    assert names == [
        "'" + FORMULA,
        "]0;pwnedloss",
        "'+cmd|' /C calc'!A0",
        "'-2+3",
        "'@SUM(1,1)",
        "'=1+1",
        "'=1+1",
        "accyrtnev31m",
    ]
    runs = (tmp_path / "csv" / "runs.csv").read_bytes().decode()
    assert _control_free(runs)

    assert main(["export", folder.id, "--format", "json", "--out", str(tmp_path / "json")]) == 0
    text = (tmp_path / "json" / "scores.json").read_text(encoding="utf-8")
    names = [row["name"] for row in json.loads(text)]
    assert names == [
        FORMULA,  # JSON is no spreadsheet: only control characters go
        "]0;pwnedloss",
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1,1)",
        "=1+1",
        "=1+1",
        "accyrtnev31m",
    ]
    assert _control_free("".join(names))


# --- the screen -------------------------------------------------------------------------------

HIDING = "\u202e\u2066\u200b\ufeff\U000e0041"  # an override, an isolate, zero-width, a BOM, a tag
SHOWN = "<U+202E><U+2066><U+200B><U+FEFF><U+E0041>"

# Puts HIDING in every field the watch screen shows: its name (header), a log line, a file name
# and its content (code pane), a metric name (scores), its model (budget line), a notice (a
# notification), the answer to a hint (hints pane); then waits for hints.
EVERYWHERE = f"""
import json, os, pathlib, time
control = pathlib.Path(os.environ["MLETUI_CONTROL_DIR"])
work = pathlib.Path(os.environ["MLETUI_WORKSPACE"])
BAD = {HIDING!r}
def add(name, record):
    with open(control / name, "a") as f:
        f.write(json.dumps({{**record, "ts": time.time()}}) + "\\n")
(control / "hello.json").write_text(json.dumps({{"protocol": 1, "agent": "agent" + BAD,
    "capabilities": ["pause", "hints", "metrics", "events"]}}))
print("log" + BAD + "line", flush=True)
(work / ("evil" + BAD + "yp.txt")).write_text("content" + BAD + "here\\n")
add("metrics.jsonl", {{"step": 1, "name": "acc" + BAD, "value": 0.5, "direction": "higher"}})
add("events.jsonl", {{"kind": "budget", "max_cost": 5.0, "max_steps": 10, "model": "gpt" + BAD}})
add("events.jsonl", {{"kind": "usage", "tokens_in": 10, "tokens_out": 5, "cost": 0.01,
    "model": "gpt" + BAD}})
seen = set()
while True:
    hints = control / "hints.jsonl"
    for line in hints.read_text().splitlines() if hints.exists() else []:
        hint = json.loads(line)
        if hint["id"] not in seen:
            seen.add(hint["id"])
            add("acks.jsonl", {{"id": hint["id"], "kind": "hint", "status": "used",
                "message": "ack" + BAD + "msg"}})
            add("events.jsonl", {{"kind": "notice", "text": "notice" + BAD + "text"}})
    time.sleep(0.1)
"""


def _screen_text(app: MletuiApp) -> str:
    """Every cell of the screen as the terminal gets it, notifications included."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_no_pane_notification_or_command_shows_a_format_character_raw(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "agent.py"
    script.write_text(EVERYWHERE)
    folder = start(f"{sys.executable} {script}")
    wanted = {f"{word}{SHOWN}" for word in ("agent", "log", "evil", "content", "acc", "gpt")}
    wanted |= {f"notice{SHOWN}text", f"ack{SHOWN}msg"}
    seen: set[str] = set()

    def look() -> bool:
        text = _screen_text(app)
        assert _control_free(text.replace("\n", "")), [
            c for c in text if not c.isprintable() and c != "\n"
        ]
        seen.update(w for w in wanted if w[:12] in text)  # the header cuts the name's tail
        return seen == wanted

    app = MletuiApp(run_id=folder.id)
    try:
        async with app.run_test(size=(200, 50), notifications=True) as pilot:
            try:
                await until(pilot, lambda: look() or len(seen) == len(wanted) - 2, 30)
            except AssertionError:
                raise AssertionError(f"never on screen: {sorted(wanted - seen)}") from None
            assert main(["hint", folder.id, "more trees"]) == 0
            await until(pilot, look, 30)
        capsys.readouterr()
        assert main(["show", folder.id]) == 0
        assert main(["ls"]) == 0
        out = capsys.readouterr().out
        assert _control_free(out.replace("\n", "")), out
        assert f"acc{SHOWN}" in out  # show's best validation names the metric
    finally:
        assert main(["kill", folder.id, "--yes", "--grace", "1"]) == 0


def test_ls_shows_markup_in_a_rewritten_run_json_as_text(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent with the operator's rights can rewrite run.json: its task name is shown as
    the characters it holds, never rendered as rich markup."""
    from mletui.store.runs import create_run_folder, make_record

    create_run_folder(make_record("[bold red]digits[/]", "/tmp/d", "cmd", ["true"], "local", 60))
    monkeypatch.setenv("COLUMNS", "200")
    capsys.readouterr()
    assert main(["ls"]) == 0
    assert "[bold red]digits[/]" in capsys.readouterr().out


# --- serve ------------------------------------------------------------------------------------


async def _websocket_status(url: str, origin: str | None, referer: str | None = None) -> int:
    """The status a websocket handshake to ``url`` gets (101 when it is taken)."""
    import aiohttp

    headers = {"Origin": origin} if origin else {}
    if referer:
        headers["Referer"] = referer
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url, headers=headers) as ws:
                await ws.close()
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


async def test_serve_takes_websockets_only_from_its_own_page_and_never_logs_the_token(
    serving: tuple[str, subprocess.Popen[str]],
) -> None:
    url, proc = serving
    ws = "ws" + url.removeprefix("http") + f"/ws?token={TOKEN}"
    page = f"{url}/?token={TOKEN}"

    assert await _websocket_status(ws, "http://evil.example", page) == 403
    assert await _websocket_status(ws, f"{url}.evil.example", page) == 403
    assert await _websocket_status(ws, None) == 403
    assert status_of(page) == 200
    assert status_of(f"{url}/?token=wrong-token-wrong-token") == 403
    assert await _websocket_status(ws, url, page) == 101

    proc.terminate()
    output, _ = proc.communicate(timeout=20)
    access = [line for line in output.splitlines() if '"GET /' in line]
    assert len(access) >= 6, output
    assert not [line for line in access if TOKEN in line or "wrong-token" in line], output
    assert sum("/?token=[redacted]" in line for line in access) >= 2
    assert output.count(TOKEN) == 0  # the address with it was the first line, read already
