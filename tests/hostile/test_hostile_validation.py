"""Hostile agents against the submission checks (``mletui.protocol.validate_submission``): one
that floods requests, one that asks about files outside ``submission/`` or a link to the private
answers, one whose requests are malformed. Each agent is a real shell script run by mletui; each
test asserts that every request was refused or bounded with a notice, and that no answer carries
a score or a row of the answers."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from mletui import protocol
from mletui.cli import main
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.run.validation import ANSWERS_PER_MINUTE, CHECKS_PER_MINUTE, VALIDATION_KIND
from mletui.store.journal import read_journal
from mletui.store.runs import RunFolder
from mletui.watch.control import RunControl
from tests.conftest import wait_ended, wait_for

PY = sys.executable


def answers(folder: RunFolder) -> list[dict[str, Any]]:
    return protocol.read_jsonl(folder.control / protocol.VALIDATED)


def entries(folder: RunFolder, kind: str) -> list[dict[str, Any]]:
    return [e for e in read_journal(folder.journal_path).entries if e["kind"] == kind]


def assert_nothing_leaks(folder: RunFolder) -> None:
    """No answer holds a score or a row of the private answers."""
    rows = resolve_task("digits").answers_path.read_text().splitlines()[1:]
    for answer in answers(folder):
        assert set(answer) == {"id", "valid", "reasons", "ts"}
        assert isinstance(answer["valid"], bool)
        text = " ".join(answer["reasons"])
        assert "score" not in text.lower() and "accuracy of" not in text
        assert not any(row in text for row in rows if len(row) > 3)


def kill(folder: RunFolder) -> None:
    RunControl(folder, "test").kill()
    wait_ended(folder)


FLOOD_AGENT = rf"""
cp "$MLETUI_DATA_DIR/sample_submission.csv" "$MLETUI_SUBMISSION_DIR/submission.csv"
printf 'id,label\n1,2\n' > "$MLETUI_SUBMISSION_DIR/bad.csv"
out="$MLETUI_WORKSPACE/first.txt"
{PY} -m mletui.protocol validate > "$out"; echo "exit $?" >> "$out"
{PY} -m mletui.protocol validate "$MLETUI_SUBMISSION_DIR/bad.csv" > "$MLETUI_WORKSPACE/bad.txt"
{PY} -c '
import json, os, sys
with open(os.path.join(os.environ["MLETUI_CONTROL_DIR"], "validate.jsonl"), "a") as f:
    for i in range(3000):
        f.write(json.dumps({{"id": f"flood-{{i}}", "path": "submission.csv"}}) + "\n")
'
sleep 90
"""


def test_a_flood_of_requests_is_bounded_and_answers_say_only_valid_or_why() -> None:
    folder = start_run(resolve_task("digits"), agent_cmd=FLOOD_AGENT, time_limit_s=180)
    first = folder.workspace / "first.txt"
    wait_for(lambda: "exit" in (first.read_text() if first.exists() else ""), 60, "a check")
    assert first.read_text() == "Submission is valid.\nexit 0\n"
    bad = folder.workspace / "bad.txt"
    wait_for(lambda: bad.exists() and bad.read_text(), 60, "the second check")
    assert bad.read_text().startswith("Submission invalid! ")

    wait_for(
        lambda: any("submission-check request" in e["text"] for e in entries(folder, "notice")),
        60,
        "the notice that counts the refused requests",
    )
    checked = [e for e in entries(folder, VALIDATION_KIND) if not e.get("refused")]
    assert 2 <= len(checked) <= CHECKS_PER_MINUTE
    assert len(answers(folder)) <= CHECKS_PER_MINUTE + ANSWERS_PER_MINUTE
    refused = [a for a in answers(folder) if a["id"].startswith("flood-") and not a["valid"]]
    assert refused and "too many submission checks" in refused[-1]["reasons"][0]
    assert_nothing_leaks(folder)

    # Counted in show, and each check is a line in the watch screen's notices.
    assert main(["show", folder.id]) == 0
    kill(folder)


OUTSIDE_AGENT = r"""
c="$MLETUI_CONTROL_DIR/validate.jsonl"
ln -s "$MLETUI_DATA_DIR/../private/answers.csv" "$MLETUI_SUBMISSION_DIR/answers.csv"
echo '{"id": "up", "path": "../private/answers.csv"}' >> "$c"
echo '{"id": "abs", "path": "'"$MLETUI_DATA_DIR"'/../private/answers.csv"}' >> "$c"
echo '{"id": "link", "path": "answers.csv"}' >> "$c"
echo '{"id": "dot", "path": "./../submission/../../x.csv"}' >> "$c"
echo 'not json at all' >> "$c"
echo '{"path": "submission.csv"}' >> "$c"
echo '{"id": 5, "path": ["a"]}' >> "$c"
echo '[1, 2, 3]' >> "$c"
sleep 90
"""


def test_requests_outside_submission_or_at_a_link_or_malformed_are_refused(
    capsys: Any,
) -> None:
    folder = start_run(resolve_task("digits"), agent_cmd=OUTSIDE_AGENT, time_limit_s=180)
    wait_for(lambda: len(entries(folder, VALIDATION_KIND)) >= 8, 60, "every request answered")
    by_id = {a["id"]: a for a in answers(folder)}
    assert set(by_id) == {"up", "abs", "link", "dot"}  # a request without an id has no answer
    for request in ("up", "abs", "dot"):
        assert not by_id[request]["valid"]
        assert "only a file inside submission/ is checked" in by_id[request]["reasons"][0]
    assert by_id["link"]["reasons"] == [
        "The submission answers.csv is a symbolic link, not a regular file; only a regular file "
        "inside submission/ is graded."
    ]
    journaled = entries(folder, VALIDATION_KIND)
    assert len(journaled) == 8 and not any(e["valid"] for e in journaled)
    assert sum("not a request" in e["reasons"][0] for e in journaled) == 2
    assert sum("needs an id" in e["reasons"][0] for e in journaled) == 2
    assert_nothing_leaks(folder)

    assert main(["show", folder.id]) == 0
    assert re.search(r"^submission checks +8 \(last: invalid\)$", capsys.readouterr().out, re.M)
    kill(folder)


def test_the_answers_file_made_a_link_is_not_written_through(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.jsonl"
    target.write_text("")
    agent = rf"""
ln -sf "{target}" "$MLETUI_CONTROL_DIR/validated.jsonl"
cp "$MLETUI_DATA_DIR/sample_submission.csv" "$MLETUI_SUBMISSION_DIR/submission.csv"
echo '{{"id": "x", "path": "submission.csv"}}' >> "$MLETUI_CONTROL_DIR/validate.jsonl"
sleep 90
"""
    folder = start_run(resolve_task("digits"), agent_cmd=agent, time_limit_s=180)
    # Whether the link came before the recorder started or after, nothing goes through it.
    said = ("answer was not written", "submission checks unavailable")
    wait_for(
        lambda: any(s in e["text"] for e in entries(folder, "notice") for s in said),
        60,
        "the notice",
    )
    assert target.read_text() == ""
    assert all(e["valid"] for e in entries(folder, VALIDATION_KIND))
    kill(folder)
