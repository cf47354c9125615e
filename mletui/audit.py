"""Audit: verify a run's chain of operator entries and list the interventions.

Every operator entry carries the hash of the one before it (``prev``) and its own (``hash``);
``journal.head`` beside the journal holds the count and the last hash. A changed byte, a removed,
reordered or cut-off entry breaks the chain at a place this module names precisely.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from mletui.journal import CHAIN_HEAD, GENESIS, Entry, line_hash_ok, read_chain_head

# Actions that change what the agent does or knows: a run with any of them is "assisted".
INTERVENTIONS = frozenset({"pause", "hint", "freeze", "reveal-grade"})


@dataclass(frozen=True)
class ChainBreak:
    line: int  # 1-based line of journal.jsonl
    entry: int  # 1-based position among operator entries (0: the end of the journal)
    problem: str


@dataclass
class AuditReport:
    actions: list[tuple[int, Entry]] = field(default_factory=list)  # (line, entry)
    breaks: list[ChainBreak] = field(default_factory=list)
    head_count: int = 0

    @property
    def intact(self) -> bool:
        return not self.breaks

    @property
    def interventions(self) -> list[tuple[int, Entry]]:
        return [(line, e) for line, e in self.actions if e.get("action") in INTERVENTIONS]


def audit_journal(path: Path) -> AuditReport:
    report = AuditReport()
    head_count, head_hash = read_chain_head(path.with_name(CHAIN_HEAD))
    report.head_count = head_count
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raw = b""
    prev = GENESIS
    number = 0
    for line_no, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
        except ValueError:
            if b'"hash"' in line or b'"action"' in line or b'"prev"' in line:
                number += 1
                report.breaks.append(
                    ChainBreak(
                        line_no,
                        number,
                        f"line {line_no}: operator entry #{number} is not valid JSON "
                        "(altered, or torn by a crash)",
                    )
                )
                prev = "?"
            continue
        if "hash" not in entry and entry.get("kind") != "action":
            continue
        number += 1
        report.actions.append((line_no, entry))
        if not line_hash_ok(line):
            report.breaks.append(
                ChainBreak(
                    line_no,
                    number,
                    f"line {line_no}: operator entry #{number} was altered "
                    "(its hash does not match its content)",
                )
            )
        elif prev != "?" and entry.get("prev") != prev:
            report.breaks.append(
                ChainBreak(
                    line_no,
                    number,
                    f"line {line_no}: operator entry #{number} does not follow the one before "
                    "(an entry was removed, reordered or altered)",
                )
            )
        prev = str(entry.get("hash"))
    if number < head_count:
        report.breaks.append(
            ChainBreak(
                0,
                0,
                f"the journal holds {number} operator entries but {head_count} were written: "
                "entries were cut off the end",
            )
        )
    elif number > head_count:
        report.breaks.append(
            ChainBreak(
                0,
                0,
                f"{CHAIN_HEAD} records {head_count} operator entries but the journal holds "
                f"{number}: the head file was changed or removed",
            )
        )
    elif number and number == head_count and prev not in (head_hash, "?"):
        report.breaks.append(
            ChainBreak(0, number, "the last operator entry is not the one recorded as last")
        )
    return report
