"""The trace batcher: one pool call per batch, each message its own result or error."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mailrep.errors import NotMail
from mailrep.intake.prepare import prepare
from mailrep.intake.tracing import Job, TraceBatcher, prepare_batch

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def spam(i: int) -> bytes:
    return (f"Received: from h{i}.example (h{i}.example [45.33.{i // 250}.{i % 250 + 1}])\r\n"
            f"\tby mx.example.net with ESMTP id X{i}; Fri, 27 Nov 2026 11:00:00 +0000\r\n"
            f"Subject: offer {i}\r\n\r\nbuy at http://shop{i}.example.com/ now\r\n").encode()


def job(raw: bytes) -> Job:
    return Job(raw, (), NOW, 50 * 1024)


class CountingPool(Executor):
    """A thread pool that records how many jobs each call carried."""

    def __init__(self) -> None:
        self.inner = ThreadPoolExecutor(2)
        self.sizes: list[int] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.sizes.append(len(args[0]))
        return self.inner.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.inner.shutdown(wait=wait, cancel_futures=cancel_futures)


def test_prepare_batch_returns_each_result_or_error():
    out = prepare_batch([job(spam(1)), job(b"   "), job(spam(2))])
    assert out[0].source_ip == "45.33.0.2" and out[2].source_ip == "45.33.0.3"
    assert isinstance(out[1], NotMail)


def test_many_waiting_messages_share_pool_calls_and_keep_their_own_results():
    pool = CountingPool()
    batcher = TraceBatcher(lambda: pool, lambda p: None, max_batch=8, in_flight=2)
    raws = [spam(i) for i in range(60)] + [b"not a message at all"]

    async def run() -> list[Any]:
        return await asyncio.gather(*(batcher.prepare(job(r)) for r in raws), return_exceptions=True)

    try:
        got = asyncio.run(run())
    finally:
        pool.shutdown()
    assert sum(pool.sizes) == len(raws) and batcher.calls == len(pool.sizes)
    assert len(pool.sizes) < len(raws) and max(pool.sizes) == 8  # batched, never above max_batch
    for r, p in zip(raws[:-1], got[:-1], strict=True):
        expected = prepare(r, now=NOW, keep_bytes=50 * 1024)
        assert (p.sha256, p.source_ip, p.trace) == (expected.sha256, expected.source_ip, expected.trace)
    assert isinstance(got[-1], NotMail)


def test_outstanding_counts_messages_waiting_or_being_traced():
    pool = CountingPool()
    batcher = TraceBatcher(lambda: pool, lambda p: None, max_batch=4, in_flight=1)
    seen: list[int] = []

    async def run() -> None:
        tasks = [asyncio.ensure_future(batcher.prepare(job(spam(i)))) for i in range(10)]
        await asyncio.sleep(0)
        seen.append(batcher.outstanding)  # 4 in the call that is out, 6 waiting
        await asyncio.gather(*tasks)
        seen.append(batcher.outstanding)

    try:
        asyncio.run(run())
    finally:
        pool.shutdown()
    assert seen == [10, 0]


def test_a_lone_message_goes_at_once():
    pool = CountingPool()
    batcher = TraceBatcher(lambda: pool, lambda p: None)
    try:
        p = asyncio.run(batcher.prepare(job(spam(7))))
    finally:
        pool.shutdown()
    assert p.source_ip == "45.33.0.8" and pool.sizes == [1]


class BrokenPool(Executor):
    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        f: Future[Any] = Future()
        f.set_exception(BrokenProcessPool("a worker died"))
        return f


def test_a_broken_pool_is_dropped_and_the_batch_traced_anyway():
    broken = BrokenPool()
    dropped: list[Executor] = []
    batcher = TraceBatcher(lambda: broken, dropped.append)

    async def run() -> list[Any]:
        return await asyncio.gather(*(batcher.prepare(job(spam(i))) for i in range(5)))

    got = asyncio.run(run())
    assert [p.source_ip for p in got] == [f"45.33.0.{i + 1}" for i in range(5)]
    assert dropped and all(d is broken for d in dropped)


def test_a_failing_pool_fails_its_messages_not_the_batcher():
    class Shut(Executor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
            raise RuntimeError("cannot schedule new futures after shutdown")

    batcher = TraceBatcher(lambda: Shut(), lambda p: None)

    async def run() -> Any:
        with pytest.raises(RuntimeError):
            await batcher.prepare(job(spam(1)))
        return batcher._out

    assert asyncio.run(run()) == 0


def _niceness() -> int:
    return os.nice(0)


@pytest.mark.skipif(not hasattr(os, "nice"), reason="no process priorities on this platform")
@pytest.mark.parametrize("nice", [0, 10])
def test_the_service_trace_pool_runs_at_the_configured_niceness(tmp_path, nice):
    from mailrep.intake.limits import IntakeLimits
    from mailrep.intake.service import IntakeService
    from mailrep.store.db import Database

    db = Database(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    service = IntakeService(db, IntakeLimits(trace_workers=1, trace_nice=nice),
                            clock=lambda: datetime.now(UTC), process=False)
    try:
        pool = service._pool()
        assert pool is not None
        assert pool.submit(_niceness).result(60) == min(19, os.nice(0) + nice)
    finally:
        service.close()
        db.dispose()


def test_trace_nice_is_read_from_the_intake_settings():
    from mailrep.errors import BadInput
    from mailrep.intake.limits import IntakeLimits

    assert IntakeLimits.from_section({}).trace_nice == 10
    assert IntakeLimits.from_section({"trace_nice": 0}).trace_nice == 0
    assert IntakeLimits.from_section({"trace_nice": 40}).trace_nice == 19
    with pytest.raises(BadInput):
        IntakeLimits.from_section({"trace_nice": "high"})


_POOL_OWNER = """
import os, sys, time
from datetime import UTC, datetime
from mailrep.intake.limits import IntakeLimits
from mailrep.intake.service import IntakeService
from mailrep.store.db import Database

service = IntakeService(Database(f"sqlite:///{sys.argv[1]}"), IntakeLimits(trace_workers=2),
                        clock=lambda: datetime.now(UTC), process=False)
pool = service._pool()
futures = [pool.submit(time.sleep, 0.2) for _ in range(4)]
[f.result() for f in futures]
print(" ".join(str(pid) for pid in pool._processes), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status  # a zombie has exited (its reaper may be slow)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_trace_workers_end_when_the_server_is_killed(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", _POOL_OWNER, str(tmp_path / "m.sqlite3")],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        pids = [int(p) for p in owner.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
    finally:
        owner.kill()  # SIGKILL: no shutdown, no atexit
        owner.wait(30)
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids), "trace workers outlived their server"
