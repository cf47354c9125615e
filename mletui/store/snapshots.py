"""The workspace timeline: snapshots of the agent's files, and diffs between any two of them.

Snapshots are content-addressed: ``snapshots/objects/ab/cdef...`` holds each distinct text file
once. Data files and large binaries are recorded by size and hash only, never copied; a file over
:data:`SAMPLE_OVER_BYTES` is never even read in full (a sampled hash). A snapshot in the journal
lists what changed and the hash of every file, so any moment can be rebuilt.

The workspace is the agent's: it is walked and read through :mod:`mletui.core.safefs`, so that no
link, fifo or device it puts there (or swaps in while it is read) is followed or blocks, and a
file name that is not UTF-8 is recorded with its bytes escaped (``\\xff``).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mletui.core.events import FileChange, Snapshot
from mletui.core.safefs import Found, NotARegularFile, open_regular, open_regular_at, walk
from mletui.protocol import clean_text

MAX_RECORDED_BYTES = 1 << 20
DATA_SUFFIXES = frozenset(
    {
        *(".csv", ".tsv", ".parquet", ".feather", ".arrow", ".npy", ".npz", ".pkl", ".pickle"),
        *(".joblib", ".pt", ".pth", ".bin", ".h5", ".hdf5", ".zip", ".gz", ".tar", ".png"),
        *(".jpg", ".jpeg", ".gif", ".onnx", ".safetensors", ".ckpt", ".db", ".sqlite"),
    }
)
IGNORED_DIRS = frozenset({"__pycache__", ".git", ".ipynb_checkpoints", ".mypy_cache", ".cache"})
MAX_FILES = 5000

SAMPLE_OVER_BYTES = 32 << 20
"""A file bigger than this (a sparse 200 GB file, a checkpoint) gets a sampled hash."""
SAMPLE_BLOCK = 1 << 16
SAMPLE_COUNT = 16
SAMPLED = "sampled-sha256:"
_DIGEST = re.compile("[0-9a-f]{64}")


def _is_recorded(path: Path, size: int) -> bool:
    return size <= MAX_RECORDED_BYTES and path.suffix.lower() not in DATA_SUFFIXES


class WorkspaceTimeline:
    """Scans a workspace, stores new file versions, and diffs snapshots."""

    def __init__(self, workspace: Path, store: Path) -> None:
        self.workspace = workspace
        self.objects = store / "objects"
        self.files: dict[str, str] = {}  # path -> hash, as of the last snapshot
        self.recorded: dict[str, bool] = {}
        self.seq = 0
        self._stat_cache: dict[str, tuple[int, int, str]] = {}  # path -> (size, mtime_ns, hash)

    def restore(self, last: Snapshot | None) -> None:
        """Continue after an earlier snapshot (a restarted recorder)."""
        if last is not None:
            self.files = dict(last.files)
            self.seq = last.seq

    def scan(self) -> Snapshot | None:
        """Compare the workspace with the last snapshot; return a new snapshot if it changed."""
        current: dict[str, str] = {}
        sizes: dict[str, int] = {}
        for found in self._walk():
            rel = clean_text("/".join(found.parts))
            size, mtime_ns = found.stat.st_size, found.stat.st_mtime_ns
            cached = self._stat_cache.get(rel)
            if cached and cached[0] == size and cached[1] == mtime_ns:
                digest = cached[2]
            else:
                stored = self._store(found, rel)
                if stored is None:
                    continue  # gone, unreadable or no longer a regular file when opened
                size, mtime_ns, digest = stored
                self._stat_cache[rel] = stored
            current[rel] = digest
            sizes[rel] = size
        changes = []
        for rel in sorted(set(current) | set(self.files)):
            old, new = self.files.get(rel), current.get(rel)
            if old == new:
                continue
            status = "added" if old is None else "deleted" if new is None else "modified"
            size = sizes[rel] if new is not None else self._stat_cache.get(rel, (0, 0, ""))[0]
            recorded = _is_recorded(Path(rel), size)
            changes.append(FileChange(rel, status, old, new, sizes.get(rel, 0), recorded))
        if not changes:
            return None
        for rel in set(self._stat_cache) - set(current):
            del self._stat_cache[rel]
        self.files = current
        self.seq += 1
        return Snapshot(self.seq, time.time(), tuple(changes), dict(current))

    def written(self) -> dict[str, float]:
        """When each file of the last scan was written (its mtime, in seconds), by path."""
        return {rel: mtime_ns / 1e9 for rel, (_, mtime_ns, _) in self._stat_cache.items()}

    def _walk(self) -> Iterator[Found]:
        count = 0
        for found in walk(self.workspace, IGNORED_DIRS):
            if found.is_dir:
                continue
            count += 1
            if count > MAX_FILES:
                return
            yield found

    def _store(self, found: Found, rel: str) -> tuple[int, int, str] | None:
        """(size, mtime_ns, hash) of the file as opened, its content stored if it is recorded.

        What is read is what the open descriptor is: a regular file with one link, read up to
        the size it had when opened (it may grow meanwhile), never more.
        """
        try:
            fd = open_regular_at(found.dir_fd, found.name)
        except (NotARegularFile, OSError):
            return None
        try:
            st = os.fstat(fd)
            if st.st_size > SAMPLE_OVER_BYTES:
                return st.st_size, st.st_mtime_ns, sampled_sha256(fd, st.st_size)
            keep = _is_recorded(Path(rel), st.st_size)
            data = _read_up_to(fd, st.st_size)
        except OSError:
            return None
        finally:
            os.close(fd)
        digest = hashlib.sha256(data).hexdigest()
        if keep:
            target = self.objects / digest[:2] / digest[2:]
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
                tmp.write_bytes(data)
                os.replace(tmp, target)
        return st.st_size, st.st_mtime_ns, digest

    def read_object(self, digest: str | None) -> bytes | None:
        """A recorded version's bytes; None when it was not recorded. ``digest`` comes from a
        journal (or a pack) that may not be mletui's: only a SHA-256 names an object, and the
        object is opened without following a link."""
        if digest is None:
            return b""
        if not _DIGEST.fullmatch(digest):
            return None
        try:
            fd = open_regular(self.objects.parent, f"objects/{digest[:2]}/{digest[2:]}")
        except (NotARegularFile, OSError):
            return None
        try:
            return _read_up_to(fd, MAX_RECORDED_BYTES)
        except OSError:
            return None
        finally:
            os.close(fd)

    def diff(self, snapshot: Snapshot) -> list[tuple[str, str, str]]:
        """(path, status, unified diff) for each change of a snapshot against the one before."""
        out = []
        for change in snapshot.changes:
            out.append((change.path, change.status, self.diff_change(change)))
        return out

    def diff_between(self, old: Snapshot, new: Snapshot) -> list[tuple[str, str, str]]:
        """(path, status, unified diff) for each file that differs between any two snapshots."""
        out = []
        for path in sorted(old.files.keys() | new.files.keys()):
            before, after = old.files.get(path), new.files.get(path)
            if before == after:
                continue
            status = "added" if before is None else "deleted" if after is None else "modified"
            recorded = not any(h is not None and h.startswith(SAMPLED) for h in (before, after))
            change = FileChange(path, status, before, after, recorded=recorded)
            out.append((path, status, self.diff_change(change)))
        return out

    def diff_change(self, change: FileChange) -> str:
        if not change.recorded:
            return f"(data file, {change.size:,} bytes, {_describe(change.new)}: not recorded)\n"
        old, new = self.read_object(change.old), self.read_object(change.new)
        if old is None or new is None:
            return "(this version was not recorded)\n"
        if b"\0" in old[:8192] or b"\0" in new[:8192]:
            return f"(binary file, {change.size:,} bytes)\n"
        a = old.decode("utf-8", errors="replace").splitlines(keepends=True)
        b = new.decode("utf-8", errors="replace").splitlines(keepends=True)
        src = "/dev/null" if change.old is None else f"a/{change.path}"
        dst = "/dev/null" if change.new is None else f"b/{change.path}"
        lines = difflib.unified_diff(a, b, src, dst)
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass(frozen=True)
class FileAt:
    """One file of the workspace at a snapshot, as the journal knows it."""

    path: str
    size: int | None  # as of its last change; None: no change of it is in the snapshots given
    recorded: bool  # False: a data file or large binary, kept by size and hash only


def files_at(snapshots: Sequence[Snapshot], seq: int) -> list[FileAt]:
    """Every file of the workspace at snapshot ``seq`` (none if there is no such snapshot), by
    path, each with the size its newest change up to then recorded. Read from the journal's
    snapshots alone: nothing in the workspace is opened."""
    known: dict[str, tuple[int, bool]] = {}
    at = None
    for snapshot in sorted(snapshots, key=lambda s: s.seq):
        if snapshot.seq > seq:
            break
        for change in snapshot.changes:
            known[change.path] = (change.size, change.recorded)
        at = snapshot
    if at is None or at.seq != seq:
        return []
    out = []
    for path in sorted(at.files):
        size, recorded = known.get(path, (None, not at.files[path].startswith(SAMPLED)))
        out.append(FileAt(path, size, recorded))
    return out


def file_history(snapshots: Sequence[Snapshot], path: str) -> list[tuple[Snapshot, FileChange]]:
    """The snapshots where ``path`` changed (added, modified, deleted), oldest first."""
    return [
        (snapshot, change)
        for snapshot in sorted(snapshots, key=lambda s: s.seq)
        for change in snapshot.changes
        if change.path == path
    ]


def sampled_sha256(fd: int, size: int) -> str:
    """A big file's hash from its size and :data:`SAMPLE_COUNT` blocks at fixed offsets (the
    first, the last, evenly between): a 200 GB file is hashed in a few reads, not hours."""
    h = hashlib.sha256(f"mletui sampled v1 {size}\n".encode())
    last = max(0, size - SAMPLE_BLOCK)
    for offset in sorted({last * i // (SAMPLE_COUNT - 1) for i in range(SAMPLE_COUNT)}):
        h.update(os.pread(fd, SAMPLE_BLOCK, offset))
    return SAMPLED + h.hexdigest()


def _read_up_to(fd: int, limit: int) -> bytes:
    """At most ``limit`` bytes of ``fd``: a file that grows while it is read is cut there."""
    chunks = []
    left = limit
    while left > 0 and (block := os.read(fd, min(left, 1 << 20))):
        chunks.append(block)
        left -= len(block)
    return b"".join(chunks)


def _describe(digest: str | None) -> str:
    if digest is None:
        return "sha256 -"
    if digest.startswith(SAMPLED):
        return f"sha256 of samples {digest.removeprefix(SAMPLED)}"
    return f"sha256 {digest}"


def watch_workspace(
    workspace: Path, on_change: Callable[[], None], stop: threading.Event, debounce_ms: int = 100
) -> None:
    """Call ``on_change`` whenever files change under ``workspace`` (watchfiles), until ``stop``.

    Also every couple of seconds without a change: a file written before the watcher was ready
    (or on a filesystem without inotify) is caught by the next scan instead of the run's end.
    """
    from watchfiles import watch

    for _changes in watch(
        workspace, stop_event=stop, debounce=debounce_ms, rust_timeout=2000, yield_on_timeout=True
    ):
        on_change()
