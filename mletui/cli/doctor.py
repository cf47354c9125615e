"""``mletui doctor``: what this machine has for each runtime, one sentence a check, so that what
is missing is said before a run needs it (the Docker Engine, Slurm and its shared storage, NVML,
a browser for ``serve``)."""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path

import click

from mletui.cli.command import GlobalOptions, command
from mletui.core.words import counted

RUNTIMES = ("local", "docker", "slurm")  # local needs only what every runtime needs
SLURM_COMMANDS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo")
# File systems the nodes of a cluster can share; any other is this machine's own disk, as far as
# mletui can tell.
SHARED_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "lustre", "gpfs", "beegfs", "cephfs", "ceph", "cifs", "smb3", "glusterfs"}
)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "firefox")
DOCKER_TIMEOUT_S = 5.0


class Verdict(Enum):
    OK = "ok"
    WARN = "warn"  # works here, may not where it counts
    MISSING = "missing"


@dataclass(frozen=True)
class Check:
    """One thing checked: for which runtime, what was found, in one sentence."""

    name: str
    # "docker", "slurm"; "any": every runtime needs it; "optional": no runtime needs it
    runtime: str
    verdict: Verdict
    sentence: str

    def failed(self, needed: tuple[str, ...]) -> bool:
        return self.verdict is Verdict.MISSING and self.runtime in (*needed, "any")


def check_home() -> Check:
    from mletui.store.runs import mletui_home

    home = mletui_home()
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=home, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check(
            "home",
            "any",
            Verdict.MISSING,
            f"MLETUI_HOME ({home}) cannot be written ({exc.strerror}): set MLETUI_HOME to a "
            "folder you can write.",
        )
    return Check("home", "any", Verdict.OK, f"MLETUI_HOME ({home}) is writable.")


def check_docker() -> Check:
    from mletui.runtimes import RuntimeFailure

    try:
        from mletui.runtimes.docker.engine import connect, resolve_engine

        address = resolve_engine()
        client = connect(address, timeout=DOCKER_TIMEOUT_S)
        try:
            version = str(client.version().get("Version", "?"))
        finally:
            client.close()
    except RuntimeFailure as exc:
        return Check("docker", "docker", Verdict.MISSING, str(exc))
    except Exception as exc:  # the SDK raises several kinds; all mean "no engine to use"
        return Check(
            "docker",
            "docker",
            Verdict.MISSING,
            f"The Docker Engine does not answer ({type(exc).__name__}): start it, or set "
            "DOCKER_HOST.",
        )
    return Check(
        "docker",
        "docker",
        Verdict.OK,
        f"The Docker Engine at {address.host} answers (Engine {version}).",
    )


def check_slurm() -> list[Check]:
    """Slurm's commands, a partition that is up, and MLETUI_HOME where its nodes see it."""
    from mletui.runtimes import RuntimeFailure
    from mletui.runtimes.slurm import commands

    missing = [name for name in SLURM_COMMANDS if shutil.which(name) is None]
    if missing:
        named = ", ".join(f"`{name}`" for name in missing)
        return [
            Check(
                "slurm-commands",
                "slurm",
                Verdict.MISSING,
                f"No {named} on PATH: the slurm runtime needs Slurm's client commands; run "
                "mletui on the cluster's login node.",
            )
        ]
    checks = [
        Check(
            "slurm-commands",
            "slurm",
            Verdict.OK,
            "Slurm's commands (sbatch, sinfo, ...) are on PATH.",
        )
    ]
    try:
        found = commands.partitions()
        default = commands.default_partition()
    except RuntimeFailure as exc:
        return [*checks, Check("slurm-partition", "slurm", Verdict.MISSING, str(exc))]
    up = {name: nodes for name, (avail, nodes) in found.items() if avail == "up"}
    if not up:
        listed = ", ".join(sorted(found)) or "none"
        sentence = f"No Slurm partition is up (`sinfo` lists {listed})."
        return [*checks, Check("slurm-partition", "slurm", Verdict.MISSING, sentence)]
    partition = default if default in up else sorted(up)[0]
    nodes = up[partition]
    checks.append(
        Check(
            "slurm-partition",
            "slurm",
            Verdict.OK,
            f"Slurm's partition '{partition}' is up, with {counted(len(nodes), 'node')}: "
            f"{', '.join(nodes[:5])}{' ...' if len(nodes) > 5 else ''}.",
        )
    )
    checks.append(check_shared_home(partition, nodes, commands.filesystem_type))
    return checks


