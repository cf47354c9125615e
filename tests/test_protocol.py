from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from mletui import protocol
from mletui.protocol import Control


def test_hello_is_written_atomically(tmp_path: Path) -> None:
    Control(tmp_path).hello("my-agent", ("hints",))
    hello = json.loads((tmp_path / protocol.HELLO).read_text())
    assert hello["agent"] == "my-agent"
    assert hello["capabilities"] == ["hints"]
    assert hello["protocol"] == protocol.PROTOCOL_VERSION


def test_checkpoint_blocks_while_paused_and_acks(tmp_path: Path) -> None:
    control = Control(tmp_path, poll_interval=0.02)
    (tmp_path / protocol.PAUSE).write_text("")
    threading.Timer(0.4, lambda: (tmp_path / protocol.PAUSE).unlink()).start()
    started = time.monotonic()
    assert control.checkpoint() == []
    assert time.monotonic() - started >= 0.35
    acks = protocol.read_jsonl(tmp_path / protocol.ACKS)
    assert [(a["kind"], a["status"]) for a in acks] == [("pause", "paused"), ("pause", "resumed")]


def test_hints_are_delivered_once_even_across_processes(tmp_path: Path) -> None:
    protocol.append_jsonl(tmp_path / protocol.HINTS, {"id": "h1", "text": "more trees", "ts": 1.0})
    first = Control(tmp_path)
    hints = first.checkpoint()
    assert [(h.id, h.text) for h in hints] == [("h1", "more trees")]
    assert first.checkpoint() == []
    assert Control(tmp_path).checkpoint() == []  # a restarted agent does not see it again
    first.answer(hints[0], "grew the forest")
    acks = [a for a in protocol.read_jsonl(tmp_path / protocol.ACKS) if a["id"] == "h1"]
    assert [a["status"] for a in acks] == ["received", "used"]
    assert acks[-1]["message"] == "grew the forest"


def test_report_metric(tmp_path: Path) -> None:
    control = Control(tmp_path)
    control.report_metric("rmse", 3.5, direction="lower")
    control.report_metric("rmse", 3.25, direction="lower")
    records = protocol.read_jsonl(tmp_path / protocol.METRICS)
    assert [(r["step"], r["value"], r["direction"]) for r in records] == [
        (1, 3.5, "lower"),
        (2, 3.25, "lower"),
    ]
    with pytest.raises(ValueError):
        control.report_metric("rmse", 1.0, direction="sideways")


def test_a_step_is_reported_running_then_buggy_and_an_old_call_still_works(
    tmp_path: Path,
) -> None:
    control = Control(tmp_path)
    control.report_step(1, plan="a forest", outcome="", status="running", started=5.0)
    control.report_step(
        1, plan="a forest", outcome="failed", status="buggy", error="KeyError", hint_used=True
    )
    control.report_step(2, plan="old style", outcome="ok", metric=0.5)
    events = protocol.read_jsonl(tmp_path / protocol.EVENTS)
    assert [(e.get("status"), e.get("error"), e.get("hint_used")) for e in events] == [
        ("running", None, None),
        ("buggy", "KeyError", True),
        (None, None, None),  # the first protocol's step: finished
    ]
    assert events[0]["started"] == 5.0
    with pytest.raises(ValueError):
        control.report_step(3, plan="", outcome="", status="exploded")


