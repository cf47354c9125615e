"""The log stream from a real Docker Engine: exactly the container's own log, across cuts.

A container prints a known numbered sequence fast (with stderr between, lines longer than the
Engine's 16 KiB messages, and a last line with no newline); the stream is cut again and again,
or the daemon is restarted under a running run; the spool must equal the Engine's own copy of
the log, byte for byte and stream by stream, with the Engine's timestamps."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import docker
import pytest

from mletui.core.events import Stream
from mletui.grading.tasks import resolve_task
from mletui.run.launcher import start_run
from mletui.runtimes.docker.streams import ContainerLogStream, parse_engine_time
from mletui.store.journal import read_journal
from mletui.store.spool import StampedLines
from tests.conftest import wait_ended, wait_for
from tests.docker_fixtures import Engine, SecondEngine
from tests.test_docker_runtime import engine_lines, spool

pytestmark = pytest.mark.usefixtures("docker_cleanup")

NUMBERED = r"""
import sys, time
N = int(sys.argv[1])
for i in range(N):
    if i % 200 == 0:
        time.sleep(0.02)  # about 2 s in all: long enough to be cut many times
    if i % 97 == 0:
        print("err %d" % i, file=sys.stderr, flush=True)
    if i % 5000 == 17:
        print("long %d " % i + "L" * 40000)
    print(i)
sys.stdout.write("no newline at the end")
"""


def engine_stamped(client: docker.DockerClient, container_id: str, stream: Stream) -> list[bytes]:
    """The Engine's time (epoch seconds to the microsecond, as the spool keeps it) of each line
    of one stream that fits one message (< 16 KiB)."""
    data = client.api.logs(
        container_id,
        stdout=stream is Stream.STDOUT,
        stderr=stream is Stream.STDERR,
        timestamps=True,
    )
    stamps = []
    for line in data.split(b"\n"):
        if line and len(line) < 16000:
            ns = parse_engine_time(line[: line.index(b" ")])
            stamps.append(b"%d.%06d" % (ns // 10**9, ns % 10**9 // 1000))
    return stamps


def test_the_stream_cut_again_and_again_loses_and_repeats_nothing(
    docker_engine: Engine, test_base_image: str
) -> None:
    client = docker_engine.client
    container = client.containers.create(
        test_base_image, ["python3", "-c", NUMBERED, "30000"], labels={"mletui.test": "logs"}
    )
    got: dict[Stream, list[tuple[bytes, bytes]]] = {Stream.STDOUT: [], Stream.STDERR: []}
    lock = threading.Lock()

    def emit(stream: Stream, lines: Sequence[bytes], ts: float) -> None:
        assert isinstance(lines, StampedLines)  # each line with the Engine's time
        with lock:
            got[stream].extend(zip(lines, lines.stamps, strict=True))

    logs = ContainerLogStream(client, str(container.id), emit)
    try:
        logs.start()
        container.start()
        cuts = 0
        while cuts < 40 or container.status == "running":
            time.sleep(0.02)
            logs.interrupt()
            cuts += 1
            container.reload()
        container.wait(timeout=60)
        assert logs.finish()
        assert logs.reconnections >= 40

        for stream in (Stream.STDOUT, Stream.STDERR):
            mine = [line for line, _ in got[stream]]
            assert mine == engine_lines(client, str(container.id), stream)
            short = [stamp for line, stamp in got[stream] if len(line) < 16000]
            assert short == engine_stamped(client, str(container.id), stream)
        numbers = [int(line) for line, _ in got[Stream.STDOUT] if line.isdigit()]
        assert numbers == list(range(30000))
        assert got[Stream.STDOUT][-1][0] == b"no newline at the end"
    finally:
        logs.stop()
        container.remove(force=True)


def test_a_daemon_restart_under_a_run_loses_and_repeats_nothing(
    second_engine: SecondEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in second_engine.env.items():  # its TLS certificates
        monkeypatch.setenv(name, value)
    paced = (
        'python3 -u -c "import sys, time\n'
        "for i in range(4000):\n"
        "    print(i)\n"
        "    if i % 50 == 0: print('err', i, file=sys.stderr)\n"
        "    time.sleep(0.002)\n"
        '"'
    )
    folder = start_run(
        resolve_task("digits"),
        agent_cmd=paced,
        runtime="docker",
        runtime_options={"image": "mletui-test-base", "docker_host": second_engine.url},
    )
    wait_for(lambda: len(spool(folder, Stream.STDOUT)) > 300, 30, "output")
    second_engine.restart()
    wait_ended(folder, 120)
    record = folder.read()
    assert record.state == "exited" and record.exit_code == 0, folder.log_path.read_text()
    client = second_engine.client
    assert client is not None and record.container_id
    for stream in (Stream.STDOUT, Stream.STDERR):
        assert [raw for _, raw in spool(folder, stream)] == engine_lines(
            client, record.container_id, stream
        )
    assert [int(raw) for _, raw in spool(folder, Stream.STDOUT)] == list(range(4000))
    notes = [raw.decode() for _, raw in spool(folder, Stream.SYSTEM)]
    assert any("lost the connection to the Docker Engine" in n for n in notes), notes
    assert any("answers again" in n for n in notes), notes
    links = [e["engine"] for e in read_journal(folder.journal_path).entries if "engine" in e]
    assert links[:2] == ["unreachable", "connected"]
