"""One run as one file: ``mletui pack`` writes a .tar.gz of its folder, replayable anywhere."""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO

from mletui.safefs import NotARegularFile, open_regular_at, walk
from mletui.store import RunFolder, runs_root

SKIP_NAMES = {".run.lock", ".journal.lock", ".driver.lock", "driver.json", "kill-request.json"}


class PackError(Exception):
    """A pack that cannot be written or read; the message says why."""


def pack_run(folder: RunFolder, out: Path | None = None) -> Path:
    """Write the run folder as ``out`` (a .tar.gz): its folders and regular files only.

    The agent can write parts of the folder (its workspace, submission and control files), so
    it is walked and each file opened without following a link (:mod:`mletui.safefs`): a file
    swapped for a link to a host file, or for a fifo, while the pack is made is left out.
    """
    out = out or Path.cwd() / f"mletui-run-{folder.id}.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        tar.addfile(_member(folder.id, os.stat(folder.path)))
        for found in walk(folder.path):
            if found.name in SKIP_NAMES or found.name.endswith(".tmp"):
                continue
            name = "/".join((folder.id, *found.parts))
            if found.is_dir:
                tar.addfile(_member(name, found.stat))
                continue
            try:
                fd = open_regular_at(found.dir_fd, found.name)
            except (NotARegularFile, OSError):
                continue  # a link, a fifo, a hard link, or gone, by the time it was opened
            with os.fdopen(fd, "rb") as f:
                st = os.fstat(fd)
                tar.addfile(_member(name, st), _Exactly(f, st.st_size))
    return out


def _member(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = int(st.st_mtime)
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    else:
        info.size = st.st_size
    return info


class _Exactly:
    """A file read as exactly ``size`` bytes (its size when opened): cut if it grows while it is
    packed, padded with zeros if it shrinks, so that the archive stays whole."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        self.f = f
        self.left = size

    def read(self, n: int = -1) -> bytes:
        want = self.left if n < 0 else min(n, self.left)
        data = self.f.read(want)
        data += b"\0" * (want - len(data))
        self.left -= want
        return data


def unpack_run(pack: Path) -> RunFolder:
    """Extract a pack into this machine's runs folder (once: an existing copy is reused)."""
    try:
        with tarfile.open(pack, "r:*") as tar:
            members = tar.getmembers()
            roots = {Path(m.name).parts[0] for m in members if m.name}
            if len(roots) != 1 or not any(m.name.endswith("/run.json") for m in members):
                raise PackError(f"{pack} is not an mletui run pack (made by `mletui pack`).")
            run_id = roots.pop()
            target = runs_root() / run_id
            if not target.exists():
                runs_root().mkdir(parents=True, exist_ok=True)
                tar.extractall(runs_root(), filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise PackError(f"Cannot read {pack}: {exc}.") from exc
    return RunFolder(target)
