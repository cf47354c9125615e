"""Hostile packs: a pack from elsewhere can only ever add one new run; a link, a device, a path
out of its folder, a taken id or a bomb never touches another run, and is named in a sentence."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.store.pack import pack_run, unpack_run
from mletui.store.runs import RunFolder, list_runs, runs_root
from mletui.tui.app import MletuiApp
from mletui.tui.screens.replay import ReplayScreen
from mletui.tui.widgets.log_view import LogView
from tests.conftest import until, wait_ended, wait_for
from tests.hostile.test_hostile_store import _mletui
from tests.test_tui import SIZE

EVIL = "evil0001"


def _victim() -> RunFolder:
    """An ended run whose supervisor is gone: nothing but a pack could change its folder now."""
    folder = start_run(resolve_task("digits"), agent_cmd="echo victim says hello")
    wait_ended(folder, 60)
    pid = folder.read().supervisor_pid
    assert pid is not None
    wait_for(lambda: not _alive(pid), 30, "the supervisor to exit")
    return folder


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _tree(path: Path) -> dict[str, tuple[int, bytes | str]]:
    """Every entry under ``path``, by relative path: its mode and bytes (or link target)."""
    found: dict[str, tuple[int, bytes | str]] = {}
    for top, dirs, files in os.walk(path):
        for name in dirs + files:
            entry = Path(top) / name
            info = entry.lstat()
            if entry.is_symlink():
                content: bytes | str = os.readlink(entry)
            elif entry.is_file():
                content = entry.read_bytes()
            else:
                content = b""
            found[str(entry.relative_to(path))] = (info.st_mode, content)
    return found


def _run_json(run_id: str, template: RunFolder) -> bytes:
    record = json.loads(template.run_json.read_text())
    return json.dumps({**record, "id": run_id}).encode()


def _member(name: str, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def _pack(path: Path, victim: RunFolder, add: Callable[[tarfile.TarFile], None]) -> Path:
    """A pack of run EVIL (a good run.json) with hostile members added by ``add``."""
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(_member(EVIL, type=tarfile.DIRTYPE, mode=0o755))
        data = _run_json(EVIL, victim)
        tar.addfile(_member(f"{EVIL}/run.json", size=len(data)), io.BytesIO(data))
        add(tar)
    return path


def _file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_member(name, size=len(data)), io.BytesIO(data))


def _symlink_then_file(victim: RunFolder) -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        target = f"../{victim.id}"
        tar.addfile(_member(f"{EVIL}/door", type=tarfile.SYMTYPE, linkname=target))
        _file(tar, f"{EVIL}/door/journal.jsonl", b'{"kind": "forged"}\n')

    return add


def _hard_link(victim: RunFolder) -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        target = f"{victim.id}/journal.jsonl"
        tar.addfile(_member(f"{EVIL}/journal.jsonl", type=tarfile.LNKTYPE, linkname=target))
        _file(tar, f"{EVIL}/journal.jsonl", b'{"kind": "forged"}\n')

    return add


def _dot_dot(victim: RunFolder) -> Callable[[tarfile.TarFile], None]:
    return lambda tar: _file(tar, f"{EVIL}/../{victim.id}/planted", b"planted")


def _absolute(victim: RunFolder) -> Callable[[tarfile.TarFile], None]:
    return lambda tar: _file(tar, f"{victim.path}/planted", b"planted")


def _device(victim: RunFolder) -> Callable[[tarfile.TarFile], None]:
    return lambda tar: tar.addfile(
        _member(f"{EVIL}/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
    )


def _fifo(victim: RunFolder) -> Callable[[tarfile.TarFile], None]:
    return lambda tar: tar.addfile(_member(f"{EVIL}/pipe", type=tarfile.FIFOTYPE))


def _bomb(victim: RunFolder) -> Callable[[tarfile.TarFile], None]:
    size = 64 << 20  # 64 MiB of zeros: about 64 kB in the pack

    class Zeros(io.RawIOBase):
        left = size

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            n = min(len(buffer), self.left)
            buffer[:n] = bytes(n)
            self.left -= n
            return n

    return lambda tar: tar.addfile(_member(f"{EVIL}/bomb.bin", size=size), Zeros())


HOSTILE = {
    "symlink": (_symlink_then_file, "its member 'evil0001/door' is a link (to '../{victim}')"),
    "hardlink": (_hard_link, "its member 'evil0001/journal.jsonl' is a link (to "),
    "dotdot": (_dot_dot, "its member 'evil0001/../{victim}/planted' has a path outside its run"),
    "absolute": (_absolute, "its member '{path}/planted' has an absolute path"),
    "device": (_device, "its member 'evil0001/null' is not a plain file or folder"),
    "fifo": (_fifo, "its member 'evil0001/pipe' is not a plain file or folder"),
    "bomb": (
        _bomb,
        "unpacks to more than 1,048,576 bytes (at 'evil0001/bomb.bin'; set MLETUI_PACK",
    ),
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_a_hostile_pack_is_refused_by_name_and_no_run_is_touched(
    attack: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLETUI_PACK_MAX_BYTES", str(1 << 20))
    victim = _victim()
    make, said = HOSTILE[attack]
    pack = _pack(tmp_path / f"{attack}.tar.gz", victim, make(victim))
    before = _tree(runs_root())

    replay = _mletui("replay", str(pack))

    assert replay.returncode == 1
    assert "Traceback" not in replay.stderr
    line = replay.stderr.strip().splitlines()[-1]
    assert line.startswith(f"mletui: {pack} ")
    assert said.format(victim=victim.id, path=victim.path) in line
    assert line.endswith("nothing was unpacked.")
    assert _tree(runs_root()) == before  # the victim byte for byte, nothing planted, no leftovers
    assert not list(tmp_path.glob("**/planted"))


def test_a_pack_whose_id_is_taken_arrives_as_a_new_run(tmp_path: Path) -> None:
    victim = _victim()
    before = _tree(victim.path)
    with tarfile.open(tmp_path / "twin.tar.gz", "w:gz") as tar:
        tar.addfile(_member(victim.id, type=tarfile.DIRTYPE, mode=0o755))
        _file(tar, f"{victim.id}/run.json", _run_json(victim.id, victim))
        _file(tar, f"{victim.id}/journal.jsonl", b"")

    first = unpack_run(tmp_path / "twin.tar.gz")
    second = unpack_run(tmp_path / "twin.tar.gz")

    assert (first.id, second.id) == (f"{victim.id}-2", f"{victim.id}-3")
    assert _tree(victim.path) == before
    assert first.read().id == first.id and first.journal_path.read_bytes() == b""
    assert [f.id for f in list_runs()] == [victim.id, first.id, second.id]


async def test_a_good_pack_still_replays_beside_its_original(tmp_path: Path) -> None:
    victim = _victim()
    pack = pack_run(victim, tmp_path / "good.tar.gz")
    copy = unpack_run(pack)
    assert copy.id == f"{victim.id}-2"
    assert copy.journal_path.read_bytes() == victim.journal_path.read_bytes()
    assert copy.log_path.read_bytes() == victim.log_path.read_bytes()
    app = MletuiApp(replay_id=copy.id, speed=500)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ReplayScreen)
        await until(pilot, lambda: screen.replay.position >= screen.replay.duration)
        log = screen.query_one(LogView)
        await until(pilot, lambda: any("victim says hello" in x.text for x in log.lines))


@pytest.mark.parametrize("content", [b"root:x:0:0:root:/root:/bin/bash\n", b"\x1f\x8b\x08\x00cut"])
def test_a_file_that_is_not_a_pack_is_one_sentence(tmp_path: Path, content: bytes) -> None:
    not_a_pack = tmp_path / "not-a-pack.tar.gz"
    not_a_pack.write_bytes(content)
    replay = _mletui("replay", str(not_a_pack))
    assert replay.returncode == 1
    assert replay.stderr == (
        f"mletui: {not_a_pack} is not a pack that mletui can read (a .tar.gz that "
        "`mletui pack` writes); nothing was unpacked.\n"
    )
    assert not runs_root().exists() or list(runs_root().iterdir()) == []
