"""Summaries of ended runs, kept so that ``ls`` and the overview read them instead of the journal.

A summary is what a run's journal adds up to (best score, steps, actions, grades): reading a
24-hour run's journal means parsing tens of thousands of resource entries, so an ended run's is
worked out once and kept in ``$MLETUI_HOME/.cache/summaries/``, outside every run folder (an
agent writes inside its own folder, never here). Each entry is only believed when

- its ``mac`` (HMAC-SHA256 with the operator's journal key, :mod:`mletui.store.keys`) seals its
  exact bytes: a file forged or copied from another run's entry is worthless;
- the run it names is the one asked for, and the run folder, ``run.json`` and ``journal.jsonl``
  are still the very files it was made from: same device, inode, size and modification time
  (a journal appended to, a ``run.json`` rewritten, a folder replaced by another of that name).

Anything else (missing, unreadable, not JSON, a stamp that differs) is a miss: the caller reads
the journal and stores a fresh entry. What the payload holds is the caller's business.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from mletui.store import keys
from mletui.store.runs import (
    RunFolder,
    SkippedRun,
    entry_reason,
    mletui_home,
    runs_root,
    scan_runs,
)

VERSION = 1  # of the payload's shape: an entry of another version is a miss
MAX_ENTRY_BYTES = 1 << 20  # a summary is a few hundred bytes; a bigger file is not one of ours
_MAC = b'\n{"mac": "'

Stamp = tuple[int, ...]


def cache_dir() -> Path:
    return _summaries_under(mletui_home())


@functools.lru_cache(maxsize=8)
def _summaries_under(home: Path) -> Path:
    return home / ".cache" / "summaries"  # joined once: ls asks for each run's entry


def entry_path(run_id: str) -> Path:
    """The entry's file: named by a digest of the id, so no run id can name a path of its own."""
    digest = hashlib.sha256(run_id.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return cache_dir() / f"{digest}.json"


def stamp(folder: RunFolder) -> Stamp | None:
    """What identifies this run's folder, ``run.json`` and journal as they are now; None when one
    is missing or not a regular file (such a run is summed up afresh each time)."""
    base = str(folder.path)
    parts: list[int] = []
    for path, want in (
        (base, stat.S_ISDIR),
        (base + "/run.json", stat.S_ISREG),
        (base + "/journal.jsonl", stat.S_ISREG),
    ):
        try:
            info = os.lstat(path)
        except OSError:
            return None
        if not want(info.st_mode):
            return None
        parts += (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
    return tuple(parts)


def load(folder: RunFolder, now: Stamp) -> dict[str, Any] | None:
    """The payload kept for this run when its entry is sound and made from the files as they
    are (``now``); None otherwise."""
    value = _unsealed(entry_path(folder.id))
    if value is None or value.get("run") != folder.id or value.get("stamp") != list(now):
        return None
    payload = value.get("summary")
    return payload if isinstance(payload, dict) else None


def _unsealed(path: Path) -> dict[str, Any] | None:
    """The object a cache file holds when its mac is the operator's key's; None otherwise."""
    try:
        key = keys.journal_key()
        data = _read(path)
    except (OSError, ValueError, keys.KeyFileError):
        return None
    body, sep, tail = data.rpartition(_MAC)
    if not sep or not keys.mac_ok(key, body, tail.rstrip(b'"}\n')):
        return None
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or value.get("version") != VERSION:
        return None
    return value


def _read(path: Path) -> bytes:
    """An entry's bytes: a regular file in mletui's own folder, never through a link, bounded."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ENTRY_BYTES:
            raise ValueError("not a summary entry")
        return os.read(fd, info.st_size + 1)  # written whole in one rename: no more to come
    finally:
        os.close(fd)


def store(folder: RunFolder, made_from: Stamp, payload: dict[str, Any]) -> None:
    """Keep ``payload`` as this run's summary, made from the files stamped ``made_from``. A
    cache that cannot be written is no error: the next reader works it out again."""
    value = {"run": folder.id, "stamp": list(made_from), "summary": payload}
    _seal(entry_path(folder.id), value)


def _seal(path: Path, value: dict[str, Any]) -> None:
    """Write ``value`` to ``path`` in the cache, sealed with the operator's key, in one rename."""
    try:
        key = keys.journal_key()
        root = keys.private_dir(path.parent)
    except (OSError, keys.KeyFileError):
        return
    body = json.dumps({"version": VERSION, **value}, ensure_ascii=True).encode()
    data = body + _MAC + keys.mac(key, body).encode() + b'"}\n'
    tmp = root / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def skipped_runs() -> list[SkippedRun]:
    """The runs folder's entries that are not usable runs, and why, as :func:`scan_runs` says,
    without reading every ``run.json``: a verdict is kept per entry (in ``index.json`` beside
    the summaries) with its ``run.json``'s device, inode, size and modification time, and an
    entry is read again only when those changed. ``show`` of one run among thousands then
    names the broken folders beside it for the cost of a listing."""
    root = runs_root()
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    except OSError:
        return scan_runs().skipped  # the scan says why the folder cannot be listed
    path = cache_dir().parent / "index.json"
    kept = _unsealed(path)
    known = kept.get("entries") if kept is not None and kept.get("root") == str(root) else None
    verdicts: dict[str, list[Any]] = known if isinstance(known, dict) else {}
    fresh: dict[str, list[Any]] = {}
    skipped = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            info = os.lstat(entry.path + "/run.json")
            link = int(entry.is_symlink())  # the entry itself, as much as the file in it
            now: list[Any] = [entry.inode(), link, info.st_ino, info.st_size, info.st_mtime_ns]
        except OSError:
            now = []
        verdict = verdicts.get(entry.name)
        if not now or not isinstance(verdict, list) or verdict[:5] != now or len(verdict) != 6:
            reason = entry_reason(entry)
            verdict = [*now, reason] if now else [reason]
        if now:
            fresh[entry.name] = verdict
        if verdict[-1]:
            skipped.append(SkippedRun(Path(entry.path), str(verdict[-1])))
    if fresh != verdicts:
        _seal(path, {"root": str(root), "entries": fresh})
    return skipped
