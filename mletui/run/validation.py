"""Submission checks on request: what MLE-bench's grading server gives its agents, for ours.

The agent appends a request to ``control/validate.jsonl`` (:func:`mletui.protocol.
validate_submission`); this thread of the recorder answers each in ``control/validated.jsonl``
with the task's own submission checks, run as grades are (:func:`mletui.grading.sandbox.
check_safely`: the file opened without following links, from the run's ``submission/`` folder
down, and checked in a child under limits). The answer is "valid", or the first reasons it is not;
never a score, never anything of the held-out answers. Each request checked or refused is a
``validation`` entry in the journal.

Everything about a request is untrusted: a path outside ``submission/`` (absolute, ``..``), a
link, a malformed line are refused with a sentence; a flood is bounded: at most
:data:`CHECKS_PER_MINUTE` checks, :data:`ANSWERS_PER_MINUTE` answers, the rest dropped and counted
in a notice.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mletui import protocol
from mletui.core.records import Validation, decode
from mletui.core.safefs import NotARegularFile, open_for_writing
from mletui.core.words import counted
from mletui.store import controlfiles
from mletui.store.journal import Journal, JournalFollower
from mletui.store.runs import RunFolder

VALIDATION_KIND = "validation"
CHECKS_PER_MINUTE = 12
ANSWERS_PER_MINUTE = 60  # refusals included: what the agent can make mletui write
POLL_S = 0.3
MAX_REASON = 500
MAX_ID = 100
NOTICE_EVERY_S = 10.0  # the count of refused or dropped requests, at most this often
READ_BYTES = 256 << 10  # of requests per poll: a flood is read a slice at a time


@dataclass(frozen=True)
class ValidationSummary:
    """What ``show`` says of a run's submission checks."""

    count: int
    last_valid: bool | None


def summarize_validations(entries: list[dict[str, Any]]) -> ValidationSummary:
    count, last = 0, None
    for entry in entries:
        record = decode(entry)
        if isinstance(record, Validation):
            count += 1
            last = record.valid
    return ValidationSummary(count, last)


def validation_text(record: Validation) -> str:
    """The watch screen's notice line for one submission check."""
    path = (record.path or "")[:200]
    if record.valid:
        return f"submission check: {path} is valid"
    first = record.reasons[0] if record.reasons else "invalid"
    return f"submission check: {path} is invalid: {first}"