def test_model_output_is_written_at_most_twice_a_second_and_capped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [100.0]
    monkeypatch.setattr(protocol.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(Control, "_schedule_flush", lambda self: None)  # on this clock only
    control = Control(tmp_path)
    for piece in ("I will ", "train ", "a forest."):  # within the same half second: one write
        control.report_model_output(1, piece)
        clock[0] += 0.1
    clock[0] += 1.0
    control.report_model_output(1, " Then")
    control.report_model_output(1, " x" * protocol.MAX_MODEL_OUTPUT, done=True)
    control.report_model_output(2, "next", done=True)
    out = protocol.read_jsonl(tmp_path / protocol.EVENTS)
    assert all(e["kind"] == "model_output" for e in out)
    assert [(e["step"], e["text"][:20], e.get("done", False)) for e in out] == [
        (1, "I will ", False),
        (1, "train a forest. Then", False),
        (1, " x x x x x x x x x x", True),
        (2, "next", True),
    ]
    assert sum(len(e["text"]) for e in out if e["step"] == 1) == protocol.MAX_MODEL_OUTPUT


def test_model_output_that_waits_is_written_without_another_call(tmp_path: Path) -> None:
    control = Control(tmp_path)
    control.report_model_output(1, "Plan: ")
    control.report_model_output(1, "a forest")  # the model falls silent here

    def written() -> str:
        return "".join(e["text"] for e in protocol.read_jsonl(tmp_path / protocol.EVENTS))

    deadline = time.monotonic() + 10
    while written() != "Plan: a forest" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert written() == "Plan: a forest"


def test_without_control_dir_everything_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(protocol.ENV_CONTROL_DIR, raising=False)
    control = Control()
    assert not control.connected
    control.hello("x")
    assert control.checkpoint() == []
    control.report_metric("acc", 0.5)


def test_torn_and_malformed_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\nnot json\n[1,2]\n{"b": 2}\n{"c": ')
    assert protocol.read_jsonl(path) == [{"a": 1}, {"b": 2}]


def test_untrusted_json_is_parsed_or_refused_with_a_reason() -> None:
    from mletui.protocol import MAX_LINE_BYTES, clean_text, loads_untrusted

    assert clean_text("plain é") == "plain é"
    assert clean_text("a\udcffb") == "a\\xffb"  # an undecodable byte of a file name
    assert clean_text("x\ud800y") == "x\ufffdy"  # a lone surrogate from JSON
    assert loads_untrusted(b'{"a": "\\ud800", "\\udfff": [1]}') == {"a": "\ufffd", "\ufffd": [1]}
    for bad, reason in (
        (b"[" * 100_000, "nested"),
        (b"[" * 70 + b"]" * 70, "nested"),
        (b'"' + b"x" * MAX_LINE_BYTES + b'"', "longer"),
        (b"\xff\xfe", "Expecting value"),
        (b"{", "Expecting property name"),
    ):
        with pytest.raises(ValueError, match=reason):
            loads_untrusted(bad)


def test_untrusted_json_is_cleaned_whether_or_not_it_looks_plain() -> None:
    """The shortcut for plain ASCII (``ls`` parses thousands of files) gives what cleaning every
    string gives, and leaves no surrogate through any other way in."""
    from mletui.protocol import MAX_DEPTH, clean_value, loads_untrusted

    plain = b'{"id": "r1", "command": ["a", "b"], "env": {"K": "v"}, "n": [1.5, null, true]}'
    assert loads_untrusted(plain) == json.loads(plain) == clean_value(json.loads(plain))
    assert loads_untrusted(plain.decode()) == json.loads(plain)
    assert loads_untrusted(b'{"a": "\xed\xa0\x80"}') == {"a": "\ufffd"}  # a raw surrogate
    assert loads_untrusted('{"a": "\ud800"}') == {"a": "\ufffd"}  # a str holding one
    utf16 = '{"a": "\ud800"}'.encode("utf-16-le", "surrogatepass")  # NULs: not read as UTF-8
    assert loads_untrusted(utf16) == {"a": "\ufffd"}
    deep = b"[" * (MAX_DEPTH + 2) + b"]" * (MAX_DEPTH + 2)
    with pytest.raises(ValueError, match="nested"):
        loads_untrusted(deep)
    assert loads_untrusted(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None


def test_the_protocol_module_alone_runs_in_any_image(tmp_path: Path) -> None:
    """protocol.py copied by itself beside an agent (no mletui installed) gives it the whole
    agent side: hello, metrics, checkpoint with hints."""
    import shutil
    import subprocess
    import sys

    shutil.copy(protocol.__file__, tmp_path / "protocol.py")
    control = tmp_path / "control"
    control.mkdir()
    protocol.append_jsonl(control / protocol.HINTS, {"id": "h1", "text": "more trees", "ts": 1.0})
    agent = (
        "import sys\n"
        "sys.path.insert(0, '.')\n"
        "import protocol\n"
        "c = protocol.Control(protocol.Path('control'))\n"
        "c.hello('copied', ('hints',))\n"
        "c.report_metric('accuracy', 0.5, step=1)\n"
        "print([h.text for h in c.checkpoint()])\n"
    )
    done = subprocess.run(  # -S: no site-packages, so no mletui to import
        [sys.executable, "-I", "-S", "-c", agent], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "['more trees']\n"
    assert [m["value"] for m in protocol.read_jsonl(control / protocol.METRICS)] == [0.5]


def test_validate_submission_asks_and_waits_for_its_own_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(protocol.ENV_SUBMISSION_DIR, str(tmp_path / "submission"))
    control = Control(tmp_path, poll_interval=0.02)
    unanswered = control.validate_submission()  # no answers file: mletui does not answer here
    assert not unanswered.answered and not (tmp_path / protocol.VALIDATE).exists()
    (tmp_path / protocol.VALIDATED).touch()

    def answer() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            requests = protocol.read_jsonl(tmp_path / protocol.VALIDATE)
            if requests:
                other = {"id": "someone-else", "valid": True, "reasons": []}
                protocol.append_jsonl(tmp_path / protocol.VALIDATED, other)
                mine = {"id": requests[0]["id"], "valid": False, "reasons": ["no rows"]}
                protocol.append_jsonl(tmp_path / protocol.VALIDATED, mine)
                return
            time.sleep(0.02)

    threading.Thread(target=answer).start()
    result = control.validate_submission()
    assert result == protocol.Validation(False, ("no rows",))
    assert str(result) == "Submission invalid! no rows"
    (request,) = protocol.read_jsonl(tmp_path / protocol.VALIDATE)
    assert request["path"] == "submission.csv"  # named from the submission folder

    waited = control.validate_submission(tmp_path / "submission" / "b.csv", timeout=0.1)
    assert not waited.answered and "no answer" in waited.reasons[0]
    assert protocol.read_jsonl(tmp_path / protocol.VALIDATE)[-1]["path"] == "b.csv"
    assert not Control(None).validate_submission().answered  # not connected: at once
