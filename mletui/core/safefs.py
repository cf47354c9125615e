"""Opening a file the agent can reach, without following any link it made.

The agent can replace any file or folder it writes with a symbolic link (to the private answers,
to a host secret), a hard link, a fifo that blocks whoever opens it, or a device. So a file under
such a folder is opened by walking from a trusted folder one component at a time with directory
descriptors (``O_DIRECTORY | O_NOFOLLOW``), the last one with ``O_NOFOLLOW | O_NONBLOCK``, and
what was opened is checked on the descriptor (``fstat``), never on the path: nothing swapped in
between a check and the open is ever read.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a fifo returns at once (and fstat then says what it is); O_NOCTTY: a
# terminal device never becomes mletui's controlling terminal.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class NotARegularFile(ValueError):
    """What was found instead of a regular file: ``what`` is a phrase ("a symbolic link"),
    ``part`` the path component it was found at (the file itself, or a folder on the way)."""

    def __init__(self, part: str, what: str, *, is_file: bool) -> None:
        super().__init__(f"{part} is {what}")
        self.part = part
        self.what = what
        self.is_file = is_file  # False: a folder on the way was the problem
        self.links = 1  # more: a regular file refused for its other names (see hard_links)

    @classmethod
    def hard_links(cls, part: str, links: int) -> NotARegularFile:
        """A regular file with ``links`` names: one of them may be any file on the filesystem."""
        refused = cls(part, f"{links} hard links", is_file=True)
        refused.links = links
        return refused


def kind_of(mode: int) -> str:
    """A file type in words, as a sentence would say it."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (fifo)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISREG(mode):
        return "a regular file"
    return "not a regular file"


def open_dir_fd(root: Path, parts: tuple[str, ...]) -> int:
    """A descriptor of the folder ``root/parts...``, no component of ``parts`` followed as a link.

    ``root`` itself is trusted (mletui's own path). Raises :class:`NotARegularFile` for a
    component that is a link or not a folder, ``OSError`` for anything else.
    """
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    mode = os.lstat(part, dir_fd=fd).st_mode
                    raise NotARegularFile(part, kind_of(mode), is_file=False) from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(root: Path, relative: str | PurePath, *, single_link: bool = True) -> int:
    """A read-only descriptor of the regular file ``root/relative``, opened without following
    a link anywhere under ``root``.

    Raises :class:`NotARegularFile` when the file (or a folder on the way) is a link, a fifo, a
    device, a socket or a folder, or, with ``single_link``, a regular file with more than one
    hard link (``what`` is then "N hard links"); ``FileNotFoundError`` and other ``OSError`` as
    :func:`os.open` does. The caller closes the descriptor.
    """
    parts = PurePath(relative).parts
    if not parts or any(p in ("..", "/") for p in parts):
        raise ValueError(f"{relative} is not a path inside {root}")
    dir_fd = open_dir_fd(root, parts[:-1])
    try:
        return open_regular_at(dir_fd, parts[-1], single_link=single_link)
    finally:
        os.close(dir_fd)


def open_regular_at(dir_fd: int, name: str, *, single_link: bool = True) -> int:
    """A read-only, blocking descriptor of the regular file ``name`` in the folder ``dir_fd``,
    ``name`` not followed if it is a link: see :func:`open_regular`, which raises the same."""
    # Checked before opening too, so that a device is never even opened.
    mode = os.lstat(name, dir_fd=dir_fd).st_mode
    if not stat.S_ISREG(mode):
        raise NotARegularFile(name, kind_of(mode), is_file=True)
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # swapped for a link since the lstat
            raise NotARegularFile(name, "a symbolic link", is_file=True) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFile(name, kind_of(st.st_mode), is_file=True)
        if single_link and st.st_nlink > 1:
            raise NotARegularFile.hard_links(name, st.st_nlink)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


@dataclass(frozen=True)
class Found:
    """A folder or a regular file met by :func:`walk`, as it looked when listed (its lstat).

    ``dir_fd`` is its folder's descriptor, valid only until the walk goes on: open it with
    :func:`open_regular_at` (``dir_fd``, ``name``), which checks again what is really there.
    """

    parts: tuple[str, ...]  # the path below the root, names as os.fsdecode gives them
    dir_fd: int
    name: str
    stat: os.stat_result

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.stat.st_mode)


MAX_WALK_DEPTH = 64


