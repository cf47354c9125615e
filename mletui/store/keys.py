"""What mletui keeps out of every run folder: the journal key and each journal's anchor.

An agent may write its run folder (on the local runtime it runs with the operator's rights unless
``--agent-user`` is given), so nothing that vouches for the record may live there:

- the **key** (``journal.key``, 32 random bytes in hex) that every journal entry's HMAC-SHA256 is
  made with. It sits in the operator's config folder: ``$MLETUI_CONFIG_DIR``, else
  ``$XDG_CONFIG_HOME/mletui``, else ``~/.config/mletui``; the folder is made 0700 and the key
  0600, created on first use with ``O_EXCL`` (written aside, then linked into place, so that no
  process ever reads half a key);
- the **anchor** of each run's journal (``anchors/<run id>.head``: how many entries were written
  and the mac of the last). It sits beside the key rather than under ``$MLETUI_HOME``: the config
  folder is the one place mletui never shares with an agent (never mounted into a container,
  never packed, never made reachable for ``--agent-user``), so one rule covers both. A cut tail or
  a deleted head is then noticed by ``audit``. The anchor file is also the journal's lock: every
  writer holds ``flock`` on it while it appends, so an agent cannot stall the journal by holding
  a lock in its run folder.
"""

from __future__ import annotations

import binascii
import contextlib
import errno
import functools
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from mletui.store.runs import config_dir

KEY_FILE = "journal.key"
ANCHORS = "anchors"
KEY_BYTES = 32


class KeyFileError(Exception):
    """The key file is there but cannot be trusted or read; the message says what to do."""


def key_path() -> Path:
    return _key_in(config_dir())


@functools.lru_cache(maxsize=8)
def _key_in(folder: Path) -> Path:
    return folder / KEY_FILE  # joined once: the summary cache checks thousands of entries


def anchor_path(run_id: str) -> Path:
    return config_dir() / ANCHORS / f"{run_id}.head"


def private_dir(path: Path) -> Path:
    """Make ``path`` (and its parents) if missing; the folder itself, made now or found open,
    only its owner may enter."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_mode & 0o077 and info.st_uid == os.geteuid():
        os.chmod(path, 0o700)
    return path


_cache: dict[Path, bytes] = {}


def journal_key() -> bytes:
    """This operator's journal key, made on first use (any number of processes may race)."""
    path = key_path()
    cached = _cache.get(path)
    if cached is not None:
        return cached
    try:
        key = _read_key(path)
    except FileNotFoundError:
        key = _create_key(path)
    _cache[path] = key
    return key


def _read_key(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"The journal key {path} is not a regular file: remove it.")
        if info.st_uid != os.geteuid() or info.st_mode & 0o077:
            raise KeyFileError(
                f"The journal key {path} can be read or changed by others than you: "
                f"records made with it cannot be vouched for. Remove it (a new one is made)."
            )
        text = os.read(fd, 4 * KEY_BYTES)
    finally:
        os.close(fd)
    try:
        key = binascii.unhexlify(text.strip())
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise KeyFileError(f"The journal key {path} is not one of mletui's: remove it.")
    return key


def _create_key(path: Path) -> bytes:
    """Write a new key aside (``O_EXCL``, 0600), then link it into place: the link fails if
    another process made the key first, and then that key is the one."""
    private_dir(path.parent)
    key = secrets.token_bytes(KEY_BYTES)
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, binascii.hexlify(key) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return _read_key(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return key


def mac(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def mac_ok(key: bytes, data: bytes, claimed: bytes) -> bool:
    return hmac.compare_digest(mac(key, data).encode(), claimed)


def open_anchor(run_id: str, *, create: bool) -> int:
    """A descriptor on the run's anchor (made 0600 when ``create``); FileNotFoundError if none.
    A link in its place is refused (``ELOOP``), never followed."""
    path = anchor_path(run_id)
    flags = os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_RDWR | os.O_CREAT if create else os.O_RDONLY)
    try:
        try:
            return os.open(path, flags, 0o600)
        except FileNotFoundError:  # the first anchor: its folders are made, private
            if not create:
                raise
            private_dir(private_dir(path.parent.parent) / ANCHORS)
            return os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise KeyFileError(f"The anchor {path} is a link: remove it.") from exc
        raise
