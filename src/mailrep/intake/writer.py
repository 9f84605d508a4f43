"""The one writer: a thread that commits queued items in batches (group commit).

Callers `submit(item)` and get a `concurrent.futures.Future`; the writer takes up to
`batch_size` items, hands the batch to `commit(batch) -> list[result | MailrepError]` which
runs ONE transaction, and only after that transaction committed resolves each future with
its result (or its per-item error). If the commit itself raises, every future of the batch fails with `StorageError`:
nothing of it was acknowledged. Async code awaits `asyncio.wrap_future(future)`.

How long a batch waits to fill: it takes what is queued; then, while `coming()` (the number
of items on their way, e.g. being traced) is above zero, it waits for them up to `batch_wait`
seconds after its first item. A lone report on an idle server is committed at once; under
load, items that finish tracing a few milliseconds apart share one transaction instead of
paying one each (one commit, one dedupe query, one quota check). Without `coming`, the writer
waits `batch_wait` for a second item only.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from mailrep.errors import MailrepError, StorageError

log = logging.getLogger(__name__)

CommitFn = Callable[[Sequence[Any]], Sequence[Any]]
_STOP = object()


class Writer:
    def __init__(self, commit: CommitFn, *, batch_size: int = 500, batch_wait: float = 0.002,
                 coming: Callable[[], int] | None = None, name: str = "mailrep-writer") -> None:
        self._commit = commit
        self._coming = coming
        self._batch_size = batch_size
        self._batch_wait = batch_wait
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self._closed = False
        self._lock = threading.Lock()
        self.batches = 0
        self.items = 0

    def start(self) -> None:
        """Start the thread (again, after a close: an app's lifespan may run more than once)."""
        with self._lock:
            if self._closed:
                self._closed = False
                self._started = False
                self._thread = threading.Thread(target=self._run, name=self._thread.name, daemon=True)
            if not self._started:
                self._started = True
                self._thread.start()

    def submit(self, item: Any) -> Future[Any]:
        if self._closed:
            raise StorageError("the writer is shut down")
        if not self._started:
            self.start()
        fut: Future[Any] = Future()
        self._queue.put((item, fut))
        return fut

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            started = self._started
        if started:
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _take(self) -> tuple[list[tuple[Any, Future[Any]]], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch = [first]
        until = time.monotonic() + self._batch_wait
        while len(batch) < self._batch_size:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                left = until - time.monotonic()
                if left <= 0 or not self._worth_waiting(len(batch)):
                    break
                try:
                    nxt = self._queue.get(timeout=left)
                except queue.Empty:
                    break
            if nxt is _STOP:
                return batch, True
            batch.append(nxt)
        return batch, False

    def _worth_waiting(self, have: int) -> bool:
        if self._coming is None:
            return have == 1
        return self._coming() > 0

    def _run(self) -> None:
        while True:
            batch, stop = self._take()
            live = [(item, fut) for item, fut in batch if fut.set_running_or_notify_cancel()]
            if live:
                self._commit_batch(live)
            if stop:
                return

    def _commit_batch(self, batch: list[tuple[Any, Future[Any]]]) -> None:
        items = [item for item, _ in batch]
        try:
            results = list(self._commit(items))
            if len(results) != len(items):
                raise StorageError(f"commit returned {len(results)} results for {len(items)} items")
        except Exception as e:  # the transaction rolled back: nothing is acknowledged
            log.exception("writer: batch of %d failed", len(items))
            err = e if isinstance(e, StorageError) else StorageError(f"store failed: {type(e).__name__}")
            for _, fut in batch:
                fut.set_exception(err)
            return
        self.batches += 1
        self.items += len(items)
        for (_, fut), result in zip(batch, results, strict=True):
            if isinstance(result, MailrepError):
                fut.set_exception(result)
            else:
                fut.set_result(result)