def walk(root: Path, skip_dirs: frozenset[str] = frozenset()) -> Iterator[Found]:
    """Every folder and regular file under ``root``, by sorted name, each folder's files before
    its folders; links, fifos, devices and sockets are left out, and no link is followed.

    Not :func:`os.fwalk`: it opens each folder without ``O_NONBLOCK`` or ``O_DIRECTORY``, so a
    folder swapped for a fifo between its listing and its open would block the walk for good.
    Folders are opened with ``O_DIRECTORY | O_NOFOLLOW``; deeper than :data:`MAX_WALK_DEPTH`
    folders the walk does not go (each level holds a descriptor). ``root`` itself is trusted.
    """
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        yield from _walk_at(fd, (), skip_dirs)
    finally:
        os.close(fd)


def _walk_at(fd: int, parts: tuple[str, ...], skip_dirs: frozenset[str]) -> Iterator[Found]:
    files: list[Found] = []
    folders: list[Found] = []
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # gone since the listing
                found = Found((*parts, entry.name), fd, entry.name, st)
                if stat.S_ISREG(st.st_mode):
                    files.append(found)
                elif stat.S_ISDIR(st.st_mode) and entry.name not in skip_dirs:
                    folders.append(found)
    except OSError:
        return
    yield from sorted(files, key=lambda f: f.name)
    for folder in sorted(folders, key=lambda f: f.name):
        yield folder
        if len(folder.parts) >= MAX_WALK_DEPTH:
            continue
        try:
            child = os.open(folder.name, _DIR_FLAGS, dir_fd=fd)
        except OSError:
            continue  # swapped for a link or a file since the listing, or gone
        try:
            yield from _walk_at(child, folder.parts, skip_dirs)
        finally:
            os.close(child)


def read_regular(
    path: Path, max_bytes: int, *, tail: bool = False, single_link: bool = True
) -> bytes:
    """The bytes of the regular file ``path`` (its folder is trusted, the file itself is not
    followed: see :func:`open_regular`), never more than ``max_bytes``: a longer file raises
    ``ValueError`` before more is read, or with ``tail`` gives its last ``max_bytes`` (for an
    append-only file, whose newest lines matter)."""
    fd = open_regular(path.parent, path.name, single_link=single_link)
    try:
        size = os.fstat(fd).st_size
        if size > max_bytes:
            if not tail:
                raise ValueError(f"{path.name} is larger than {max_bytes} bytes")
            os.lseek(fd, size - max_bytes, os.SEEK_SET)
        chunks = []
        total = 0
        # Asked for as much as there is, plus a byte: a read of a fixed 1 MiB allocates that much
        # each time, most of ls's cost for a small file. A short read of a regular file is its
        # end; a full one means it grew while read, and 64 KiB at a time follow.
        want = min(size, max_bytes) + 1
        while block := os.read(fd, want):
            short = len(block) < want
            want = 1 << 16
            total += len(block)
            if total > max_bytes:  # it grew while being read
                if not tail:
                    raise ValueError(f"{path.name} is larger than {max_bytes} bytes")
                chunks.append(block[: len(block) - (total - max_bytes)])
                break
            chunks.append(block)
            if short:
                break
        return b"".join(chunks)
    finally:
        os.close(fd)


_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def open_for_writing(path: Path, *, append: bool, readable: bool = False) -> int:
    """A descriptor to write the file ``path`` (made if missing), in a folder the agent may own:
    never through a link it planted there, never into a fifo or a device. ``path``'s folder is
    trusted, and a file there with another name (a hard link the agent made to a file it could
    not write itself) is refused too. Raises :class:`NotARegularFile` (nothing was written),
    ``OSError`` otherwise."""
    # Never O_TRUNC at open: a hard link would be emptied before it is seen; truncated below.
    flags = _WRITE_FLAGS | (os.O_APPEND if append else 0)
    if readable:  # read back too (os.pread): the journal's writer checks its own tail
        flags = flags & ~os.O_WRONLY | os.O_RDWR
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotARegularFile(path.name, "a symbolic link", is_file=True) from None
        if exc.errno == errno.ENXIO:  # a fifo nobody reads
            raise NotARegularFile(path.name, "a named pipe (fifo)", is_file=True) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFile(path.name, kind_of(st.st_mode), is_file=True)
        if st.st_nlink > 1:
            raise NotARegularFile.hard_links(path.name, st.st_nlink)
        if not append:
            os.ftruncate(fd, 0)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_file(path: Path, data: bytes) -> None:
    """Replace the contents of ``path`` with ``data`` through :func:`open_for_writing` (never
    through a link the agent planted; raises what it raises)."""
    fd = open_for_writing(path, append=False)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
