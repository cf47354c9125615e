"""Audit: verify a run's whole journal against the operator's key and list the interventions.

Every entry (state, scores, grades, metrics, notices, operator actions) ends with ``prev``, the
mac of the entry written before it, and ``mac``, the HMAC-SHA256 of its own bytes made with the
operator's key; the anchor outside the run folder holds the count and the last mac (both in
:mod:`mletui.store.keys`). Each break is named with its line of ``journal.jsonl``:

- **changed**: the line's bytes no longer match its mac, and the next entry still follows it;
- **forged**: a line sealed without the key (re-sealed with a plain hash, or made up), or with
  no mac at all, in a journal whose other entries are keyed;
- **removed**: the entry written before this one is not in the journal;
- **reordered**: this entry was written after another line than the one before it;
- **head missing**: the anchor is gone (the chain starts over where it was deleted mid-run);
- **tail cut**: the anchor's last entry is not in the journal: entries were cut off the end;
- **unreadable**: a line that is not JSON (torn by a full disk, or written by another hand).

A journal written before entries were keyed audits as "not chained", with a sentence.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from mletui.core.events import ActionRecord
from mletui.core.records import BadEntry, Record, decode
from mletui.core.safefs import NotARegularFile, open_regular
from mletui.core.words import counted
from mletui.store import keys
from mletui.store.journal import Anchor, Entry, genesis, read_anchor, split_sealed
from mletui.store.runs import RunRecord

# Actions that change what the agent does or knows: a run with any of them is "assisted".
INTERVENTIONS = frozenset({"pause", "hint", "freeze", "reveal-grade"})

NOT_CHAINED = (
    "This journal was written before every entry was keyed (no entry carries a mac), "
    "so it cannot be verified: only runs recorded by this version of mletui can be."
)


def operator_rights_warning(record: RunRecord) -> str | None:
    """A sentence for a run whose agent could have written its own record, else None."""
    if record.runtime != "local" or record.agent_user:
        return None
    return (
        "The agent ran with the operator's rights (no --agent-user): it could have written "
        "the run folder, its record included, and read the operator's key."
    )


@dataclass(frozen=True)
class ChainBreak:
    line: int  # 1-based line of journal.jsonl (0: the journal as a whole, or its end)
    what: str  # changed, forged, removed, reordered, head missing, tail cut, unreadable
    problem: str  # a sentence that names the line and what is wrong there


@dataclass
class AuditReport:
    actions: list[tuple[int, Entry]] = field(default_factory=list)  # (line, entry)
    breaks: list[ChainBreak] = field(default_factory=list)
    entries: int = 0  # lines that carry a mac
    chained: bool = True  # False: a journal from before entries were keyed
    anchor: Anchor | None = None

    @property
    def intact(self) -> bool:
        return self.chained and not self.breaks

    @property
    def interventions(self) -> list[tuple[int, Entry]]:
        return [(line, e) for line, e in self.actions if _intervention(decode(e))]


def _operator_entry(record: Record | BadEntry) -> bool:
    """An action, or what is left of one (a damaged action is listed all the same)."""
    return isinstance(record, ActionRecord) or (
        isinstance(record, BadEntry) and record.kind == "action"
    )


def _intervention(record: Record | BadEntry) -> bool:
    return isinstance(record, ActionRecord) and record.action in INTERVENTIONS


@dataclass
class _Line:
    number: int
    entry: Entry | None  # None: not a JSON object
    sealed: bytes | None = None  # the bytes the mac seals; None: no mac
    claimed: str | None = None  # the mac the line carries
    valid: bool = False  # the claimed mac is the key's mac of the sealed bytes


def audit_journal(path: Path) -> AuditReport:
    """Check every line of ``path`` against the key and its run's anchor (the run id is the
    folder's name); never raises on what the journal holds."""
    report = AuditReport()
    run_id = path.parent.name
    key = keys.journal_key()
    anchored = keys.anchor_path(run_id).exists()
    report.anchor = read_anchor(run_id)
    try:
        raw = _read(path)
    except NotARegularFile as exc:
        report.breaks.append(ChainBreak(0, "forged", f"journal.jsonl is {exc.what}: replaced"))
        return report
    lines = _parse(raw, key)
    report.actions = [
        (line.number, line.entry)
        for line in lines
        if line.entry is not None and _operator_entry(decode(line.entry))
    ]
    sealed = [line for line in lines if line.claimed is not None]
    report.entries = len(sealed)
    if not sealed:
        report.chained = False
        if report.anchor is not None and report.anchor.count:
            report.breaks.append(
                ChainBreak(
                    0,
                    "forged",
                    f"no entry carries a mac, but the anchor records {report.anchor.count} "
                    "sealed entries: every mac was stripped",
                )
            )
        return report
    if not any(line.valid for line in sealed):
        report.breaks.append(
            ChainBreak(
                sealed[0].number,
                "forged",
                f"line {sealed[0].number}: forged: no entry verifies with this operator's key "
                "(the journal was sealed with another key: recorded on another machine, or "
                "every entry re-sealed)",
            )
        )
        return report
    report.breaks += _chain_breaks(lines, genesis(key, run_id), report.anchor)
    report.breaks += _end_breaks(sealed, report.anchor, anchored, run_id)
    return report


