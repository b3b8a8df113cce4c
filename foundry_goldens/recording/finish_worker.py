"""The finishing process: ``python -m foundry_goldens.recording.finish_worker``.

Started by the recorder (recording/finishers.py) with jobs arriving on its stdin and results
leaving on its stdout, each a length-prefixed pickle between two processes of this package:

- first the recording's configuration (`Config`, for the snippet's path and the replay
  environment), then `(number, FinishJob)` pairs until stdin closes;
- back: `(number, Finished)` for each job, in order.

Started with ``subprocess``, not multiprocessing: multiprocessing re-imports the caller's
``__main__``, so a team's recording script without an ``if __name__ == "__main__"`` guard would
start recordings recursively. Ctrl-C is the recording process's to handle (it stops this
process itself); a recording process killed outright closes the pipe, and this one ends.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
from typing import IO, Any

from foundry_goldens.cassettes.router import ThreadCassetteRouter
from foundry_goldens.config import activate
from foundry_goldens.recording.finishing import finish

_LENGTH = struct.Struct(">Q")


def write_message(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def read_message(stream: IO[bytes]) -> Any | None:
    """The next message, or None at the end of the stream."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    data = stream.read(length)
    if len(data) < length:
        return None
    return pickle.loads(data)


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(10)
    # Results get stdout's descriptor to themselves; anything printed goes to stderr instead.
    results = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    jobs = sys.stdin.buffer
    config = read_message(jobs)
    if config is None:
        return 0
    activate(config)
    router = ThreadCassetteRouter.for_replay()
    with router.installed():
        while (message := read_message(jobs)) is not None:
            number, job = message
            write_message(results, (number, finish(job, router.replaying)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
