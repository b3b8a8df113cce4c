"""Where finished recordings are written and replayed: a thread, or a process of their own.

Finishing (recording/finishing.py) is pure CPU. On a thread of the recording process it holds
the interpreter lock the recording threads need to send their next requests: at concurrency 15
it is a third of that lock's time, and the recording slots wait on it rather than on the
service. In a process of its own (recording/finish_worker.py) it runs on another core, beside
the recording rather than between its requests. Its start-up (imports, about 3 s of CPU on the
other core) pays off from a few dozen dialogues; a run of fewer keeps the thread.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Literal, Protocol

import foundry_goldens
from foundry_goldens.cassettes.router import ThreadCassetteRouter
from foundry_goldens.config import Config
from foundry_goldens.recording.finish_worker import read_message, write_message
from foundry_goldens.recording.finishing import Finished, FinishJob, finish

FinisherKind = Literal["auto", "thread", "process"]
# "auto" finishes in a process of its own from this many dialogues on.
PROCESS_FROM_DIALOGUES = 16
_STDERR_LINES_KEPT = 20


class Finisher(Protocol):
    def submit(self, job: FinishJob) -> Future[Finished]: ...

    def close(self, cancel: bool = False) -> None: ...


class ThreadFinisher:
    """One thread of the recording process, replaying on the recording's router."""

    def __init__(self, router: ThreadCassetteRouter) -> None:
        self._router = router
        self._pool = ThreadPoolExecutor(1, "finish")

    def submit(self, job: FinishJob) -> Future[Finished]:
        return self._pool.submit(finish, job, self._router.replaying)

    def close(self, cancel: bool = False) -> None:
        self._pool.shutdown(wait=True, cancel_futures=cancel)


class ProcessFinisher:
    """``python -m foundry_goldens.recording.finish_worker``, fed jobs over a pipe.

    A job the process cannot take or finish (it exited, or was stopped) comes back `failed`
    with the reason and the end of what the process wrote to stderr.
    """

    def __init__(self, config: Config) -> None:
        # The same package as this process, wherever it was imported from.
        package_parent = str(Path(foundry_goldens.__file__).resolve().parent.parent)
        path = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "foundry_goldens.recording.finish_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path},
        )
        self._jobs: IO[bytes] = self._channel(self._process.stdin)
        self._lock = threading.Lock()
        self._pending: dict[int, Future[Finished]] = {}
        self._numbers = itertools.count()
        self._gone: str | None = None  # why no job can be finished any more
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES_KEPT)
        self._stderr_reader = threading.Thread(
            target=self._read_stderr, name="finish-stderr", daemon=True
        )
        self._results_reader = threading.Thread(
            target=self._read_results, name="finish-results", daemon=True
        )
        self._queue: queue.SimpleQueue[tuple[int, FinishJob] | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_jobs, name="finish-jobs", daemon=True)
        self._stderr_reader.start()
        self._results_reader.start()
        with contextlib.suppress(OSError):  # an early exit is reported by the results reader
            write_message(self._jobs, config)
        self._writer.start()

    @staticmethod
    def _channel(stream: IO[bytes] | None) -> IO[bytes]:
        if stream is None:
            raise RuntimeError("the finisher process was started without its pipes")
        return stream

    def submit(self, job: FinishJob) -> Future[Finished]:
        """Queue the job; a recording thread never waits for the pipe (it fills while the
        process starts or works)."""
        future: Future[Finished] = Future()
        with self._lock:
            gone = self._gone
            if gone is None:
                number = next(self._numbers)
                self._pending[number] = future
                self._queue.put((number, job))
        if gone is not None:
            future.set_result(Finished("failed", gone))
        return future

    def _write_jobs(self) -> None:
        while (item := self._queue.get()) is not None:
            number, job = item
            try:
                write_message(self._jobs, (number, job))
            except OSError:  # the process ended: its results reader fails what is pending
                pass
            except Exception as exc:  # this job cannot be handed over (not picklable)
                with self._lock:
                    future = self._pending.pop(number, None)
                if future is not None:
                    reason = f"could not be handed to the finishing process: {exc}"
                    future.set_result(Finished("failed", reason))
        with contextlib.suppress(OSError):
            self._jobs.close()  # end of jobs: the process finishes them and exits

    def _read_results(self) -> None:
        results = self._channel(self._process.stdout)
        problem = ""
        try:
            while (message := read_message(results)) is not None:
                number, finished = message
                with self._lock:
                    future = self._pending.pop(number)
                future.set_result(finished)
        except Exception as exc:  # a garbled result: stop trusting the channel
            problem = f" ({type(exc).__name__}: {exc})"
            self._process.kill()
        code = self._process.wait()
        self._stderr_reader.join(timeout=5)
        with self._lock:
            self._gone = f"the finishing process ended (exit code {code}){problem}"
            tail = self._stderr_tail()
            if tail:
                self._gone += f"; it wrote: {tail}"
            orphans = list(self._pending.values())
            self._pending.clear()
        for future in orphans:
            future.set_result(Finished("failed", self._gone))

    def _read_stderr(self) -> None:
        for line in self._channel(self._process.stderr):
            self._stderr.append(line.decode("utf-8", "replace").rstrip())

    def _stderr_tail(self) -> str:
        lines = [line for line in self._stderr if line]
        return " | ".join(lines[-3:])

    def close(self, cancel: bool = False) -> None:
        """Wait for the jobs handed over, then let the process end; `cancel` stops it now."""
        if cancel:
            self._process.kill()
        self._queue.put(None)
        self._writer.join()
        self._results_reader.join()


@contextlib.contextmanager
def finisher_for(
    kind: FinisherKind, dialogues: int, router: ThreadCassetteRouter, config: Config
) -> Iterator[Finisher]:
    """The finisher for a run of `dialogues`; stopped without waiting if the run is
    interrupted."""
    if kind == "auto":
        kind = "process" if dialogues >= PROCESS_FROM_DIALOGUES else "thread"
    finisher: Finisher = ProcessFinisher(config) if kind == "process" else ThreadFinisher(router)
    try:
        yield finisher
    except BaseException:
        finisher.close(cancel=True)
        raise
    finisher.close()
