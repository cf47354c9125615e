"""A container's output, read from the Docker Engine's log stream, exactly once.

The Engine keeps a container's output as messages, each one line (or a piece of a line longer
than 16 KiB, or the last bytes before the end) with the time it was read, in nanoseconds. The
stream sends each message as one frame, ``<8-byte header><timestamp> <bytes>``; HTTP reads cut
frames anywhere. :class:`ContainerLogStream` follows a container's stdout and stderr in one
connection (each follower costs the Engine a pass over the whole log):

- the body is read in large blocks; each block's frames are cut out in one pass, lines with
  their Engine times are handed on per stream, a block at a time (:class:`_FrameReader`); a line
  longer than one message is put together with a :class:`~mletui.store.spool.LineSplitter`;
- every stream's last timestamp is kept: within one stream they never go back (pieces of one
  long line share the first piece's time; across streams the Engine's order and its times may
  disagree, which is why each stream has a cursor of its own);
- when the stream drops (a network blip, a daemon restart, the stream ending while the container
  lives) it reconnects with ``since`` = the earliest of the streams' last timestamps (a stream
  that has said nothing yet: :data:`SILENT_SLACK_NS` before the other's) and skips, per stream,
  the messages it already has: no gap, no duplicate;
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

from mletui.core.events import Stream
from mletui.runtimes import LineSink
from mletui.runtimes.docker.engine import is_connection_error
from mletui.store.spool import LineSplitter, StampedLines

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
    rest = b""
    for block in blocks:
        buffer = rest + block if rest else block
        find = buffer.find
        end = len(buffer)
        out: list[bytes] = []
        pos = 0
        while (eol := find(b"\r\n", pos)) >= 0:
            line = buffer[pos:eol]
            try:
                size = int(line, 16)
            except ValueError:  # with a chunk extension (";name=value")
                size = int(line.split(b";", 1)[0], 16)
            if size == 0:
                if out:
                    yield b"".join(out)
                return  # the last chunk: the body is complete
            start = eol + 2
            if end < start + size + 2:
                break
            out.append(buffer[start : start + size])
            pos = start + size + 2
        rest = buffer[pos:]
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


SILENT_SLACK_NS = 2 * _NS
"""After a cut, a stream that has said nothing yet is read again from this long before the other
stream's last message (the Engine stamps a message before it writes it: the two streams' times
may disagree by that delay in the order they are written)."""


@dataclass
class Cursor:
    """Where one stream is: the time of the last message taken (the Engine's stamp, fixed width,
    so that stamps compare as bytes) and how many were at that very time."""

    last: bytes = b""
    at_last: int = 0

    @property
    def last_ns(self) -> int:
        return parse_engine_time(self.last) if self.last else 0


class ContainerLogStream:
    """Follows a container's stdout and stderr into ``emit``, in one connection and a thread."""

    def __init__(
        self,
        client: docker.DockerClient,
        container_id: str,
        emit: LineSink,
        on_reconnect: Callable[[float], None] = lambda gap_s: None,
    ) -> None:
        self.client = client
        self.container_id = container_id
        self.emit = emit
        self.on_reconnect = on_reconnect  # after the Engine did not answer for gap_s seconds
        self.reconnections = 0
        self.gone = False  # the container was removed: its logs with it
        self.error: str | None = None  # why the stream stopped early, if it did
        self._reader = _FrameReader()
        self._opened = False
        self._down_since: float | None = None  # when the Engine stopped answering
        self._current: RawStream | None = None
        self._lock = threading.Lock()
        self._ending = threading.Event()  # the container has ended: read what is left, stop
        self._stopped = threading.Event()  # stop now (the supervisor is going)
        self._thread = threading.Thread(target=self._run, name="logs", daemon=True)

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
        if not self._stopped.is_set():
            for stream, rest in self._reader.flush().items():
                self.emit(stream, rest, float(rest.stamps[-1]))

    def cursor(self, stream: Stream) -> Cursor:
        """Where ``stream`` is (read from the reading thread, or once it has stopped)."""
        return self._reader.cursor(stream)

    def _since_ns(self) -> int:
        """Where a new connection starts: every message not taken yet is at or after it."""
        cursors = [self.cursor(stream) for stream in _FRAME_STREAMS.values()]
        taken = [c.last_ns for c in cursors if c.last]
        if not taken:
            return 0
        if len(taken) < len(cursors):
            return max(1, min(taken) - SILENT_SLACK_NS)
        return min(taken)

    def _read_once(self, *, follow: bool) -> bool:
        """Read until the stream ends; True when it was cut from here (:meth:`interrupt`)."""
        params: dict[str, Any] = {
            "stdout": 1,
            "stderr": 1,
            "follow": int(follow),
            "timestamps": 1,
        }
        since = self._since_ns()
        if since:
            params["since"] = since_param(since)
        raw = RawStream(self.client, f"/containers/{self.container_id}/logs", params)
        if self._opened:
            self.reconnections += 1
            if self._down_since is not None:
                self.on_reconnect(time.time() - self._down_since)
        self._opened, self._down_since = True, None
        self._reader.reconnected()
        with self._lock:
            self._current = raw
        if self._stopped.is_set() or (follow and self._ending.is_set()):
            raw.close()  # finish() or stop() came while connecting
        try:
            for block in raw.chunks():
                for stream, lines in self._reader.feed(block).items():
                    self.emit(stream, lines, float(lines.stamps[-1]))
            return raw.closed
        finally:
            with self._lock:
                self._current = None
            raw.close()


