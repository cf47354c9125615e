"""One run as one file: ``mletui pack`` writes a .tar.gz of its folder, replayable anywhere.

A pack comes from elsewhere, so it is read as untrusted: members are written one by one into a
temporary folder inside the runs folder (created, never followed: no member may be a link, a
device or a fifo, or name a path outside its one top folder), its size is bounded as it is
written, and only then is the whole folder renamed into place, under a new id if its id is taken.
"""

from __future__ import annotations

import gzip
import os
import re
import secrets
import shutil
import stat
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from mletui.core import settings
from mletui.core.safefs import NotARegularFile, open_regular_at, walk
from mletui.core.sanitize import clean_text
from mletui.store.runs import RunFolder, read_run_json, runs_root

# .journal.lock: the journal's lock in runs from before the anchor became the lock.
# .recorder.lock: the lock of the watcher recording an Inspect sample.
SKIP_NAMES = {
    ".run.lock",
    ".journal.lock",
    ".driver.lock",
    ".recorder.lock",
    "driver.json",
    "kill-request.json",
}

ENV_MAX_BYTES = settings.PACK_MAX_BYTES
DEFAULT_MAX_BYTES = settings.DEFAULT_PACK_MAX_BYTES
"""Most bytes a pack may unpack to (its files' sizes, plus a tar block per member)."""

_BLOCK = 512  # what a member costs at least, so a pack of a million empty files is bounded too
_CHUNK = 1 << 20
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class PackError(Exception):
    """A pack that cannot be written or read; the message says why."""


def pack_run(folder: RunFolder, out: Path | None = None) -> Path:
    """Write the run folder as ``out`` (a .tar.gz): its folders and regular files only.

    The agent can write parts of the folder (its workspace, submission and control files), so
    it is walked and each file opened without following a link (:mod:`mletui.core.safefs`): a file
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
    """Extract a pack into this machine's runs folder, as a new run (PackError says why not).

    Nothing is written outside a temporary folder until the whole pack has been read and checked;
    the run's id is the pack's, or that id with a suffix when a run of that id is already here.
    """
    root = runs_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(os.fsdecode(root / f".unpack-{secrets.token_hex(4)}"))
        staging.mkdir(mode=0o700)
    except OSError as exc:
        raise PackError(f"Cannot unpack into {root}: {exc.strerror or exc}.") from exc
    try:
        run_id = _extract(pack, staging)
        return _move_into_place(staging / run_id, root, run_id)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def max_pack_bytes() -> int:
    """The unpacked size limit: ``MLETUI_PACK_MAX_BYTES`` if it is a whole number, else 8 GiB."""
    return settings.pack_max_bytes()


def _extract(pack: Path, staging: Path) -> str:
    """Write every member of ``pack`` under ``staging``; the run id (its one top folder)."""
    limit = max_pack_bytes()
    total = 0
    run_id: str | None = None
    try:
        with tarfile.open(pack, "r:*") as tar:
            for member in tar:  # one pass, streamed: a member is checked before it is written
                parts = _member_parts(pack, member)
                if run_id is None:
                    run_id = _run_id(pack, parts[0])
                elif parts[0] != run_id:
                    raise PackError(
                        f"{pack} holds {_shown(member.name)!r} outside its run folder {run_id!r}; "
                        "nothing was unpacked."
                    )
                total += _BLOCK + (member.size if member.isreg() else 0)
                if total > limit:
                    raise PackError(
                        f"{pack} unpacks to more than {limit:,} bytes (at "
                        f"{_shown(member.name)!r}; set {ENV_MAX_BYTES} to allow more); "
                        "nothing was unpacked."
                    )
                target = staging.joinpath(*parts)
                if member.isdir():
                    target.mkdir(mode=0o755, parents=True, exist_ok=True)
                else:
                    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                    source = tar.extractfile(member)
                    if source is None:
                        raise PackError(_refused(pack, member, "has no contents"))
                    _write_file(target, source, member)
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:  # not a pack
        raise PackError(
            f"{pack} is not a pack that mletui can read (a .tar.gz that `mletui pack` writes); "
            "nothing was unpacked."
        ) from exc
    except OSError as exc:
        raise PackError(
            f"Cannot unpack {pack}: {exc.strerror or exc}; nothing was unpacked."
        ) from exc
    if run_id is None or not (staging / run_id / "run.json").is_file():
        raise PackError(f"{pack} is not an mletui run pack (made by `mletui pack`).")
    return run_id


def _member_parts(pack: Path, member: tarfile.TarInfo) -> tuple[str, ...]:
    """The path parts of a member that may be written: a plain file or folder, by a relative
    path that stays inside its top folder. Anything else is refused, naming the member."""
    if member.issym() or member.islnk():
        raise PackError(_refused(pack, member, f"is a link (to {_shown(member.linkname)!r})"))
    if not (member.isreg() or member.isdir()):
        raise PackError(_refused(pack, member, "is not a plain file or folder (a device or fifo)"))
    name = member.name
    if name.startswith("/") or PurePosixPath(name).is_absolute():
        raise PackError(_refused(pack, member, "has an absolute path"))
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if not parts or ".." in parts or any("\x00" in p for p in parts):
        raise PackError(_refused(pack, member, "has a path outside its run folder"))
    return parts


def _run_id(pack: Path, name: str) -> str:
    if not _RUN_ID.fullmatch(name):
        raise PackError(f"{pack} is not an mletui run pack: {_shown(name)!r} is not a run id.")
    return name


def _write_file(target: Path, source: IO[bytes], member: tarfile.TarInfo) -> None:
    """A new regular file (never through a link, never over one), at most the member's size."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(target, flags, 0o644)
    try:
        left = member.size
        while left > 0:
            chunk = source.read(min(_CHUNK, left))
            if not chunk:
                break
            os.write(fd, chunk)
            left -= len(chunk)
        os.utime(fd, (member.mtime, member.mtime))
    finally:
        os.close(fd)


def _move_into_place(extracted: Path, root: Path, run_id: str) -> RunFolder:
    """Rename the checked folder into the runs folder, never over a run already there."""
    try:
        record = read_run_json(extracted / "run.json")
    except (OSError, ValueError) as exc:
        raise PackError(f"The pack's run {run_id!r} is not usable: {exc}.") from exc
    if record.id != run_id:
        raise PackError(
            f"The pack's folder {run_id!r} holds the record of run {_shown(record.id)!r}; "
            "nothing was unpacked."
        )
    for n in range(1, 1000):
        new_id = run_id if n == 1 else f"{run_id}-{n}"
        target = root / new_id
        if os.path.lexists(target):
            continue
        if new_id != run_id:
            record.id = new_id
            RunFolder(extracted).write(record)
        try:
            os.rename(extracted, target)
        except OSError as exc:
            if os.path.lexists(target):
                continue  # taken meanwhile (rename fills only an empty folder): the next id
            raise PackError(f"Cannot move the run into {root}: {exc.strerror or exc}.") from exc
        return RunFolder(target)
    raise PackError(f"Runs {run_id} to {run_id}-999 are all here already; nothing was unpacked.")


def _refused(pack: Path, member: tarfile.TarInfo, why: str) -> str:
    return f"{pack} is refused: its member {_shown(member.name)!r} {why}; nothing was unpacked."


def _shown(text: str) -> str:
    return clean_text(text, 200)
