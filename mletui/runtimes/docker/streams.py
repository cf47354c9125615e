"""A container's output, read from the Docker Engine's log stream, exactly once.

The Engine keeps a container's output as messages, each one line (or a piece of a line longer
than 16 KiB, or the last bytes before the end) with the time it was read, in nanoseconds. The
stream sends each message as one frame, ``<8-byte header><timestamp> <bytes>``; HTTP reads cut
frames anywhere. :class:`ContainerLogStream` follows one output stream (stdout or stderr) of one
container:

- frames are cut from a byte buffer, messages are split into lines with a
  :class:`~mletui.collectors.logs.LineSplitter` per stream (a line may span messages);
- every message's timestamp is kept: within one stream they never go back (pieces of one long
  line share the first piece's time, which is why stdout and stderr are followed apart: across
  streams the Engine's order and its times disagree);
- when the stream drops (a network blip, a daemon restart, the stream ending while the container
  lives) it reconnects with ``since`` = the last timestamp seen and skips the messages at that
  very time it already has: no gap, no duplicate;
- when the container has ended it does not wait for the Engine to close the stream (it may
  not): :meth:`finish` closes it, reads once more without following, and stops.
"""

from __future__ import annotations

import calendar
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import requests
from docker.types.daemon import CancellableStream

from mletui.collectors.logs import LineSplitter
from mletui.events import Stream
from mletui.runtimes import LineSink
from mletui.runtimes.docker.engine import is_connection_error

_HEADER = struct.Struct(">BxxxL")
_READ = 1 << 16
_NS = 1_000_000_000
RETRY_S = (0.05, 0.2, 0.5, 1.0, 2.0)  # back-off between reconnections, then the last, repeated


def parse_engine_time(stamp: bytes) -> int:
    """``2024-05-01T12:00:00.123456789Z`` (RFC 3339, UTC, as the Engine writes) -> epoch ns."""
    text = stamp.decode("ascii")
    if not text.endswith("Z"):
        raise ValueError(f"not a UTC timestamp: {text!r}")
    whole, _, fraction = text[:-1].partition(".")
    seconds = _SECONDS.get(whole)
    if seconds is None:
        seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
        if len(_SECONDS) > 64:
            _SECONDS.clear()
        _SECONDS[whole] = seconds
    nanos = int((fraction + "000000000")[:9]) if fraction else 0
    return seconds * _NS + nanos


_SECONDS: dict[str, int] = {}  # the date-and-time part changes once a second: parse it once


def since_param(ns: int) -> str:
    """An epoch-ns time as the Engine's ``since`` takes it, to the nanosecond."""
    return f"{ns // _NS}.{ns % _NS:09d}"


class RawStream:
    """One streaming GET to the Engine, readable in chunks, closable from another thread.

    The Engine sends each frame as an HTTP chunk of its own; decoding those one by one through
    http.client costs more than everything else together, so the body is read in large blocks
    from the connection's buffered reader and de-chunked here.
    """

    def __init__(self, client: docker.DockerClient, path: str, params: dict[str, Any]) -> None:
        # The SDK's streaming helpers drop which stream a frame is from, and cut `since` to a
        # float: its request layer is used directly, as its own helpers do.
        api: Any = client.api
        response = api._get(api._url(path), params=params, stream=True, timeout=None)
        api._raise_for_status(response)  # NotFound, APIError: the Engine said no
        self._response = response
        http_response = response.raw._fp  # http.client's response: nothing of the body read yet
        self._fp = http_response.fp
        self._chunked = bool(http_response.chunked)
        self._closed = False

    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives; ends when the Engine ends it, or when closed (no error)."""
        blocks = self._blocks()
        yield from dechunk(blocks) if self._chunked else blocks

    def _blocks(self) -> Iterator[bytes]:
        while not self._closed:
            try:
                block = self._fp.read1(_READ)
            except Exception:
                if self._closed:
                    return
                raise
            if not block:
                return
            yield block

    def close(self) -> None:
        """Close now, even while another thread is blocked reading (the socket is shut down)."""
        if self._closed:
            return
        self._closed = True
        try:
            CancellableStream(iter(()), self._response).close()
        except Exception:  # already closed, or a transport without a socket to shut down
            self._response.close()

    @property
    def closed(self) -> bool:
        return self._closed


def dechunk(blocks: Iterator[bytes]) -> Iterator[bytes]:
    """The payload of an HTTP/1.1 chunked body, one piece per block read (many chunks each)."""
    buffer = bytearray()
    pos = 0
    for block in blocks:
        buffer += block
        out: list[bytes] = []
        while True:
            eol = buffer.find(b"\r\n", pos)
            if eol < 0:
                break
            size = int(bytes(buffer[pos:eol]).split(b";", 1)[0], 16)
            if size == 0:
                if out:
                    yield b"".join(out)
                return  # the last chunk: the body is complete
            start = eol + 2
            if len(buffer) < start + size + 2:
                break
            out.append(bytes(buffer[start : start + size]))
            pos = start + size + 2
        if pos:
            del buffer[:pos]
            pos = 0
        if out:
            yield b"".join(out)


def frames(chunks: Iterator[bytes]) -> Iterator[tuple[int, bytes]]:
    """(stream id, payload) of each multiplexed frame; frames are cut out of a byte buffer, as
    reads do not respect them. A frame cut by the end of the body is dropped (read again)."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        start = 0
        while len(buffer) - start >= _HEADER.size:
            stream_id, size = _HEADER.unpack_from(buffer, start)
            end = start + _HEADER.size + size
            if end > len(buffer):
                break
            if size:  # an empty frame carries nothing (the SDK skips them too)
                yield stream_id, bytes(buffer[start + _HEADER.size : end])
            start = end
        if start:
            del buffer[:start]


