"""Running a solution: a subprocess whose output streams to the agent's own, the end of it kept,
killed with everything it started when it runs past its time-out."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

KEPT_CHARS = 8000  # of a solution's output, kept for the outcome and the next prompts
FROZEN_GAP_S = 1.0  # a longer pause between two looks at a running solution: the run was frozen


@dataclass(frozen=True)
class Execution:
    exit_code: int | None
    output: str
    seconds: float
    timed_out: bool


class OutputTail:
    """The last lines of a solution's output, about ``KEPT_CHARS`` of it, filled by two threads."""

    def __init__(self) -> None:
        self._lines: deque[str] = deque()
        self._size = 0
        self._lock = threading.Lock()

    def add(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)
            self._size += len(line)
            while self._size > KEPT_CHARS and len(self._lines) > 1:
                self._size -= len(self._lines.popleft())

    def text(self) -> str:
        with self._lock:
            return "".join(self._lines)


def run_solution(
    command: list[str], cwd: Path, env: Mapping[str, str], timeout_s: float
) -> Execution:
    """Run a solution, streaming its output to ours; kill it and its children at the time-out.

    It stays in the agent's process group, so freezing or killing the run reaches it. Time
    while the run is frozen does not count against the time-out.
    """
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    tail = OutputTail()

    def relay(pipe: IO[bytes], out: IO[bytes]) -> None:
        for line in iter(pipe.readline, b""):
            out.write(line)
            out.flush()
            tail.add(line.decode("utf-8", errors="replace"))
        pipe.close()

    assert proc.stdout is not None and proc.stderr is not None
    relays = [
        threading.Thread(target=relay, args=(proc.stdout, sys.stdout.buffer), daemon=True),
        threading.Thread(target=relay, args=(proc.stderr, sys.stderr.buffer), daemon=True),
    ]
    for thread in relays:
        thread.start()
    used, last, timed_out = 0.0, time.monotonic(), False
    while proc.poll() is None:
        time.sleep(0.1)
        now = time.monotonic()
        gap, last = now - last, now
        if gap < FROZEN_GAP_S:
            used += gap
        if used >= timeout_s:
            timed_out = True
            kill_tree(proc.pid)
            break
    exit_code = proc.wait()
    for thread in relays:
        thread.join(timeout=5)
    output = tail.text()
    if timed_out:
        output += f"\n[killed by the agent: the script ran past its time-out of {timeout_s:g} s]\n"
    return Execution(
        None if timed_out else exit_code,
        output[-KEPT_CHARS:],
        time.monotonic() - started,
        timed_out,
    )


def kill_tree(pid: int) -> None:
    """SIGKILL a process and everything it started, found before the first one dies."""
    try:
        root = psutil.Process(pid)
        victims = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for victim in victims:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            victim.kill()