class _Window:
    """Events in the last minute, to bound them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.times: deque[float] = deque()

    def take(self) -> bool:
        now = time.monotonic()
        while self.times and now - self.times[0] >= 60.0:
            self.times.popleft()
        if len(self.times) >= self.limit:
            return False
        self.times.append(now)
        return True


class SubmissionValidator:
    """Answers the agent's submission-check requests, one at a time, in a thread of its own."""

    def __init__(self, folder: RunFolder, journal: Journal) -> None:
        self.folder = folder
        self.journal = journal
        self.requests = JournalFollower(
            folder.control / protocol.VALIDATE, require_kind=False, max_line=4096
        )
        self._checks = _Window(CHECKS_PER_MINUTE)
        self._answers = _Window(ANSWERS_PER_MINUTE)
        self._dropped = 0
        self._said_at = -NOTICE_EVERY_S
        self._task: Any = None
        self._task_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        problem = offer_checks(self.folder)
        if problem is not None:
            text = f"submission checks unavailable: the answers file cannot be made ({problem})"
            self.journal.append("notice", {"text": text[:500]})
            return
        self._thread = threading.Thread(target=self._run, name="recorder-validation", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._say_dropped()

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                self.poll()
            except Exception as exc:  # a check must never stop the recording of a run
                text = f"submission checks failed ({type(exc).__name__}: {exc})"[:500]
                self.journal.append("notice", {"text": text})
                self._stop.wait(5.0)

    def poll(self) -> None:
        """Answer the requests that arrived since the last poll."""
        for line in self.requests.read_lines(READ_BYTES):
            if self._stop.is_set():
                return
            if line.problem is not None or not isinstance(line.value, dict):
                self._refuse(None, None, f"not a request ({line.problem or 'not an object'})")
                continue
            self._answer_request(line.value)
        if self._dropped and time.monotonic() - self._said_at >= NOTICE_EVERY_S:
            self._say_dropped()

    def _answer_request(self, request: dict[str, Any]) -> None:
        request_id = request.get("id")
        if not isinstance(request_id, str) or not request_id or len(request_id) > MAX_ID:
            self._refuse(None, None, "a request needs an id (text, at most 100 characters)")
            return
        path = request.get("path")
        relative = _inside_submission(path)
        if relative is None:
            shown = str(path)[:200] if isinstance(path, str) else "?"
            why = "only a file inside submission/ is checked (a relative path, no '..')"
            self._refuse(request_id, shown, why)
            return
        if not self._checks.take():
            why = f"too many submission checks: at most {CHECKS_PER_MINUTE} a minute"
            self._refuse(request_id, relative, why, journal=False)
            return
        reason = self._check(relative)
        valid = reason is None
        reasons = [] if reason is None else [reason[:MAX_REASON]]
        self.journal.write(Validation(0.0, request_id, relative, valid, tuple(reasons)))
        self._write(request_id, valid, reasons)

    def _check(self, relative: str) -> str | None:
        from mletui.grading.sandbox import check_safely

        task = self._load_task()
        if task is None:
            return f"no submission checks here: {self._task_error}"
        submission = self.folder.submission
        return check_safely(task, submission.parent, f"{submission.name}/{relative}")

    def _load_task(self) -> Any:
        from mletui.grading.tasks import TaskError, load_task, resolve_task

        if self._task is None and self._task_error is None:
            record = self.folder.read()
            try:
                try:
                    self._task = load_task(record.task_path)
                except TaskError:
                    self._task = resolve_task(record.task)
            except TaskError as exc:
                self._task_error = str(exc)
            else:
                if not self._task.answers_path.is_file():
                    self._task_error = f"task {self._task.id} has no private answers"
                    self._task = None
        return self._task

    def _refuse(
        self, request_id: str | None, path: str | None, why: str, *, journal: bool = True
    ) -> None:
        """Answer a request with a refusal (and journal it), within the answers' bound."""
        if not self._answers.take():
            self._dropped += 1
            return
        if journal:
            self.journal.write(Validation(0.0, request_id, path, False, (why,), refused=True))
        else:
            self._dropped += 1  # said in one notice, not one entry each
        if request_id is not None:
            self._write(request_id, False, [why])

    def _write(self, request_id: str, valid: bool, reasons: list[str]) -> None:
        answer = {"id": request_id, "valid": valid, "reasons": reasons, "ts": time.time()}
        try:
            controlfiles.append_jsonl(self.folder.control / protocol.VALIDATED, answer)
        except (OSError, NotARegularFile) as exc:  # the agent made it a link; a full disk
            text = f"a submission check's answer was not written ({exc})"[:500]
            self.journal.append("notice", {"text": text})

    def _say_dropped(self) -> None:
        if self._dropped:
            text = (
                f"{counted(self._dropped, 'submission-check request')} refused or dropped: "
                "more than "
                f"{CHECKS_PER_MINUTE} checks a minute, or malformed"
            )
            self.journal.append("notice", {"text": text})
            self._dropped = 0
            self._said_at = time.monotonic()


def offer_checks(folder: RunFolder) -> str | None:
    """Make the answers file, whose presence tells the agent that its requests are answered
    (before the agent starts); why not, or None."""
    try:
        os.close(open_for_writing(folder.control / protocol.VALIDATED, append=True))
    except (OSError, NotARegularFile) as exc:
        return str(exc)
    return None


def _inside_submission(path: object) -> str | None:
    """``path`` as a name relative to the submission folder, or None when it may leave it."""
    if not isinstance(path, str) or not path or len(path) > 1000 or "\x00" in path:
        return None
    pure = PurePosixPath(path)
    if pure.is_absolute() or any(part in ("..", "") for part in pure.parts):
        return None
    parts = [part for part in pure.parts if part != "."]
    return "/".join(parts) if parts else None


def read_answers(control: Path) -> list[dict[str, Any]]:
    """The answers written so far (tests and tools; the agent reads them through the protocol)."""
    return controlfiles.read_jsonl(control / protocol.VALIDATED)
