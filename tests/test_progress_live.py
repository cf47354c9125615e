"""A progress bar rewritten with ``\\r`` shows as the log pane's live last row while it runs, and
collapses into one line, before the line printed after it, once it ends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mletui.cli import main
from mletui.core.events import Stream
from mletui.runtimes.local import pump
from mletui.tui.app import MletuiApp
from mletui.tui.widgets.log_view import LogView
from tests.conftest import until
from tests.hostile.test_hostile_recorder import start

# tqdm's way: the bar on stderr, redrawn after \r, a newline when it closes; then the script
# prints on stdout. It holds at 50% until the test lets it go on.
AGENT = r"""
import os, sys, time
print("start", flush=True)
for i in range(0, 101, 10):
    sys.stderr.write(f"\rtrain: {i:3d}%|\x1b[32m" + "#" * (i // 10) + "\x1b[0m|")
    sys.stderr.flush()
    while i == 50 and not os.path.exists("go"):
        time.sleep(0.05)
    time.sleep(0.05)
sys.stderr.write("\n")
sys.stderr.flush()
print("epoch done", flush=True)
time.sleep(60)
"""


def test_pump_hands_the_live_line_on_and_keeps_the_order(tmp_path: Path) -> None:
    (tmp_path / "go").write_text("")
    proc = subprocess.Popen(
        [sys.executable, "-c", AGENT.replace("time.sleep(60)", "")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    emitted: list[tuple[Stream, bytes]] = []
    live: list[tuple[Stream, bytes]] = []
    pump(
        [(proc.stdout, Stream.STDOUT), (proc.stderr, Stream.STDERR)],
        lambda stream, lines, ts: emitted.extend((stream, line) for line in lines),
        lambda stream, raw, ts: live.append((stream, raw)),
    )
    proc.wait()
    assert [line.rsplit(b"\r", 1)[-1] for _, line in emitted] == [
        b"start",
        b"train: 100%|\x1b[32m##########\x1b[0m|",
        b"epoch done",
    ]
    assert emitted[1][0] is Stream.STDERR
    bars = [raw for stream, raw in live if stream is Stream.STDERR]
    assert bars[0].startswith(b"\rtrain:")
    assert live[-1] == (Stream.STDERR, b"")  # finished: no live line left


async def test_the_bar_moves_live_then_collapses_before_the_next_line(tmp_path: Path) -> None:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    folder = start(f"{sys.executable} {script}")
    app = MletuiApp(run_id=folder.id)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            view = app.screen.query_one(LogView)

            def shown() -> list[str]:  # the rows' text, after the stderr bar's column
                height = view.scrollable_content_region.height
                rows = [view.text_at(y).rstrip() for y in range(height)]
                assert all(row[:1] in ("", " ", "▌") for row in rows), rows
                return [row[1:] for row in rows]

            await until(pilot, lambda: "train:  50%|#####|" in shown(), 30)
            assert view.live_line is not None and view.live_line.stream is Stream.STDERR
            assert view.live_line.styles and view.live_line.styles[0][2].fg == 2
            rows = [row for row in shown() if row]
            assert rows[-1] == "train:  50%|#####|"  # the last row, after "start"
            assert "start" in rows[-2]
            (folder.workspace / "go").write_text("")
            await until(pilot, lambda: "epoch done" in shown() and view.live_line is None, 30)
            rows = [row for row in shown() if row]
            bar = rows.index("train: 100%|##########|")
            assert rows[bar + 1] == "epoch done"
            assert not any("50%" in row for row in rows)  # collapsed to its last state
    finally:
        assert main(["kill", folder.id, "--yes", "--grace", "1"]) == 0
