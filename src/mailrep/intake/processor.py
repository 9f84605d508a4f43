"""Post-commit work, done from what is stored: re-evaluate the IPs whose evidence changed.

The writer queues each report (`report_queue`) in the transaction that stores it and, after
each COMMIT, calls `notify(reports, ips)` with the new reports as (id, source IP or None when
the report does not count) and other changed IPs (trap hits, volume). A thread coalesces
whatever is notified, calls the injected `reevaluate(ips, now)` (the blocklist's) once for the lot and takes the reports
off the queue (they are then `processed`), running the injected `on_processed(conn, report_ids,
now)` hook in that same transaction (the composition root hands in the abuse notifier's
enqueue, so a report's notification is queued exactly when its processing commits); having found work it waits up to `COALESCE_S`
(250 ms) for more (a busy HTTP door commits many small batches: one evaluation round costs
about the same for 20 IPs as for 2,000; nothing waits on this work but the listing itself,
which the DNS side picks up every 2 s anyway). When re-evaluation fails it retries IP by IP
and parks the reports of the IPs that still fail, with the error: a poison item is set aside,
never dropped, and the rest flows on. On start it picks up every report still queued (a crash
between COMMIT and this work loses nothing) and the IPs of recent trap hits and volume, which
carry no state of their own.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from mailrep.store import reports as store
from mailrep.store.db import Database

log = logging.getLogger(__name__)

Reevaluate = Callable[[list[str], datetime], Any]
OnProcessed = Callable[[Connection, list[int], datetime], Any]
RECOVER_WINDOW = timedelta(minutes=15)
MAX_COALESCE = 20_000
COALESCE_S = 0.25
_STOP = object()


class Processor:
    def __init__(self, db: Database, *, clock: Callable[[], datetime],
                 reevaluate: Reevaluate | None = None, on_processed: OnProcessed | None = None) -> None:
        self.db = db
        self.clock = clock
        self.reevaluate = reevaluate  # None: reports are stored and dequeued, not scored
        self.on_processed = on_processed
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="mailrep-processor", daemon=True)
        self._started = False
        self._idle = threading.Condition()
        self._outstanding = 0
        self.processed = 0
        self.parked = 0
        self.errors: list[str] = []

    def start(self) -> None:
        if not self._started:
            self._started = True
            if self._thread.ident is not None:  # started and closed before: a fresh thread
                self._thread = threading.Thread(target=self._run, name=self._thread.name, daemon=True)
            self._recover()
            self._thread.start()

    def close(self, timeout: float = 60.0) -> None:
        if self._started:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._started = False

    def notify(self, reports: Iterable[tuple[int, str | None]], ips: Iterable[str] = ()) -> None:
        reps, more = list(reports), set(ips)
        if not reps and not more:
            return
        with self._idle:
            self._outstanding += 1
        self._queue.put((reps, more))

    def wait_idle(self, timeout: float = 600.0) -> bool:
        """Block until everything notified so far is processed (or parked)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._outstanding == 0, timeout)

    def _recover(self) -> None:
        since = self.clock() - RECOVER_WINDOW
        with self.db.read() as conn:
            ips = set(store.recent_trap_ips(conn, since)) | set(store.recent_volume_ips(conn, since))
        after = 0
        while True:
            with self.db.read() as conn:
                rows = store.queued_reports(conn, after_id=after, limit=MAX_COALESCE)
            if not rows:
                break
            after = rows[-1][0]
            self.notify(rows)
        if ips:
            self.notify([], ips)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            work = [first]
            n = len(first[0])
            stop = False
            until = time.monotonic() + COALESCE_S
            while n < MAX_COALESCE:
                try:
                    nxt = self._queue.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                work.append(nxt)
                n += len(nxt[0])
            reps = [r for w in work for r in w[0]]
            ips = {ip for w in work for ip in w[1]} | {ip for _, ip in reps if ip}
            try:
                self._process(reps, ips)
            except Exception as e:  # the store itself failed: items stay `accepted` for restart
                log.exception("post-commit work failed; %d reports stay accepted", len(reps))
                self.errors.append(f"{type(e).__name__}: {e}")
            finally:
                with self._idle:
                    self._outstanding -= len(work)
                    self._idle.notify_all()
            if stop:
                return

    def _process(self, reps: list[tuple[int, str | None]], ips: set[str]) -> None:
        failed: dict[str, str] = {}
        if self.reevaluate is not None and ips:
            try:
                self.reevaluate(sorted(ips), self.clock())
            except Exception as e:
                log.warning("re-evaluating %d IPs failed (%s); retrying one by one", len(ips), e)
                for ip in sorted(ips):
                    try:
                        self.reevaluate([ip], self.clock())
                    except Exception as e1:
                        failed[ip] = f"{type(e1).__name__}: {e1}"[:1000]
        ok = [rid for rid, ip in reps if ip not in failed]
        with self.db.transaction() as conn:
            store.dequeue(conn, ok)
            if self.on_processed is not None and ok:
                self.on_processed(conn, ok, self.clock())
            for ip, err in failed.items():
                bad = [rid for rid, rip in reps if rip == ip]
                store.park(conn, bad, f"re-evaluating {ip}: {err}")
                self.parked += len(bad)
        self.processed += len(ok)