def _read(path: Path) -> bytes:
    try:
        fd = open_regular(path.parent, path.name, single_link=False)
    except FileNotFoundError:
        return b""
    with os.fdopen(fd, "rb") as f:
        return f.read()


def _parse(raw: bytes, key: bytes) -> list[_Line]:
    out: list[_Line] = []
    for number, text in enumerate(raw.split(b"\n"), start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            value = None
        line = _Line(number, value if isinstance(value, dict) else None)
        parts = split_sealed(text)
        if parts is not None:
            line.sealed, claimed = parts
            line.claimed = claimed.decode("ascii", "replace")
            line.valid = keys.mac_ok(key, line.sealed, claimed)
        out.append(line)
    return out


def _chain_breaks(lines: list[_Line], first_prev: str, anchor: Anchor | None) -> list[ChainBreak]:
    """Walk the lines in order, each sealed one expected to follow the sealed one before."""
    where: dict[str, int] = {}
    for line in lines:
        if line.claimed is not None:
            where.setdefault(line.claimed, line.number)
    breaks: list[ChainBreak] = []
    expected = first_prev
    after: int | None = None  # the line the expected mac belongs to (None: the start)
    checked = True  # False right after a forged line: what follows it cannot link to it
    for i, line in enumerate(lines):
        n = line.number
        if line.entry is None:
            why = "not a JSON object (torn by a full disk, or written by another hand)"
            breaks.append(ChainBreak(n, "unreadable", f"line {n}: unreadable: {why}"))
            continue
        if line.claimed is None:
            why = "it carries no mac (not written by mletui)"
            breaks.append(ChainBreak(n, "forged", f"line {n}: forged: {why}"))
            continue
        if not line.valid:
            breaks.append(_bad_mac(line, _next_prev(lines[i + 1 :], anchor)))
            checked = breaks[-1].what == "changed"
            expected, after = line.claimed, n
            continue
        prev = line.entry.get("prev")
        if checked and prev != expected:
            breaks.append(_bad_link(n, prev, first_prev, where, after))
        checked = True
        expected, after = line.claimed, n
    return breaks


def _next_prev(rest: list[_Line], anchor: Anchor | None) -> str | None:
    """The mac the entry after this one says came before it (the anchor's, for the last)."""
    for line in rest:
        if line.claimed is not None and line.entry is not None:
            prev = line.entry.get("prev")
            return prev if isinstance(prev, str) else None
    return anchor.mac if anchor is not None else None


def _bad_mac(line: _Line, next_prev: str | None) -> ChainBreak:
    """A line whose mac does not match: changed (the chain still runs through its mac) or
    forged (sealed anew, by someone without the key)."""
    n = line.number
    if next_prev is not None and next_prev == line.claimed:
        return ChainBreak(
            n,
            "changed",
            f"line {n}: changed: its content no longer matches its mac "
            "(edited after it was written)",
        )
    assert line.sealed is not None
    if hashlib.sha256(line.sealed).hexdigest() == line.claimed:
        how = "re-sealed with a plain SHA-256 instead of the operator's key"
    else:
        how = "its mac was not made with the operator's key"
    return ChainBreak(n, "forged", f"line {n}: forged: {how}")


def _bad_link(
    n: int, prev: object, first_prev: str, where: dict[str, int], after: int | None
) -> ChainBreak:
    before = f"line {after}" if after is not None else "the start of the journal"
    if prev == first_prev:
        return ChainBreak(
            n,
            "head missing",
            f"line {n}: head missing: the chain starts over here, so the anchor outside the "
            "run folder was deleted before this entry was written",
        )
    if isinstance(prev, str) and prev in where:
        return ChainBreak(
            n,
            "reordered",
            f"line {n}: reordered: it was written right after line {where[prev]}, "
            f"not after {before}",
        )
    return ChainBreak(
        n,
        "removed",
        f"line {n}: removed: the entry written just before it (after {before}) is not in "
        "the journal",
    )


def _end_breaks(
    sealed: list[_Line], anchor: Anchor | None, anchored: bool, run_id: str
) -> list[ChainBreak]:
    """The journal's end against the anchor: nothing may be missing after the last line."""
    if anchor is None:
        why = "is unreadable" if anchored else "was deleted"
        return [
            ChainBreak(
                0,
                "head missing",
                f"head missing: the anchor of run {run_id} outside the run folder {why}, so a "
                "cut tail cannot be ruled out",
            )
        ]
    if any(line.claimed == anchor.mac for line in sealed):
        return []  # at the end, or followed by keyed entries written before it moved on
    last = sealed[-1].number
    return [
        ChainBreak(
            0,
            "tail cut",
            f"tail cut: entries after line {last} were removed (the anchor records "
            f"{counted(anchor.count, 'entry', 'entries')}, and its last one is not in the journal)",
        )
    ]
