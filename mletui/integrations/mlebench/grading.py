"""Submissions of an MLE-bench run: checked by its container's grading server, graded on the host.

MLE-bench's grading server runs inside the run's container (``0.0.0.0:5000``) and only says
whether a submission is valid: ``POST /validate`` with the file as the multipart field ``file``
answers ``{"result": "Submission is valid."}`` or ``{"result": "Submission invalid! ..."}`` (or
500 with ``{"error", "details"}``). A score needs the competition's private answers: when they are
in MLE-bench's data folder on this machine (``--mlebench-data``, ``$MLEBENCH_DATA``, else
MLE-bench's default ``~/.cache/mle-bench/data``), MLE-bench's own grader (``grade_csv``) scores
the submission in a child process of the Python that has MLE-bench installed
(``$MLEBENCH_PYTHON``, else this one). Each result is a ``grade`` entry in mletui's journal for
the run, so the scores pane shows it, hidden until revealed like any grade.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mletui.core.records import GradeRecord, GradingRecord, JournalNotice, decode
from mletui.core.safefs import NotARegularFile, read_regular
from mletui.grading.sandbox import GradeLimits
from mletui.run.scores import SCORELESS
from mletui.store.journal import Journal, JournalFollower

ENV_DATA = "MLEBENCH_DATA"
ENV_PYTHON = "MLEBENCH_PYTHON"
DEFAULT_DATA = "~/.cache/mle-bench/data"
GRADING_PORT = 5000
SERVER_TIMEOUT_S = 60.0
GRADE_TIMEOUT_S = 900.0
IMPORT_TIMEOUT_S = 120.0
SETTLE_S = 1.0  # a file unchanged this long is taken as written
CHILD = Path(__file__).with_name("grade_child.py")
MARK = "MLETUI-REPORT "
METRIC = "score"
GRADER = "MLE-bench's grader"
SERVER = SCORELESS[0]  # "the container's grading server": valid or not, no score


def data_folder(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """MLE-bench's data folder: ``explicit``, else ``$MLEBENCH_DATA``, else MLE-bench's default
    when it exists; None when there is none."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_DATA)
    if env:
        return Path(env).expanduser()
    default = Path(DEFAULT_DATA).expanduser()
    return default if default.is_dir() else None


@dataclass(frozen=True)
class Verdict:
    """What the grading server said about a submission."""

    valid: bool | None  # None: it did not answer, or failed
    text: str


