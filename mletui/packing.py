"""One run as one file: ``mletui pack`` writes a .tar.gz of its folder, replayable anywhere."""

from __future__ import annotations

import tarfile
from pathlib import Path

from mletui.store import RunFolder, runs_root

SKIP_NAMES = {".run.lock", ".journal.lock", ".driver.lock", "driver.json", "kill-request.json"}


class PackError(Exception):
    """A pack that cannot be written or read; the message says why."""


def pack_run(folder: RunFolder, out: Path | None = None) -> Path:
    out = out or Path.cwd() / f"mletui-run-{folder.id}.tar.gz"

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        name = Path(info.name).name
        if name in SKIP_NAMES or name.endswith(".tmp") or info.issym() or info.islnk():
            return None
        return info

    with tarfile.open(out, "w:gz") as tar:
        tar.add(folder.path, arcname=folder.id, filter=keep)
    return out


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