@dataclass
class Cursor:
    """Where a stream is: the time of the last message taken, and how many were at that time."""

    last_ns: int = 0
    at_last: int = 0


class ContainerLogStream:
    """Follows one output stream of one container into ``emit``, in a thread of its own."""

    def __init__(
        self,
        client: docker.DockerClient,
        container_id: str,
        stream: Stream,
        emit: LineSink,
        on_reconnect: Callable[[Stream, float], None] = lambda stream, gap_s: None,
    ) -> None:
        if stream not in (Stream.STDOUT, Stream.STDERR):
            raise ValueError("a container has stdout and stderr")
        self.client = client
        self.container_id = container_id
        self.stream = stream
        self.emit = emit
        self.on_reconnect = on_reconnect  # after the Engine did not answer for gap_s seconds
        self.cursor = Cursor()
        self.reconnections = 0
        self.gone = False  # the container was removed: its logs with it
        self.error: str | None = None  # why the stream stopped early, if it did
        self._splitter = LineSplitter()
        self._skip = 0  # after a reconnect: messages at cursor.last_ns to skip (already taken)
        self._opened = False
        self._down_since: float | None = None  # when the Engine stopped answering this stream
        self._current: RawStream | None = None
        self._lock = threading.Lock()
        self._ending = threading.Event()  # the container has ended: read what is left, stop
        self._stopped = threading.Event()  # stop now (the supervisor is going)
        self._thread = threading.Thread(
            target=self._run, name=f"logs-{stream.name.lower()}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def finish(self, timeout_s: float = 30.0) -> bool:
        """The container has ended: take the rest of its output and stop. True when complete."""
        self._ending.set()
        # Do not wait for the Engine to end a follow stream (it may not): cut it, then one last
        # read without following takes whatever the cut left.
        self.interrupt()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self.stop()
            return False
        return not self.gone

    def stop(self) -> None:
        """Stop at once, whatever is left unread."""
        self._stopped.set()
        self.interrupt()
        self._thread.join(5)

    def interrupt(self) -> None:
        """Cut the current connection (as a network drop would); the stream reconnects."""
        with self._lock:
            current = self._current
        if current is not None:
            current.close()

    def _run(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            final = self._ending.is_set()
            try:
                cut = self._read_once(follow=not final)
            except docker.errors.APIError as exc:
                # 404: removed; 409: dead or being removed. Either way its logs are gone.
                self.gone = exc.status_code in (404, 409)
                self.error = None if self.gone else str(exc)
                break
            except Exception as exc:
                if not (is_connection_error(exc) or _is_transport_error(exc)):
                    self.error = str(exc)
                    break
                self._down_since = self._down_since or time.time()
                if self._stopped.wait(RETRY_S[min(failures, len(RETRY_S) - 1)]):
                    break
                failures += 1
                continue
            failures = 0
            if final:
                break
            if not cut:
                # The Engine ended it: the container ended (finish() comes), or a drop. Again.
                self._ending.wait(0.1)
        rest = self._splitter.flush()
        if rest and not self._stopped.is_set():
            self.emit(self.stream, rest, self.cursor.last_ns / _NS)

    def _read_once(self, *, follow: bool) -> bool:
        """Read until the stream ends; True when it was cut from here (:meth:`interrupt`)."""
        params: dict[str, Any] = {
            "stdout": int(self.stream is Stream.STDOUT),
            "stderr": int(self.stream is Stream.STDERR),
            "follow": int(follow),
            "timestamps": 1,
        }
        if self.cursor.last_ns:
            params["since"] = since_param(self.cursor.last_ns)
        self._skip = self.cursor.at_last
        raw = RawStream(self.client, f"/containers/{self.container_id}/logs", params)
        if self._opened:
            self.reconnections += 1
            if self._down_since is not None:
                self.on_reconnect(self.stream, time.time() - self._down_since)
        self._opened, self._down_since = True, None
        with self._lock:
            self._current = raw
        if self._stopped.is_set() or (follow and self._ending.is_set()):
            raw.close()  # finish() or stop() came while connecting
        try:
            for _stream_id, payload in frames(raw.chunks()):
                self._take(payload)
            return raw.closed
        finally:
            with self._lock:
                self._current = None
            raw.close()

    def _take(self, message: bytes) -> None:
        space = message.find(b" ")
        try:
            ns = parse_engine_time(message[:space])
        except (ValueError, UnicodeDecodeError):
            ns, space = self.cursor.last_ns, -1  # no timestamp: keep the bytes, at the last time
        cursor = self.cursor
        if ns < cursor.last_ns:
            return  # before what we have: a replay
        if ns == cursor.last_ns and self._skip > 0:
            self._skip -= 1
            return  # at the very time we stopped, already taken
        if ns == cursor.last_ns:
            cursor.at_last += 1
        else:
            cursor.last_ns, cursor.at_last, self._skip = ns, 1, 0
        lines = self._splitter.feed(message[space + 1 :])
        if lines:
            self.emit(self.stream, lines, ns / _NS)


def _is_transport_error(exc: BaseException) -> bool:
    """A connection that broke mid-stream (urllib3 and requests wrap it in several ways)."""
    import urllib3.exceptions

    return isinstance(
        exc,
        OSError
        | urllib3.exceptions.HTTPError
        | requests.exceptions.RequestException
        | docker.errors.DockerException,
    ) and not isinstance(exc, docker.errors.APIError)