def ask_grading_server(
    host: str, data: bytes, *, port: int | None = None, timeout: float = SERVER_TIMEOUT_S
) -> Verdict:
    """``POST /validate`` the submission's bytes to the grading server at ``host``."""
    port = GRADING_PORT if port is None else port
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="submission.csv"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"http://{host}:{port}/validate",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            details = json.loads(exc.read()).get("details") or exc.reason
        except (ValueError, AttributeError, OSError):
            details = exc.reason
        return Verdict(None, f"the grading server failed ({exc.code}): {_one_line(details)}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Verdict(None, f"the grading server did not answer ({_one_line(reason)})")
    result = _one_line(payload.get("result", "") if isinstance(payload, dict) else "")
    return Verdict(result.startswith("Submission is valid"), result or "no result")


def _one_line(value: object, limit: int = 300) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class GradingFailure(Exception):
    """MLE-bench's grader could not grade (not installed, data not prepared, it crashed)."""


class HostGrader:
    """MLE-bench's own grader, run on this machine with the competition's private answers."""

    def __init__(
        self, data_dir: Path | None, python: str | None = None, workdir: Path | None = None
    ) -> None:
        """``workdir``: the grader's working folder (default: one in mletui's home); importing
        MLE-bench makes a ``cache/`` folder in it, never where mletui was started."""
        self.data_dir = None if data_dir is None else data_dir.resolve()
        self.python = python or os.environ.get(ENV_PYTHON) or sys.executable
        self.workdir = workdir
        self._importable: bool | None = None

    def _cwd(self) -> str:
        from mletui.store.runs import mletui_home

        folder = self.workdir or mletui_home() / "mlebench" / "grader"
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder)

    def private_dir(self, competition: str) -> Path | None:
        if self.data_dir is None:
            return None
        return self.data_dir / competition / "prepared" / "private"

    def availability(self, competition: str) -> tuple[bool, str]:
        """Whether a submission can be scored here, and the sentence that says why (not)."""
        private = self.private_dir(competition)
        if private is None:
            return False, (
                "no MLE-bench data folder (--mlebench-data or $MLEBENCH_DATA): "
                f"{SERVER} checks validity only"
            )
        if not private.is_dir():
            return False, f"no private answers at {private}: {SERVER} checks validity only"
        if not self._can_import():
            return False, (
                f"MLE-bench cannot be imported by {self.python} (set $MLEBENCH_PYTHON): "
                f"{SERVER} checks validity only"
            )
        return True, f"scored on this machine by {GRADER} (answers in {private})"

    def _can_import(self) -> bool:
        if self._importable is None:
            try:
                done = subprocess.run(
                    [self.python, "-c", "import mlebench.grade, mlebench.registry"],
                    capture_output=True,
                    cwd=self._cwd(),
                    timeout=IMPORT_TIMEOUT_S,
                    stdin=subprocess.DEVNULL,
                )
                self._importable = done.returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                self._importable = False
        return self._importable

    def grade(self, competition: str, submission: Path) -> dict[str, Any]:
        """MLE-bench's ``CompetitionReport`` of ``submission``, as its ``to_dict()``."""
        assert self.data_dir is not None
        command = [
            self.python,
            str(CHILD),
            str(submission.resolve()),
            competition,
            str(self.data_dir),
        ]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                cwd=self._cwd(),
                text=True,
                timeout=GRADE_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise GradingFailure(f"{GRADER} took over {GRADE_TIMEOUT_S:.0f} s") from exc
        except OSError as exc:
            raise GradingFailure(f"{GRADER} could not start ({exc})") from exc
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith(MARK)]
        try:
            answer = json.loads(lines[-1][len(MARK) :])
        except (IndexError, ValueError) as exc:
            tail = _one_line(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "")
            said = f"exit {done.returncode}; {tail}"
            raise GradingFailure(f"{GRADER} gave no report ({said})") from exc
        if "error" in answer:
            raise GradingFailure(f"{GRADER} failed: {_one_line(answer['error'])}")
        report = answer.get("report")
        if not isinstance(report, dict):
            raise GradingFailure(f"{GRADER} gave no report")
        return report


def medal_of(report: dict[str, Any]) -> str | None:
    for medal in ("gold", "silver", "bronze"):
        if report.get(f"{medal}_medal"):
            return medal
    return None


