"""`mletui serve` in a real headless browser (Debian's chromium): the token guards the page,
the page shows the runs overview, and a key press reaches the app."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mletui import protocol
from mletui.store.journal import read_journal
from tests.conftest import free_port, wait_for
from tests.test_oversight import protocol_agent

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TOKEN = "a-test-token-of-enough-length"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def serving() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A real `mletui serve` on a free port: its address, and the process (its output piped)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mletui", "serve", "--port", str(port), "--token", TOKEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"{url}/?token={TOKEN}" in line, line

        def listening() -> bool:  # the address is printed just before the socket is bound
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_for(listening, 30, "the server to listen")
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def server(serving: tuple[str, subprocess.Popen[str]]) -> str:
    return serving[0]


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_missing_or_wrong_token_is_refused(server: str) -> None:
    assert status_of(f"{server}/") == 403
    assert status_of(f"{server}/?token=wrong-token-wrong-token") == 403
    assert status_of(f"{server}/ws") == 403
    assert status_of(f"{server}/?token={TOKEN}") == 200


def test_the_page_shows_the_overview_and_keys_reach_the_app(server: str, home: Path) -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: scripts/test installs Debian's package as root")
        pytest.skip("needs Debian's chromium (scripts/test installs it as root)")
    folder = protocol_agent()
    screen_bytes: list[bytes] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        page.on(
            "websocket",
            lambda ws: ws.on(
                "framereceived",
                lambda payload: screen_bytes.append(
                    payload if isinstance(payload, bytes) else payload.encode()
                ),
            ),
        )
        page.goto(f"{server}/?token={TOKEN}")

        def seen(text: str) -> bool:
            return text.encode() in b"".join(screen_bytes)

        deadline = time.monotonic() + 60
        while not (seen("runs") and seen(folder.id)) and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        assert seen(folder.id), "the runs overview never showed the run"
        page.locator(".xterm-screen").click()
        page.keyboard.press("Enter")  # open the run
        page.wait_for_timeout(1500)
        page.keyboard.press("p")  # soft pause, from the browser
        wait_for(lambda: (folder.control / protocol.PAUSE).exists(), 30, "the pause file")
        page.screenshot(path=os.environ.get("MLETUI_SERVE_SCREENSHOT", str(home / "served.png")))
        browser.close()
    actions = [e for e in read_journal(folder.journal_path).entries if e["kind"] == "action"]
    # The served session drove from its first action, and gave the lock back when it closed.
    assert [(a["action"], a["operator"]) for a in actions][:2] == [
        ("drive", "web"),
        ("pause", "web"),
    ]