_STAMP = 30  # b"2024-05-01T12:00:00.123456789Z": the Engine's stamps are fixed width
_FRAME_STREAMS = {1: Stream.STDOUT, 2: Stream.STDERR}


class _FrameReader:
    """Turns the Engine's multiplexed, timestamped log stream into lines with their times, a block
    of frames at a time (one pass over a block: a flood costs a few operations a message).

    It keeps, per stream, the stamp of the last message taken and how many were at that time;
    after a reconnection (:meth:`reconnected`) the messages already taken are skipped. A line
    longer than one message (the Engine cuts lines at 16 KiB) is put together from its pieces.
    """

    def __init__(self) -> None:
        self._buffer = b""
        # Indexed by the frame's stream id (1: stdout, 2: stderr).
        self._last = [b"", b"", b""]  # the stamp of the last message taken
        self._at = [0, 0, 0]  # how many were taken at that stamp
        self._skip = [0, 0, 0]  # after a reconnection: how many at that stamp to skip
        self._splitters = [LineSplitter(), LineSplitter(), LineSplitter()]
        self._seconds: dict[bytes, bytes] = {}

    def cursor(self, stream: Stream) -> Cursor:
        sid = 1 if stream is Stream.STDOUT else 2
        return Cursor(self._last[sid], self._at[sid])

    def reconnected(self) -> None:
        """A new connection replays from its ``since``: skip what was taken already."""
        self._buffer = b""  # a frame cut by the drop comes again, whole
        self._skip = list(self._at)

    def feed(self, block: bytes) -> dict[Stream, StampedLines]:
        """The lines completed by ``block`` (bytes of the body as they came), per stream."""
        buf = self._buffer + block if self._buffer else block
        n = len(buf)
        pos = 0
        last, at, skip, splitters = self._last, self._at, self._skip, self._splitters
        stamps: list[list[bytes]] = [[], [], []]
        lines: list[list[bytes]] = [[], [], []]
        seconds = self._seconds
        unpack = _HEADER.unpack_from
        while n - pos >= 8:
            sid, size = unpack(buf, pos)
            start = pos + 8
            end = start + size
            if end > n:
                break
            pos = end
            if not (0 < sid < 3 and size):
                continue  # not stdout or stderr, or empty (the SDK skips those too)
            # The Engine's stamp is 30 bytes, "Z" (UTC) ends it, a space follows.
            if size > 30 and buf[start + 30] == 32 and buf[start + 29] == 90:
                stamp = buf[start : start + 30]
                body = start + 31
            else:
                stamp, body = _odd_stamp(buf, start, end, last[sid])
            if stamp > last[sid]:
                last[sid], at[sid], skip[sid] = stamp, 1, 0
            elif stamp == last[sid]:
                if skip[sid]:
                    skip[sid] -= 1
                    continue  # at the very time we stopped: already taken
                at[sid] += 1
            else:
                continue  # before what we have: a replay
            line = buf[body:end]
            if line[-1:] == b"\n" and not splitters[sid].pending_bytes:
                secs = seconds.get(stamp[:19]) or self._second(stamp)
                stamps[sid].append(secs + stamp[20:26])
                lines[sid].append(line)
            else:  # a piece of a long line (or a line with a newline inside)
                done = splitters[sid].feed(line)
                if done:
                    spool_stamp = self._spool_stamp(stamp)
                    for whole in done:
                        stamps[sid].append(spool_stamp)
                        lines[sid].append(whole + b"\n")
        self._buffer = buf[pos:] if pos < n else b""
        return {
            stream: StampedLines(stamps[sid], lines[sid])
            for sid, stream in _FRAME_STREAMS.items()
            if lines[sid]
        }

    def flush(self) -> dict[Stream, StampedLines]:
        """The end: each stream's unterminated last line, at its last time."""
        rest: dict[Stream, StampedLines] = {}
        for sid, stream in _FRAME_STREAMS.items():
            for line in self._splitters[sid].flush():
                rest[stream] = StampedLines([self._spool_stamp(self._last[sid])], [line + b"\n"])
        return rest

    def _second(self, stamp: bytes) -> bytes:
        """``b"1714564800."`` for a stamp's date and time (parsed once a second)."""
        whole = stamp[:19]
        secs = b"%d." % calendar.timegm(time.strptime(whole.decode("ascii"), "%Y-%m-%dT%H:%M:%S"))
        if len(self._seconds) > 64:
            self._seconds.clear()
        self._seconds[whole] = secs
        return secs

    def _spool_stamp(self, stamp: bytes) -> bytes:
        """A stamp as the spool writes it: epoch seconds, to the microsecond."""
        return self._second(stamp) + stamp[20:26] if stamp else b"%.6f" % time.time()


def _odd_stamp(buf: bytes, start: int, end: int, last: bytes) -> tuple[bytes, int]:
    """(stamp, where the message starts) of a message whose stamp is not in the Engine's fixed
    form: made fixed; without one, the bytes are kept whole, at the last time."""
    space = buf.find(b" ", start, end)
    try:
        if space < 0:
            raise ValueError("no stamp")
        ns = parse_engine_time(buf[start:space])
    except (ValueError, UnicodeDecodeError):
        return last or fixed_stamp(time.time_ns()), start
    return fixed_stamp(ns), space + 1


def fixed_stamp(ns: int) -> bytes:
    """An epoch-ns time as the Engine writes it: ``2024-05-01T12:00:00.123456789Z``."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // _NS))
    return b"%s.%09dZ" % (whole.encode("ascii"), ns % _NS)


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