class SubmissionChecker:
    """Every new version of a run's ``submission.csv`` files, checked once each (by content):
    by the grading server while the container answers, and scored by MLE-bench's grader when
    the private answers are here. Work happens in a thread of its own; results are journaled."""

    def __init__(
        self,
        journal_path: Path,
        competition: str,
        grader: HostGrader,
        server: Callable[[], str | None],
    ) -> None:
        """``server``: the grading server's address now (None: not reachable, e.g. the run has
        ended or its container is frozen)."""
        self.journal = Journal(journal_path)
        self.competition = competition
        self.grader = grader
        self.server = server
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="mlebench-grade")
        self._lock = threading.Lock()
        self._signatures: dict[Path, tuple[int, int]] = {}
        self._changed_at: dict[Path, float] = {}
        self._done: set[tuple[Path, tuple[int, int]]] = set()
        self._shas: set[str] = set()
        self._count = 0
        self._available: bool | None = None
        self._said: set[str] = set()
        entries, _skipped = JournalFollower(journal_path).read_new()
        for record in map(decode, entries):
            if isinstance(record, GradeRecord):
                self._count = max(self._count, record.submission)
                self._shas.add(record.sha256 or "")
            elif isinstance(record, GradingRecord):
                self._available = record.available
        self._pool.submit(self._announce)

    def check(self, files: list[tuple[str, Path]]) -> None:
        """Look at ``files`` (label, path) now; queue the new, settled versions for checking."""
        now = time.monotonic()
        for label, path in files:
            try:
                st = path.stat()
            except OSError:
                continue
            signature = (st.st_mtime_ns, st.st_size)
            if self._signatures.get(path) != signature:
                self._signatures[path] = signature
                self._changed_at[path] = now
                continue
            if (path, signature) in self._done or now - self._changed_at[path] < SETTLE_S:
                continue
            self._done.add((path, signature))
            try:
                # Not followed if the agent made it a link; never more than the grader's memory.
                data = read_regular(path, GradeLimits.from_env().memory_mb << 20)
            except (NotARegularFile, ValueError) as exc:
                self._say_once(f"{label} not checked: {exc}")
                continue
            except OSError:
                continue
            self._pool.submit(self._check_one, label, data, st.st_mtime)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _announce(self) -> None:
        available, note = self.grader.availability(self.competition)
        if available == self._available:
            return
        with self._lock:
            self._available = available
            # Scored here when available; else validity at most.
            grader = GRADER if available else SERVER
            self.journal.write(GradingRecord(0.0, METRIC, "higher", available, note, grader))

    def _check_one(self, label: str, data: bytes, mtime: float) -> None:
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            if digest in self._shas:
                return
            self._shas.add(digest)
            self._count += 1
            number = self._count
        entry = GradeRecord(
            0.0,
            submission=number,
            path=label,
            submission_ts=mtime,
            size=len(data),
            sha256=digest,
            snapshot_seq=None,
            valid=False,
            score=None,
            reason=None,
            metric=METRIC,
            direction="higher",
            medal=None,
            above_median=False,
        )
        host = self.server()
        verdict = ask_grading_server(host, data) if host else None
        if verdict is not None:
            entry = replace(entry, server={"valid": verdict.valid, "text": verdict.text})
        report, error = self._score(data)
        entry = replace(entry, grader_error=error)
        if report is not None:
            score = report.get("score")
            valid = bool(report.get("valid_submission")) and score is not None
            reason = None
            if not valid:
                reason = (
                    verdict.text if verdict and verdict.valid is False else f"{GRADER}: no score"
                )
            entry = replace(
                entry,
                valid=valid,
                score=score,
                reason=reason,
                checked_by=GRADER,
                direction="lower" if report.get("is_lower_better") else "higher",
                medal=medal_of(report),
                above_median=bool(report.get("above_median")),
                report=report,
            )
            self._thresholds(report)
        elif verdict is not None and verdict.valid is not None:
            reason = None if verdict.valid else verdict.text
            entry = replace(entry, valid=verdict.valid, reason=reason, checked_by=SERVER)
        else:  # nothing could check it: no row; checked if it changes again
            with self._lock:
                self._shas.discard(digest)
                self._count -= 1
            if verdict is not None:  # why, once: "the grading server failed ..."
                self._say_once(f"{label} not checked: {verdict.text}")
            return
        with self._lock:
            self.journal.write(entry)

    def _say_once(self, text: str) -> None:
        with self._lock:
            if text not in self._said:
                self._said.add(text)
                self.journal.write(JournalNotice(0.0, text))

    def _score(self, data: bytes) -> tuple[dict[str, Any] | None, str | None]:
        """MLE-bench's report of a submission, or None; and why the grader failed, if it did."""
        available, _note = self.grader.availability(self.competition)
        if not available:
            return None, None
        import tempfile

        with tempfile.TemporaryDirectory(prefix="mletui-mlebench-") as tmp:
            copy = Path(tmp) / "submission.csv"
            copy.write_bytes(data)
            try:
                return self.grader.grade(self.competition, copy), None
            except GradingFailure as exc:
                return None, str(exc)

    def _thresholds(self, report: dict[str, Any]) -> None:
        note = self.grader.availability(self.competition)[1]
        with self._lock:
            self.journal.write(thresholds_record(report, note))


def thresholds_record(report: dict[str, Any], note: str) -> GradingRecord:
    """The medal lines of MLE-bench's ``report``, as a ``grading`` entry (``note``: who scored)."""
    thresholds = {
        name: report.get(f"{name}_threshold") for name in ("gold", "silver", "bronze", "median")
    }
    direction = "lower" if report.get("is_lower_better") else "higher"
    return GradingRecord(0.0, METRIC, direction, True, note, GRADER, thresholds=thresholds)
