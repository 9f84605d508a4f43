"""Tracing in the process pool, in batches: one pool call carries every message waiting.

    batcher = TraceBatcher(pool_of, drop_pool, max_batch=32, in_flight=4)
    p = await batcher.prepare(Job(raw, mailhosts, now, keep_bytes))

A pool call costs the event loop's process a pickle, a pipe write and a wake-up each way,
whatever it carries; under load one call per message makes that process, not the tracing,
the limit. So calls are made per batch: while `in_flight` calls are out, new messages queue,
and the next call takes up to `max_batch` of them. An idle server still sends a lone message
at once (no waiting to fill a batch). Each message gets its own result or its own error
(`NotMail` for one message does not fail its neighbours). When a worker dies
(`BrokenProcessPool`) the batch is traced in a thread instead and `drop_pool(pool)` is told,
so the next call gets a new pool from `pool_of()`.

The pool's processes start with `worker_init(nice)`: they run at a lower priority than the
server. Tracing is throughput work that can wait a few milliseconds; the server's own threads
(event loop, the one writer, the post-commit processor) are the path every acknowledgement
waits on, and each holds the database write lock while it runs. On a machine with as many
busy workers as cores, equal priority leaves those threads queueing for a core, the lock held
meanwhile; at niceness 10 a tracer gives way whenever the server has work (500,000 reports
through the intake on 2 cores: about 10% less wall time, see BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime

from mailrep.intake.prepare import Prepared, prepare

PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass(frozen=True, slots=True)
class Job:
    raw: bytes
    mailhosts: tuple[str, ...]
    now: datetime
    keep_bytes: int

    def run(self) -> Prepared:
        return prepare(self.raw, mailhosts=self.mailhosts, now=self.now, keep_bytes=self.keep_bytes)


def worker_init(nice: int, parent: int | None = None) -> None:
    """Process-pool initializer: lower this worker's priority by `nice` (0: leave it), and on
    Linux have the kernel end the worker when `parent` (the server's pid) dies. A pool worker
    holds its own end of the task pipe, so a server killed with SIGKILL would otherwise leave
    its workers waiting on that pipe for ever."""
    if nice > 0 and hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(nice)
    if parent is not None and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the server died before the kernel was told: go now
            os._exit(0)


def prepare_batch(jobs: Sequence[Job]) -> list[Prepared | Exception]:
    """Run in a worker: each job's `Prepared`, or the exception it raised (returned, not raised)."""
    out: list[Prepared | Exception] = []
    for job in jobs:
        try:
            out.append(job.run())
        except Exception as e:
            out.append(e)
    return out


class TraceBatcher:
    def __init__(self, pool_of: Callable[[], Executor], drop_pool: Callable[[Executor], None], *,
                 max_batch: int = 32, in_flight: int = 4) -> None:
        self._pool_of = pool_of
        self._drop_pool = drop_pool
        self.max_batch = max(1, max_batch)
        self.in_flight = max(1, in_flight)
        self._waiting: deque[tuple[Job, asyncio.Future[Prepared]]] = deque()
        self._out = 0
        self._tracing = 0  # messages in calls that are out
        self.calls = 0  # pool calls made (for tests and figures)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def outstanding(self) -> int:
        """Messages waiting for a call or being traced (read from other threads: a hint)."""
        return len(self._waiting) + self._tracing

    async def prepare(self, job: Job) -> Prepared:
        fut: asyncio.Future[Prepared] = asyncio.get_running_loop().create_future()
        self._waiting.append((job, fut))
        if self._out < self.in_flight:
            self._launch()
        return await fut

    def _launch(self) -> None:
        n = min(self.max_batch, len(self._waiting))
        batch = [self._waiting.popleft() for _ in range(n)]
        batch = [(job, fut) for job, fut in batch if not fut.cancelled()]
        if not batch:
            return
        self._out += 1
        self._tracing += len(batch)
        self.calls += 1
        task = asyncio.ensure_future(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[Job, asyncio.Future[Prepared]]]) -> None:
        jobs = [job for job, _ in batch]
        loop = asyncio.get_running_loop()
        try:
            pool = self._pool_of()
            try:
                results: list[Prepared | Exception] = await loop.run_in_executor(pool, prepare_batch, jobs)
            except BrokenProcessPool:  # a worker died (OOM, signal): trace here, new pool next time
                self._drop_pool(pool)
                results = await asyncio.to_thread(prepare_batch, jobs)
        except Exception as e:  # the pool itself failed (e.g. shut down): every message fails
            results = [e] * len(jobs)
        finally:
            self._out -= 1
            self._tracing -= len(jobs)
        for (_, fut), r in zip(batch, results, strict=True):
            if fut.done():
                continue
            if isinstance(r, Exception):
                fut.set_exception(r)
            else:
                fut.set_result(r)
        while self._waiting and self._out < self.in_flight:
            self._launch()
