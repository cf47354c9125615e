"""Hostile workspaces: what the agent leaves in its workspace never stalls, crashes or leaks
through the snapshots and packs mletui makes of it.

Each agent is a real program run by mletui on the local runtime: a 200 GB sparse file, a code file
swapped for a link to a host secret as fast as it can, file names that are not UTF-8. The unit
tests put a link or a fifo in place at the exact moment between the walk and the open.
"""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from mletui.core import safefs
from mletui.store.pack import pack_run
from mletui.store.runs import RunFolder, create_run_folder, make_record
from mletui.store.snapshots import SAMPLE_OVER_BYTES, WorkspaceTimeline, sampled_sha256
from tests.conftest import wait_for
from tests.hostile.test_hostile_recorder import (
    LATER,
    assert_still_running,
    entries,
    kill,
    score_names,
    start,
)


def snapshot_changes(folder: RunFolder) -> list[dict[str, Any]]:
    return [c for s in entries(folder, "snapshot") for c in s["changes"]]


def snapshot_paths(folder: RunFolder) -> set[str]:
    return {c["path"] for c in snapshot_changes(folder)}


def every_byte_recorded(folder: RunFolder) -> bytes:
    """Every file of the run folder but the agent's own (its workspace, submission and control
    folders): what mletui wrote, snapshots included."""
    own = {folder.workspace, folder.path / "submission", folder.control}
    out = []
    for root, dirs, names in os.walk(folder.path):
        dirs[:] = [d for d in dirs if Path(root) / d not in own]
        for name in names:
            path = Path(root) / name
            if not path.is_symlink() and path.is_file():
                out.append(path.read_bytes())
    return b"".join(out)


# --- a 200 GB sparse file ------------------------------------------------------------------------

SPARSE = r"""
cd "$MLETUI_WORKSPACE"
truncate -s 200G huge.bin
printf 'tail' | dd of=huge.bin bs=1 seek=$((200 * 1024 * 1024 * 1024 - 4)) conv=notrunc 2>/dev/null
sleep 1
for i in 1 2 3; do echo "step = $i" > "train_$i.py"; sleep 0.5; done
"""


def test_a_200_gb_sparse_file_is_sampled_and_the_run_goes_on_being_recorded() -> None:
    folder = start(SPARSE + LATER)
    wait_for(lambda: "train_3.py" in snapshot_paths(folder), 30, "the snapshot after the file")
    wait_for(lambda: "later" in score_names(folder), 30, "the later metric")
    # Added, and modified again once its last bytes were written if a scan came in between.
    *_, huge = [c for c in snapshot_changes(folder) if c["path"] == "huge.bin"]
    path = folder.workspace / "huge.bin"
    fd = os.open(path, os.O_RDONLY)
    try:
        expected = sampled_sha256(fd, 200 << 30)
    finally:
        os.close(fd)
    assert (huge["new"], huge["size"], huge["recorded"]) == (expected, 200 << 30, False)
    assert expected.startswith("sampled-sha256:")
    assert_still_running(folder)
    kill(folder)  # the recorder's last scan samples the file too: the kill does not wait on it
    record = folder.read()
    assert record.state == "killed" and record.end_reason == "operator"


# --- a code file swapped for a link to a host secret ---------------------------------------------

MARKER = "HOST-SECRET-7f3a9c"

SWAPPER = r"""
cd "$MLETUI_WORKSPACE"
python3 - "$SECRET" <<'EOF'
import os, sys, time
secret = sys.argv[1]
end = time.monotonic() + 6
i = 0
while time.monotonic() < end:
    i += 1
    with open("code.tmp", "w") as f:
        f.write(f"x = {i}\n")
    os.replace("code.tmp", "code.py")
    os.symlink(secret, "link.tmp")
    os.replace("link.tmp", "code.py")
with open("code.tmp", "w") as f:
    f.write("done = " + "True\n")  # not as the command says it: found only where recorded
os.replace("code.tmp", "code.py")
EOF
echo swapped
"""


