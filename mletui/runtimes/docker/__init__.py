"""The docker runtime: the agent in a container, on a local or remote Docker Engine.

- :mod:`~mletui.runtimes.docker.engine`: which Engine, connecting, failures as sentences;
- :mod:`~mletui.runtimes.docker.streams`: the log stream, exactly once across drops;
- :mod:`~mletui.runtimes.docker.container`: the container a run gets (mounts, env, limits);
- :mod:`~mletui.runtimes.docker.agent`: the container as the supervisor drives it (events,
  stats, stop);
- :mod:`~mletui.runtimes.docker.runtime`: :class:`DockerRuntime`, what every mletui process uses;
- :mod:`~mletui.runtimes.docker.image`: ``mletui image build``, offline-capable.
"""
