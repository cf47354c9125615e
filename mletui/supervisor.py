"""The supervisor of a local run: ``python -m mletui.supervisor RUN_DIR``.

Started detached by the local runtime, it outlives the TUI and the command that started it. It
starts the agent in a process group of its own, timestamps every output line into the log spool,
runs the recorder, counts active time (paused and frozen time excluded), enforces the time limit,
carries out kill requests (SIGTERM to the supervisor), and records how the run ended.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO

import psutil

from mletui import protocol
from mletui.collectors.logs import LineSplitter, LogSpool
from mletui.events import Stream
from mletui.journal import Journal
from mletui.recorder import Recorder
from mletui.runtimes.local import KILL_REQUEST, is_stopped, spawn_agent, terminate_group
from mletui.store import RunFolder

TICK_S = 0.2
DEFAULT_GRACE_S = 10.0


def soft_paused(control: Path) -> bool:
    """True while a soft pause is requested and the agent has acknowledged it."""
    if not (control / protocol.PAUSE).exists():
        return False
    acks = [a for a in protocol.read_jsonl(control / protocol.ACKS) if a.get("kind") == "pause"]
    return bool(acks) and acks[-1].get("status") == "paused"


class Supervisor:
    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        self.journal = Journal(folder.journal_path)
        self.spool = LogSpool(folder.log_path)
        self.spool_lock = threading.Lock()
        self.kill_requested = threading.Event()

    def note(self, text: str) -> None:
        """A line of mletui's own in the log, marked as such."""
        with self.spool_lock:
            self.spool.write(Stream.SYSTEM, f"[mletui] {text}".encode())

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self.kill_requested.set())
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        me = psutil.Process()
        with self.folder.updating() as record:
            record.supervisor_pid = me.pid
            record.supervisor_started = me.create_time()
            record.state = "starting"
        record = self.folder.read()
        env = {**os.environ, **record.env}
        try:
            proc = spawn_agent(record.command, str(self.folder.workspace), env)
        except OSError as exc:
            self.note(f"could not start the agent: {exc}")
            self._finish("exited", 127, f"could not start: {exc}")
            return 1
        started = time.time()
        with self.folder.updating() as record:
            record.agent_pid = proc.pid
            record.started = started
            record.state = "running"
            record.heartbeat = started
        self.journal.append("state", {"state": "running", "pid": proc.pid})
        command = " ".join(record.command).splitlines()[0]
        self.note(f"agent started: pid {proc.pid}, command {command[:200]}")

        pumps = [
            threading.Thread(target=self._pump, args=(pipe, stream), daemon=True)
            for pipe, stream in ((proc.stdout, Stream.STDOUT), (proc.stderr, Stream.STDERR))
        ]
        for pump in pumps:
            pump.start()
        recorder = Recorder(self.folder, self.journal, proc.pid)
        recorder.start()

        limit = record.time_limit_s
        active = 0.0
        last = time.monotonic()
        reason: str | None = None
        while proc.poll() is None:
            time.sleep(TICK_S)
            now = time.monotonic()
            if not (is_stopped(proc.pid) or soft_paused(self.folder.control)):
                active += now - last
            last = now
            with self.spool_lock:
                self.spool.flush()
            with self.folder.updating() as rec:
                rec.active_s = round(active, 2)
                rec.heartbeat = time.time()
            if self.kill_requested.is_set():
                reason, grace = self._kill_request()
            elif limit is not None and active >= limit:
                reason, grace = "time limit", DEFAULT_GRACE_S
                self.note(f"time limit of {limit:.0f} s of active time reached: stopping the agent")
            if reason is not None:
                self.journal.append("state", {"state": "stopping", "reason": reason})
                escalated = terminate_group(proc.pid, grace)
                if escalated:
                    self.note(f"the agent ignored SIGTERM for {grace:.0f} s: sent SIGKILL")
                break
        exit_code = proc.wait()
        # Whatever the agent left behind in its group goes with it, so the pipes close.
        terminate_group(proc.pid, 2.0)
        for pump in pumps:
            pump.join(timeout=5)
        recorder.stop()
        with self.folder.updating() as rec:
            rec.active_s = round(active, 2)
        self._finish("killed" if reason else "exited", exit_code, reason)
        return 0

    def _kill_request(self) -> tuple[str, float]:
        try:
            request = json.loads((self.folder.path / KILL_REQUEST).read_text(encoding="utf-8"))
            return str(request.get("reason", "operator")), float(request.get("grace_s", 10.0))
        except (OSError, ValueError):
            return "operator", DEFAULT_GRACE_S

    def _pump(self, pipe: IO[bytes] | None, stream: Stream) -> None:
        if pipe is None:
            return
        splitter = LineSplitter()
        fd = pipe.fileno()
        while chunk := os.read(fd, 1 << 16):
            lines = splitter.feed(chunk)
            if lines:
                now = time.time()
                with self.spool_lock:
                    for line in lines:
                        self.spool.write(stream, line, now)
        for rest in splitter.flush():
            with self.spool_lock:
                self.spool.write(stream, rest)

    def _finish(self, state: str, exit_code: int, reason: str | None) -> None:
        detail = f"killed by signal {-exit_code}" if exit_code < 0 else f"exit code {exit_code}"
        self.note(f"agent {state}: {detail}" + (f" ({reason})" if reason else ""))
        with self.spool_lock:
            self.spool.flush()
            self.spool.close()
        ended = time.time()
        with self.folder.updating() as rec:
            rec.state = state
            rec.exit_code = exit_code
            rec.end_reason = reason or "exited"
            rec.ended = ended
            rec.heartbeat = ended
        self.journal.append("state", {"state": state, "exit_code": exit_code, "reason": reason})


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mletui.supervisor RUN_DIR", file=sys.stderr)
        return 2
    folder = RunFolder(Path(args[0]))
    try:
        return Supervisor(folder).run()
    except Exception as exc:
        # Never leave a run marked as running when its supervisor is gone.
        with folder.updating() as rec:
            if rec.state not in ("exited", "killed"):
                rec.state = "exited"
                rec.end_reason = f"supervisor error: {exc}"
                rec.ended = time.time()
        raise


if __name__ == "__main__":
    sys.exit(main())