def check_shared_home(
    partition: str, nodes: list[str], filesystem_type: Callable[[Path], str]
) -> Check:
    from mletui.runtimes.slurm.commands import LOCAL_ONLY_FILESYSTEMS
    from mletui.store.runs import mletui_home

    home = mletui_home().resolve()
    probe = home if home.exists() else next((p for p in home.parents if p.exists()), home)
    kind = filesystem_type(probe) or "an unknown file system"
    here = {socket.gethostname(), socket.gethostname().split(".")[0]}
    if set(nodes) <= here:
        return Check(
            "slurm-storage",
            "slurm",
            Verdict.OK,
            f"MLETUI_HOME ({home}, {kind}) is seen by partition '{partition}': its only node "
            "is this machine.",
        )
    if kind in LOCAL_ONLY_FILESYSTEMS:
        return Check(
            "slurm-storage",
            "slurm",
            Verdict.MISSING,
            f"MLETUI_HOME ({home}) is on {kind}, in this machine's memory: the nodes of "
            f"partition '{partition}' cannot see it; set MLETUI_HOME to a folder on the "
            "cluster's shared filesystem.",
        )
    under_tmp = home == Path("/tmp") or Path("/tmp") in home.parents
    if under_tmp or kind.split(".")[0] not in SHARED_FILESYSTEMS | {"fuse"}:
        where = "under /tmp" if under_tmp else f"on {kind}, a local disk as far as mletui knows"
        return Check(
            "slurm-storage",
            "slurm",
            Verdict.WARN,
            f"MLETUI_HOME ({home}) is {where}: the nodes of partition '{partition}' may not "
            "see it; set MLETUI_HOME to a folder on the cluster's shared filesystem.",
        )
    return Check(
        "slurm-storage",
        "slurm",
        Verdict.OK,
        f"MLETUI_HOME ({home}) is on {kind}, which the cluster's nodes can share.",
    )


def check_gpu() -> Check:
    from mletui.gpu.nvml import GpuSampler

    sampler = GpuSampler()
    try:
        reading = sampler.sample()
    finally:
        sampler.close()
    if reading.problem:
        return Check(
            "gpu",
            "optional",
            Verdict.WARN,
            f"No GPU readings: {reading.problem.rstrip('.')}; runs go on without GPU panes.",
        )
    names = sorted({d.name for d in reading.devices})
    count = len(reading.devices)
    return Check(
        "gpu",
        "optional",
        Verdict.OK,
        f"NVML reads {counted(count, 'GPU')} ({', '.join(names)}), driver "
        f"{reading.driver or 'unknown'}.",
    )


def check_browser() -> Check:
    found = next((name for name in BROWSERS if shutil.which(name)), None)
    if found is None:
        return Check(
            "browser",
            "optional",
            Verdict.WARN,
            "No browser (chromium, firefox) on PATH: `mletui serve` works, open its address "
            "from another machine's browser.",
        )
    return Check(
        "browser", "optional", Verdict.OK, f"`{found}` can open what `mletui serve` serves."
    )


def run_checks() -> list[Check]:
    return [check_home(), check_docker(), *check_slurm(), check_gpu(), check_browser()]


_MARK = {Verdict.OK: "ok     ", Verdict.WARN: "warn   ", Verdict.MISSING: "missing"}


@command("doctor", "say what this machine has for each runtime, and what is missing")
@click.option(
    "--runtime",
    "needed",
    multiple=True,
    type=click.Choice(RUNTIMES),
    help="a runtime you mean to use (repeatable; default: local): what it needs and lacks "
    "makes the exit status 1",
)
@click.option("--json", "as_json", is_flag=True, help="the checks as JSON")
@click.pass_obj
def doctor(options: GlobalOptions, needed: tuple[str, ...], as_json: bool) -> int:
    needed = needed or ("local",)
    checks = run_checks()
    failed = [c for c in checks if c.failed(needed)]
    if as_json:
        rows = [
            {**asdict(c), "verdict": c.verdict.value, "needed": c.runtime in (*needed, "any")}
            for c in checks
        ]
        print(json.dumps({"needed": list(needed), "ok": not failed, "checks": rows}, indent=2))
    else:
        for check in checks:
            print(f"{_MARK[check.verdict]}  {check.runtime:<8} {check.sentence}")
        if failed:
            print(f"Missing for {', '.join(needed)}: {', '.join(c.name for c in failed)}.")
    return 1 if failed else 0
