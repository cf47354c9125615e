"""The docker runtime as every mletui process uses it: start a run, freeze, thaw, stop, probe.

The run's supervisor (one detached process on this host, as for the local runtime) creates the
container and follows it (:mod:`~mletui.runtimes.docker.agent`). Everyone else reads what it
writes into ``run.json`` (the container's state, the engine link), so ``ls``, ``watch`` and the
TUI never wait for an Engine; freeze, thaw and a stop with no supervisor left talk to the Engine
recorded in the run, which may be remote.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

from mletui import __version__
from mletui.core.events import RunState
from mletui.runtimes import Probe, RuntimeFailure
from mletui.runtimes.docker.container import (
    agent_logs_dir,
    container_command,
    parse_cpus,
    parse_gpus,
    parse_memory,
    plan_container,
)
from mletui.runtimes.host import (
    mark_ended_without_supervisor,
    request_stop,
    spawn_supervisor,
    supervisor_alive,
)
from mletui.store.runs import RunFolder

if TYPE_CHECKING:
    from mletui.runtimes.docker.agent import ContainerAgent

# The Docker SDK is imported by the methods that talk to an Engine, not here: `mletui ls` and
# the TUI probe docker runs through run.json alone and need not load it.

DEFAULT_IMAGE = f"mletui-agent:{__version__}"
OPTIONS = ("docker_host", "image", "cpus", "memory", "gpus")
START_WAIT_S = 60.0


class DockerRuntime:
    name = "docker"

    def preflight(self, options: dict[str, Any]) -> dict[str, Any]:
        """Check the options and the Engine (it answers; it has the image) before a run exists."""
        import docker.errors

        from mletui.runtimes.docker.agent import image_missing
        from mletui.runtimes.docker.engine import api_failure, connect, resolve_engine

        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise RuntimeFailure(f"Unknown docker runtime options: {', '.join(sorted(unknown))}.")
        out: dict[str, Any] = {}
        try:
            if options.get("cpus") is not None:
                out["cpus"] = parse_cpus(str(options["cpus"]))
            if options.get("memory") is not None:
                out["memory"] = parse_memory(str(options["memory"]))
            out["gpus"] = parse_gpus(str(options.get("gpus") or "none"))
        except ValueError as exc:
            raise RuntimeFailure(f"{exc}.") from exc
        address = resolve_engine(options.get("docker_host"))
        client = connect(address)
        image = str(options.get("image") or DEFAULT_IMAGE)
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound as exc:
            raise image_missing(image, address) from exc
        except Exception as exc:
            raise api_failure(address, exc, f"looking up the image {image}") from exc
        finally:
            client.close()
        out["engine"] = address.to_json()
        out["image"] = image
        if address.is_local:
            # Files the agent writes into the bind mounts stay the operator's own.
            out["user"] = f"{os.getuid()}:{os.getgid()}"
        return out

    def start(self, folder: RunFolder) -> None:
        """Put the container's paths in the agent's environment, then start the supervisor and
        wait until the container runs (or could not be started: a sentence says why)."""
        from mletui.runtimes.docker.engine import EngineAddress

        with folder.updating() as record:
            address = EngineAddress.from_json(record.runtime_options["engine"])
            record.docker_host = address.host
            # Here, so that a bad environment fails before anything starts; kept in run.json.
            env, mounts = plan_container(folder, record)
            record.env = env
            record.runtime_options["mounts"] = [dataclasses.asdict(m) for m in mounts]
            record.command = container_command(record.command)
        agent_logs_dir(folder).mkdir(parents=True, exist_ok=True)
        record = spawn_supervisor(
            folder,
            START_WAIT_S,
            ready=lambda r: r.state not in (RunState.CREATED, RunState.STARTING),
        )
        if record.state in (RunState.EXITED, RunState.LOST) and (
            record.end_reason or ""
        ).startswith("could not start"):
            reason = (record.end_reason or "").removeprefix("could not start: ")
            raise RuntimeFailure(reason)

    def freeze(self, folder: RunFolder) -> None:
        self._container_call(folder, "pause", "pausing the container", "paused")

    def thaw(self, folder: RunFolder) -> None:
        self._container_call(folder, "unpause", "unpausing the container", "running")

    def stop(self, folder: RunFolder, grace_s: float, reason: str) -> None:
        """Graceful stop, then SIGKILL after ``grace_s``; the supervisor carries it out. With no
        supervisor left (a crash, a reboot), the container is stopped from here."""
        import docker.errors

        from mletui.runtimes.docker.engine import EngineAddress, api_failure, connect

        if request_stop(folder, grace_s, reason):
            return
        record = folder.read()
        if record.container_id and record.runtime_options.get("engine"):
            address = EngineAddress.from_json(record.runtime_options["engine"])
            client = connect(address)
            try:
                container = client.containers.get(record.container_id)
                if container.status == "paused":
                    container.unpause()
                container.stop(timeout=max(1, round(grace_s)))
            except docker.errors.NotFound:
                pass  # already gone
            except Exception as exc:
                raise api_failure(address, exc, "stopping the container") from exc
            finally:
                client.close()
        mark_ended_without_supervisor(folder, reason)

    def probe(self, folder: RunFolder) -> Probe:
        """From run.json only: the supervisor keeps the container's state there (from the
        Engine's events) and whether the Engine answers. Never waits for an Engine."""
        record = folder.read()
        return Probe(supervisor_alive(record), record.container_state == "paused")

    def remnants(self, folder: RunFolder) -> bool:
        """True while the run's container exists and is not done (asks the Engine)."""
        from mletui.runtimes.docker.engine import EngineAddress, connect

        record = folder.read()
        if not record.container_id or not record.runtime_options.get("engine"):
            return False
        try:
            client = connect(EngineAddress.from_json(record.runtime_options["engine"]))
        except Exception:
            return False
        try:
            status = client.containers.get(record.container_id).status
        except Exception:
            return False
        finally:
            client.close()
        return status in ("created", "running", "paused", "restarting")

    def agent_side(self, folder: RunFolder) -> ContainerAgent:
        from mletui.runtimes.docker.agent import ContainerAgent

        return ContainerAgent(folder)

    def _container_call(self, folder: RunFolder, method: str, doing: str, state: str) -> None:
        import docker.errors

        from mletui.runtimes.docker.engine import EngineAddress, api_failure, connect

        record = folder.read()
        if not record.container_id:
            raise RuntimeFailure(f"Run {record.id} has no container yet.")
        address = EngineAddress.from_json(record.runtime_options["engine"])
        client = connect(address)
        try:
            getattr(client.api, method)(record.container_id)
        except docker.errors.NotFound as exc:
            raise RuntimeFailure(
                f"The container of run {record.id} is gone (removed outside mletui)."
            ) from exc
        except Exception as exc:
            raise api_failure(address, exc, doing) from exc
        finally:
            client.close()
        with folder.updating() as rec:
            rec.container_state = state  # the supervisor confirms it from the Engine's events
