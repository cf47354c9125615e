"""A log flood: ``python producer.py COUNT STYLE READY GO``.

Touches READY, waits for GO to exist (so starting the process is not timed), then prints
``line 1`` .. ``line COUNT`` to stdout as fast as STYLE lets it, and exits:

- ``print``: one ``print()`` per line, as an agent's training loop does (stdout buffered, as
  Python buffers a pipe);
- ``print-flush``: the same, flushed after each line (``python -u``, ``PYTHONUNBUFFERED``): one
  write per line, the hardest case for a reader;
- ``block``: 10,000 lines per write, as fast as Python can hand bytes to a pipe.
"""

from __future__ import annotations

import os
import sys
import time


def main() -> None:
    count, style, ready, go = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.0005)
    # stdout as Python opens a pipe by default, whatever PYTHONUNBUFFERED says (mletui sets it
    # for agents, so that their logs are live; the style decides here).
    out = open(1, "w", closefd=False)  # noqa: SIM115
    if style == "print":
        for i in range(1, count + 1):
            print(f"line {i}", file=out)
    elif style == "print-flush":
        for i in range(1, count + 1):
            print(f"line {i}", file=out, flush=True)
    else:
        write = sys.stdout.buffer.write
        for first in range(1, count + 1, 10_000):
            last = min(first + 10_000, count + 1)
            write(b"".join(b"line %d\n" % i for i in range(first, last)))
        sys.stdout.flush()
    out.flush()


if __name__ == "__main__":
    main()
