"""mletui's side of a run's control folder: reading what the agent wrote there and writing what
the operator sends, never through a link, a fifo or a device the agent put in a file's place.

:mod:`mletui.protocol` is the agent's side (standard library only, so it can be copied into any
image); the agent may own the folder, so mletui reads and writes its files through
:mod:`mletui.core.safefs`, and reads at most the newest :data:`MAX_FILE_BYTES` of each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mletui import protocol
from mletui.core.safefs import NotARegularFile, open_for_writing, read_regular
from mletui.protocol import HELLO, MAX_LINE_BYTES, loads_untrusted

MAX_FILE_BYTES = 16 << 20  # read of a protocol file at once (the newest part of a longer one)


def load_hello(control: Path) -> dict[str, Any]:
    """The agent's ``hello.json`` in the folder ``control``. Bytes that are not UTF-8 are kept
    as escapes; every way it can be bad (a link, a fifo, too big, not a JSON object) is an
    ``OSError`` or a ``ValueError`` with a short reason."""
    data = read_regular(control / HELLO, MAX_LINE_BYTES, single_link=False)
    value = loads_untrusted(data.decode("utf-8", "surrogateescape"))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def read_hello(control: Path) -> dict[str, Any] | None:
    """:func:`load_hello`, or None when there is no usable hello."""
    try:
        return load_hello(control)
    except (OSError, ValueError):
        return None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete JSON lines of ``path``; a torn or malformed line is skipped, never fatal.
    Only the last :data:`MAX_FILE_BYTES` of a longer file are read, and a file that is not a
    regular one reads as empty."""
    try:
        raw = read_regular(path, MAX_FILE_BYTES, tail=True, single_link=False)
    except (FileNotFoundError, NotARegularFile):
        return []
    lines = raw.split(b"\n")
    if len(raw) == MAX_FILE_BYTES:
        lines = lines[1:]  # the first line may be cut off
    return protocol.records_of(lines[:-1])  # the part after the last newline is being written


def append_jsonl(path: Path, record: dict[str, Any], sync: bool = False) -> None:
    """:func:`mletui.protocol.append_jsonl`, never through a link: raises
    :class:`~mletui.core.safefs.NotARegularFile` and writes nothing."""
    protocol.append_jsonl(path, record, sync, opener=_open_to_append)


def _open_to_append(path: Path) -> int:
    return open_for_writing(path, append=True)
