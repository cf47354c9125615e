"""``mletui image build``: the docker runtime's agent image."""

from __future__ import annotations

import click

from mletui.cli.command import UserError, command


@command(
    "build",
    "build the agent image; the Python packages are gathered here, so the build itself needs no "
    "network",
)
@click.option("--base", help="the base image: any with python3 >= 3.11 and venv")
@click.option("--tag", help="the image's name (default: the one runs use)")
@click.option("--docker-host", metavar="URL", help="the Docker Engine to build on")
def build(base: str | None, tag: str | None, docker_host: str | None) -> int:
    from mletui.runtimes import RuntimeFailure
    from mletui.runtimes.docker.engine import resolve_engine
    from mletui.runtimes.docker.image import DEFAULT_BASE, build_image
    from mletui.runtimes.docker.runtime import DEFAULT_IMAGE

    try:
        result = build_image(
            resolve_engine(docker_host),
            base=base or DEFAULT_BASE,
            tag=tag or DEFAULT_IMAGE,
            log=lambda line: print(line, flush=True),
        )
    except RuntimeFailure as exc:
        raise UserError(str(exc)) from exc
    print(f"Built {result.tag} from {result.base} in {result.seconds:.0f} s.")
    return 0


# Without a command it is a usage error (the one sentence), not a page of help.
image = click.Group("image", help="the docker runtime's agent image", no_args_is_help=False)
image.add_command(build)