def test_a_file_swapped_for_a_link_never_leaks_the_target_into_snapshots_or_packs(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(f"root:{MARKER}:19000:0:99999:7:::\n")
    folder = start(f"SECRET={secret}\n" + SWAPPER + LATER)
    wait_for(lambda: b"done = True" in every_byte_recorded(folder), 40, "the last version")
    pack = pack_run(folder, tmp_path / "run.tar.gz")
    kill(folder)
    assert MARKER.encode() not in every_byte_recorded(folder)
    assert MARKER.encode() not in gzip.decompress(pack.read_bytes())
    with tarfile.open(pack) as tar:
        assert not [m.name for m in tar.getmembers() if not (m.isfile() or m.isdir())]
    assert any(c["path"] == "code.py" for c in snapshot_changes(folder))


def swap_at_open(monkeypatch: pytest.MonkeyPatch, name: str, swap: Any) -> list[str]:
    """Calls ``swap()`` right after mletui's last look at ``name`` before opening it (its lstat
    relative to a folder's descriptor), so that what is opened is not what was looked at."""
    real_lstat = os.lstat
    swapped: list[str] = []

    def lstat_then_swap(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        result = real_lstat(path, *args, **kwargs)
        if path == name and kwargs.get("dir_fd") is not None and not swapped:
            swap()
            swapped.append(name)
        return result

    monkeypatch.setattr(safefs.os, "lstat", lstat_then_swap)
    return swapped


def test_a_link_put_in_place_between_the_look_and_the_open_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace, secret = tmp_path / "ws", tmp_path / "secret.txt"
    workspace.mkdir()
    secret.write_text(MARKER)
    (workspace / "code.py").write_text("x = 1\n")
    (workspace / "other.py").write_text("y = 2\n")

    def to_link() -> None:
        (workspace / "code.py").unlink()
        (workspace / "code.py").symlink_to(secret)

    swapped = swap_at_open(monkeypatch, "code.py", to_link)
    timeline = WorkspaceTimeline(workspace, tmp_path / "snapshots")
    snapshot = timeline.scan()
    assert swapped == ["code.py"]  # the link was there when it was opened
    assert snapshot is not None and set(snapshot.files) == {"other.py"}
    assert all(
        MARKER not in p.read_text() for p in (tmp_path / "snapshots").rglob("*") if p.is_file()
    )


def test_a_fifo_put_in_place_between_the_look_and_the_open_does_not_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "code.py").write_text("x = 1\n")

    def to_fifo() -> None:
        (workspace / "code.py").unlink()
        os.mkfifo(workspace / "code.py")

    swapped = swap_at_open(monkeypatch, "code.py", to_fifo)
    snapshot = WorkspaceTimeline(workspace, tmp_path / "snapshots").scan()
    assert swapped == ["code.py"]
    assert snapshot is None  # nothing regular there: nothing recorded, and nothing waited on


def test_a_pack_never_follows_a_link_put_in_place_at_the_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = create_run_folder(make_record("digits", "/tmp/digits", "cmd", ["true"], "local", 60))
    secret = tmp_path / "secret.txt"
    secret.write_text(MARKER)
    (folder.workspace / "code.py").write_text("x = 1\n")
    os.mkfifo(folder.workspace / "pipe")

    def to_link() -> None:
        (folder.workspace / "code.py").unlink()
        (folder.workspace / "code.py").symlink_to(secret)

    swapped = swap_at_open(monkeypatch, "code.py", to_link)
    pack = pack_run(folder, tmp_path / "run.tar.gz")
    assert swapped == ["code.py"]
    assert MARKER.encode() not in gzip.decompress(pack.read_bytes())
    with tarfile.open(pack) as tar:
        names = {m.name: m for m in tar.getmembers()}
    assert f"{folder.id}/run.json" in names and f"{folder.id}/workspace" in names
    assert f"{folder.id}/workspace/code.py" not in names
    assert f"{folder.id}/workspace/pipe" not in names  # packed without waiting on it, or at all
    assert all(m.isfile() or m.isdir() for m in names.values())


def test_a_big_file_is_hashed_from_samples_of_it_not_in_full(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    big = workspace / "weights.raw"
    with big.open("wb") as f:
        f.truncate(SAMPLE_OVER_BYTES + 1)
    timeline = WorkspaceTimeline(workspace, tmp_path / "snapshots")
    first = timeline.scan()
    assert first is not None and first.files["weights.raw"].startswith("sampled-sha256:")
    with big.open("r+b") as f:  # a byte changed where a sample is taken: the hash changes
        f.write(b"x")
    second = timeline.scan()
    assert second is not None and second.changes[0].status == "modified"
    assert not (tmp_path / "snapshots" / "objects").exists()  # never copied


# --- names that are not UTF-8 --------------------------------------------------------------------

BAD_NAMES = r"""
cd "$MLETUI_WORKSPACE"
python3 - <<'EOF'
import os
for name in (b"\xff.py", b"\xed\xa0\x80.py", b"dir\xfe/inner.py"):
    os.makedirs(os.path.dirname(name) or b".", exist_ok=True)
    with open(name, "wb") as f:
        f.write(b"print('hostile')\n")
EOF
sleep 1
echo 'x = 1' > after.py
"""


def test_file_names_that_are_not_utf8_are_recorded_escaped_and_snapshots_go_on() -> None:
    folder = start(BAD_NAMES + LATER)
    wait_for(lambda: "after.py" in snapshot_paths(folder), 30, "the snapshot after the names")
    wait_for(lambda: "later" in score_names(folder), 30, "the later metric")
    assert snapshot_paths(folder) == {
        "\\xff.py",
        "\\xed\\xa0\\x80.py",
        "dir\\xfe/inner.py",
        "after.py",
    }
    assert_still_running(folder)
    kill(folder)
    with tarfile.open(pack_run(folder, folder.path.parent / "run.tar.gz")) as tar:
        names = {os.fsencode(m.name) for m in tar.getmembers()}
    prefix = f"{folder.id}/workspace/".encode()
    assert {prefix + b"\xff.py", prefix + b"\xed\xa0\x80.py", prefix + b"dir\xfe/inner.py"} <= names
