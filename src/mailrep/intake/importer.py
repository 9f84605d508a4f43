"""Bulk import of stored mail (mbox, Maildir, .eml) into the same durable intake path.

    importer = Importer(service, db, owner_id=..., channel="user", mailhosts=(...))
    summary = importer.run(sources, on_progress=lambda n_done, n_new: ...)

Idempotent and resumable: each message's sha256 is looked up (in batches) before it is traced,
so re-running an import, or resuming one that was interrupted, skips what is stored already and
stores nothing twice (the store's dedupe key is per reporter and sha256). Tracing runs in a
process pool; storing goes through the intake service's one writer (acknowledged after COMMIT).
The operator runs imports, so the reporter's daily quota does not apply to them.

Channels: `user` -> reports of channel `import`; `fbl` -> reports of channel `fbl`;
`trap` -> trap hits of the feed account.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from mailrep.clock import Clock
from mailrep.errors import BadInput, MailrepError, NotMail, StorageError
from mailrep.intake.mailbox import MailItem, Source
from mailrep.intake.prepare import Prepared, prepare
from mailrep.intake.service import IntakeService, Submitter
from mailrep.store import reports as store
from mailrep.store.db import Database

CHANNELS = {"user": "import", "fbl": "fbl", "trap": "trap"}
LOOKUP_BATCH = 256
MAX_IN_FLIGHT = 1024
TRACE_CHUNK = 32
NO_QUOTA = 10**12


@dataclass
class Summary:
    seen: int = 0
    imported: int = 0
    counted: int = 0
    not_counted: Counter[str] = field(default_factory=Counter)  # by reason (policy.counting)
    duplicates: int = 0
    untraceable: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"seen": self.seen, "imported": self.imported, "counted": self.counted,
                "not_counted": dict(self.not_counted), "duplicates": self.duplicates,
                "untraceable": dict(self.untraceable), "rejected": dict(self.rejected),
                "errors": list(self.errors)}


def untraceable_reason(p: Prepared) -> str | None:
    """Why a stored message has no source IP (None when it has one)."""
    if p.source_ip:
        return None
    trace = p.trace
    source = trace.get("source")
    reason = source.get("reason") if isinstance(source, dict) else None
    if not reason and trace.get("error"):
        reason = "trace failed"
    return str(reason or "no source found")[:120]


def _prepare_many(chunk: list[tuple[Any, ...]]) -> list[Prepared | MailrepError]:
    """Trace a chunk of messages (in a worker process); per-message errors are returned."""
    out: list[Prepared | MailrepError] = []
    for raw, mailhosts, now, keep_bytes in chunk:
        try:
            out.append(prepare(raw, mailhosts=mailhosts, now=now, keep_bytes=keep_bytes))
        except MailrepError as e:
            out.append(e)
    return out


class Importer:
    def __init__(self, service: IntakeService, db: Database, *, owner_id: int, channel: str = "user",
                 mailhosts: tuple[str, ...] = (), clock: Clock,
                 workers: int | None = None) -> None:
        if channel not in CHANNELS:
            raise BadInput(f"unknown channel {channel!r} (one of {', '.join(CHANNELS)})")
        self.service = service
        self.db = db
        self.owner_id = owner_id
        self.channel = channel
        self.trap = channel == "trap"
        self.mailhosts = service.limits.operator_mailhosts if self.trap else mailhosts
        self.clock = clock
        self.workers = service.limits.trace_workers if workers is None else workers
        self.who = Submitter(owner_id, self.mailhosts, NO_QUOTA, True)

    def key(self, sha: str) -> str:
        return store.trap_key(self.owner_id, sha) if self.trap else store.report_key(self.owner_id, sha)

    def _stored(self, keys: list[str]) -> set[str]:
        with self.db.read() as conn:
            found = store.find_trap_hits(conn, keys) if self.trap else store.find_reports(conn, keys)
        return set(found)

    def _batches(self, items: Iterable[MailItem]) -> Iterator[list[tuple[MailItem, str]]]:
        batch: list[tuple[MailItem, str]] = []
        for item in items:
            batch.append((item, hashlib.sha256(item.raw).hexdigest()))
            if len(batch) >= LOOKUP_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def run(self, sources: Iterable[Source], on_progress: Callable[[int], None] | None = None) -> Summary:
        """Import every message; `on_progress(n)` after each n messages are settled."""
        summary = Summary()
        pool: Executor | None = None
        if self.workers > 0:
            pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        pending: list[tuple[list[tuple[Any, ...]], Any]] = []
        stored: list[tuple[Prepared, Future[Any]]] = []
        tick = on_progress or (lambda n: None)
        limits = self.service.limits
        try:
            for source in sources:
                for batch in self._batches(source):
                    summary.seen += len(batch)
                    known = self._stored([self.key(sha) for _, sha in batch])
                    now = self.clock()
                    fresh: list[tuple[Any, ...]] = []
                    for item, sha in batch:
                        if self.key(sha) in known:
                            summary.duplicates += 1
                            tick(1)
                        elif len(item.raw) > limits.max_bytes:
                            summary.rejected[f"larger than {limits.max_bytes} bytes"] += 1
                            tick(1)
                        else:
                            fresh.append((item.raw, self.mailhosts, now, limits.keep_bytes))
                    for i in range(0, len(fresh), TRACE_CHUNK):
                        chunk = fresh[i:i + TRACE_CHUNK]
                        pending.append((chunk, self._trace(pool, chunk)))
                    if sum(len(c) for c, _ in pending) >= MAX_IN_FLIGHT:
                        self._store(pending, stored, summary, tick)
                        pending = []
            self._store(pending, stored, summary, tick)
            self._settle(stored, summary, tick)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        return summary

    @staticmethod
    def _trace(pool: Executor | None, chunk: list[tuple[Any, ...]]) -> Any:
        if pool is not None:
            try:
                return pool.submit(_prepare_many, chunk)
            except BrokenProcessPool:  # trace here instead; lose nothing
                pass
        return _prepare_many(chunk)

    def _store(self, pending: list[tuple[list[tuple[Any, ...]], Any]],
               stored: list[tuple[Prepared, Future[Any]]], summary: Summary,
               tick: Callable[[int], None]) -> None:
        now = self.clock()
        for chunk, got in pending:
            if isinstance(got, Future):
                try:
                    got = got.result()
                except Exception:  # a dead worker: trace the chunk here, never lose it
                    got = _prepare_many(chunk)
            for one in got:
                if isinstance(one, MailrepError):
                    summary.rejected["not mail" if isinstance(one, NotMail) else one.message[:80]] += 1
                    tick(1)
                    continue
                fut = (self.service.submit_trap_prepared(self.owner_id, one, now) if self.trap
                       else self.service.submit_prepared(self.who, one, now, channel=CHANNELS[self.channel]))
                stored.append((one, fut))
        if len(stored) >= MAX_IN_FLIGHT:
            self._settle(stored, summary, tick)

    @staticmethod
    def _settle(stored: list[tuple[Prepared, Future[Any]]], summary: Summary, tick: Callable[[int], None]) -> None:
        for p, fut in stored:
            try:
                receipt = fut.result()
            except StorageError:
                raise
            except MailrepError as e:
                summary.rejected[e.message[:80]] += 1
                tick(1)
                continue
            if receipt.duplicate:
                summary.duplicates += 1
            else:
                summary.imported += 1
                if receipt.counted:
                    summary.counted += 1
                else:
                    summary.not_counted[str(receipt.reason)] += 1
                reason = untraceable_reason(p)
                if reason:
                    summary.untraceable[reason] += 1
            tick(1)
        stored.clear()
