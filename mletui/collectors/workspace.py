"""The workspace timeline: snapshots of the agent's files, and diffs between any two of them.

Snapshots are content-addressed: ``snapshots/objects/ab/cdef...`` holds each distinct text file
once. Data files and large binaries are recorded by size and hash only, never copied. A snapshot
in the journal lists what changed and the hash of every file, so any moment can be rebuilt.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from mletui.events import FileChange, Snapshot

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
        for rel, full, size, mtime_ns in self._walk():
            cached = self._stat_cache.get(rel)
            if cached and cached[0] == size and cached[1] == mtime_ns:
                digest = cached[2]
            else:
                stored = self._store(full, size)
                if stored is None:
                    continue  # vanished or unreadable between listing and reading
                digest = stored
                self._stat_cache[rel] = (size, mtime_ns, digest)
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

    def _walk(self) -> Iterable[tuple[str, Path, int, int]]:
        count = 0
        for root, dirs, names in os.walk(self.workspace):
            dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)
            for name in sorted(names):
                full = Path(root) / name
                try:
                    st = full.lstat()
                except OSError:
                    continue
                if not full.is_file() or full.is_symlink():
                    continue
                count += 1
                if count > MAX_FILES:
                    return
                yield str(full.relative_to(self.workspace)), full, st.st_size, st.st_mtime_ns

    def _store(self, full: Path, size: int) -> str | None:
        h = hashlib.sha256()
        keep = _is_recorded(full, size)
        chunks: list[bytes] = []
        try:
            with full.open("rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
                    if keep:
                        chunks.append(block)
        except OSError:
            return None
        digest = h.hexdigest()
        if keep:
            target = self.objects / digest[:2] / digest[2:]
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
                tmp.write_bytes(b"".join(chunks))
                os.replace(tmp, target)
        return digest

    def read_object(self, digest: str | None) -> bytes | None:
        if digest is None:
            return b""
        try:
            return (self.objects / digest[:2] / digest[2:]).read_bytes()
        except OSError:
            return None

    def diff(self, snapshot: Snapshot) -> list[tuple[str, str, str]]:
        """(path, status, unified diff) for each change of a snapshot against the one before."""
        out = []
        for change in snapshot.changes:
            out.append((change.path, change.status, self.diff_change(change)))
        return out

    def diff_change(self, change: FileChange) -> str:
        if not change.recorded:
            return f"(data file, {change.size:,} bytes, sha256 {change.new or '-'}: not recorded)\n"
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


def snapshot_to_json(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "seq": snapshot.seq,
        "changes": [
            {
                "path": c.path,
                "status": c.status,
                "old": c.old,
                "new": c.new,
                "size": c.size,
                "recorded": c.recorded,
            }
            for c in snapshot.changes
        ],
        "files": snapshot.files,
    }


def snapshot_from_json(entry: dict[str, Any]) -> Snapshot:
    changes = tuple(
        FileChange(
            str(c["path"]),
            str(c["status"]),
            c.get("old"),
            c.get("new"),
            int(c.get("size", 0)),
            bool(c.get("recorded", True)),
        )
        for c in entry.get("changes", [])
    )
    return Snapshot(int(entry["seq"]), float(entry["ts"]), changes, dict(entry.get("files", {})))


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
