"""The layer rule for Docker: nothing outside ``mletui/runtimes/`` imports the Docker SDK,
and the commands that only read runs (``ls``, ``show``, the TUI) do not even load it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mletui

PACKAGE = Path(mletui.__file__).resolve().parent
RUNTIMES = PACKAGE / "runtimes"


def docker_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [
            f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: import {name}"
            for name in names
            if name == "docker" or name.startswith("docker.")
        ]
    return found


def test_only_the_runtimes_import_the_docker_sdk() -> None:
    offenders = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if RUNTIMES not in path.parents
        for hit in docker_imports(path)
    ]
    assert offenders == [], "the Docker SDK is for mletui/runtimes/ only:\n" + "\n".join(offenders)


def test_the_runtimes_do_use_it() -> None:
    # The check above would pass on a tree that lost its docker runtime: make sure it looks.
    assert docker_imports(RUNTIMES / "docker" / "engine.py")


def test_reading_runs_does_not_load_the_sdk() -> None:
    code = (
        "import sys\n"
        "import mletui.cli, mletui.watch.livestate, mletui.watch.live, mletui.tui.app\n"
        "from mletui.runtimes import get_runtime\n"
        "get_runtime('docker')\n"
        "print('docker' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False", result.stdout + result.stderr
