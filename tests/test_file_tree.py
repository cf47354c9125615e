"""The workspace at one snapshot as a tree of files with their sizes, and one file's history:
read from the timeline's own snapshots of a real workspace."""

from __future__ import annotations

from pathlib import Path

from mletui.core.events import Snapshot
from mletui.store.snapshots import WorkspaceTimeline, file_history, files_at
from mletui.tui.screens.file_tree import tree_rows


def _scan(timeline: WorkspaceTimeline) -> Snapshot:
    snapshot = timeline.scan()
    assert snapshot is not None
    return snapshot


def test_each_snapshot_lists_its_files_with_sizes_and_each_file_its_changes(
    tmp_path: Path,
) -> None:
    work = tmp_path / "workspace"
    (work / "sub").mkdir(parents=True)
    timeline = WorkspaceTimeline(work, tmp_path / "snapshots")
    (work / "a.py").write_text("x = 1\n")
    (work / "data.csv").write_text("id,y\n" * 100)
    (work / "sub" / "b.py").write_text("print('b')\n")
    snapshots = [_scan(timeline)]
    (work / "a.py").write_text("x = 1\ny = 2\n")
    snapshots.append(_scan(timeline))
    (work / "sub" / "b.py").unlink()
    (work / "c.py").write_text("")
    snapshots.append(_scan(timeline))

    first = {f.path: (f.size, f.recorded) for f in files_at(snapshots, 1)}
    assert first == {"a.py": (6, True), "data.csv": (500, False), "sub/b.py": (11, True)}
    # Sizes of files unchanged since an earlier snapshot come from their last change.
    last = {f.path: (f.size, f.recorded) for f in files_at(snapshots, 3)}
    assert last == {"a.py": (12, True), "c.py": (0, True), "data.csv": (500, False)}
    assert files_at(snapshots, 4) == []

    history = file_history(snapshots, "a.py")
    assert [(s.seq, c.status) for s, c in history] == [(1, "added"), (2, "modified")]
    assert [(s.seq, c.status) for s, c in file_history(snapshots, "sub/b.py")] == [
        (1, "added"),
        (3, "deleted"),
    ]
    # The diff of a file at one of its changes: through the timeline's recorded objects.
    [(path, status, diff)] = [d for d in timeline.diff(history[1][0]) if d[0] == "a.py"]
    assert (path, status) == ("a.py", "modified") and "+y = 2" in diff


def test_the_tree_puts_each_folder_before_its_files(tmp_path: Path) -> None:
    work = tmp_path / "workspace"
    (work / "m" / "n").mkdir(parents=True)
    for name in ("top.py", "m/one.py", "m/n/two.py", "m/three.py", "z.py"):
        (work / name).write_text(name)
    timeline = WorkspaceTimeline(work, tmp_path / "snapshots")
    rows = tree_rows(files_at([_scan(timeline)], 1))
    assert [(depth, label, f is not None) for depth, label, f in rows] == [
        (0, "m/", False),
        (1, "n/", False),
        (2, "two.py", True),
        (1, "one.py", True),
        (1, "three.py", True),
        (0, "top.py", True),
        (0, "z.py", True),
    ]
