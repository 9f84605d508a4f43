"""The intake service: validate -> trace -> one writer commits batches -> acknowledge.

    service = IntakeService(db, limits, clock=clock, reevaluate=blocklist.reevaluate)
    receipt = await service.submit_report(reporter, raw)      # after COMMIT, never before
    preview = await service.preview(reporter, raw)            # what submitting would do; stores nothing
    receipt = await service.submit_trap_hit(feed_id, raw)
    n = await service.submit_volume(feed_id, [VolumeItem(...), ...])
    service.close()                                            # commits what is queued

Tracing runs in a process pool (`trace_workers`, 0 = in the caller's thread), messages sent
in batches (`intake.tracing`); every store
write goes through the one `Writer`, whose transaction also checks dedupe and the quota so
both hold under concurrency. After a batch committed, the IPs whose evidence changed go to
the `Processor` (post-commit re-evaluation, see `intake.processor`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import multiprocessing
import os
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from mailrep.clock import Clock
from mailrep.errors import NotAllowed, NotMail, OverQuota, TooBig
from mailrep.intake.limits import IntakeLimits
from mailrep.intake.prepare import FLAG_TRACE_FAILED, Prepared, prepare
from mailrep.intake.processor import OnProcessed, Processor, Reevaluate
from mailrep.intake.tracing import Job, TraceBatcher, worker_init
from mailrep.intake.writer import Writer
from mailrep.policy.counting import REASONS, CountFacts, Reason, Verdict, decide_count
from mailrep.roles import DAILY_QUOTA
from mailrep.store import accounts
from mailrep.store import reports as store
from mailrep.store.db import Database

T = TypeVar("T")
QUOTA_WINDOW = timedelta(hours=24)
QUOTA_RECHECK_S = 30.0
TRACE_BATCH = 32  # most messages one trace-pool call carries
GIL_SWITCH_S = 0.0005


@dataclass(frozen=True, slots=True)
class Submitter:
    """Who submits: an account id, its mail hosts, its quota (reporters), whether active and
    whether it has confirmed its mail hosts (then no source of its is a probable forwarder)."""

    account_id: int
    mailhosts: tuple[str, ...] = ()
    daily_quota: int = DAILY_QUOTA
    active: bool = True
    confirmed: bool = False


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the intake answers for a committed report: its id, traced source, tracking URL
    (set by a door that hands one out), whether it was a duplicate of an earlier one, and
    whether it counts as evidence (`policy.counting`: the reason and a sentence when not)."""

    id: int
    source_ip: str | None
    url: str = ""
    duplicate: bool = False
    counted: bool = True
    reason: Reason | None = None
    detail: str = ""

    def with_url(self, url: str) -> Receipt:
        return dataclasses.replace(self, url=url)


def decided_receipt(report_id: int, source_ip: str | None, verdict: Verdict) -> Receipt:
    return Receipt(report_id, source_ip, counted=verdict.counted, reason=verdict.reason, detail=verdict.detail)


def duplicate_receipt(report_id: int, source_ip: str | None) -> Receipt:
    return Receipt(report_id, source_ip, duplicate=True, counted=False, reason=Reason.DUPLICATE,
                   detail=f"already received as report {report_id}; nothing new stored")


@dataclass(frozen=True, slots=True)
class Preview:
    """What submitting a message would do, computed as `submit_report` does and stored nowhere:
    the traced message, the reports the submitter stored in the quota window, and the id of the
    report this message would be a duplicate of."""

    prepared: Prepared
    used: int
    daily_quota: int
    duplicate_of: int | None
    verdict: Verdict  # the counting rule's answer, as the writer would decide it now

    @property
    def over_quota(self) -> bool:
        return self.duplicate_of is None and self.used >= self.daily_quota

    @property
    def would_count(self) -> bool:
        """Sending it would store a new report that counts as evidence."""
        return self.prepared.counted and self.duplicate_of is None and not self.over_quota


@dataclass(frozen=True, slots=True)
class VolumeItem:
    ip: str
    count: int
    start: datetime
    end: datetime


@dataclass(slots=True)
class _Report:
    who: Submitter
    channel: str
    at: datetime
    p: Prepared


@dataclass(slots=True)
class _Trap:
    feed_id: int | None
    at: datetime
    p: Prepared
    trap_address: str | None


@dataclass(slots=True)
class _Volume:
    feed_id: int | None
    at: datetime
    items: list[VolumeItem]


class IntakeService:
    def __init__(self, db: Database, limits: IntakeLimits, *, clock: Clock,
                 reevaluate: Reevaluate | None = None, on_processed: OnProcessed | None = None,
                 executor: Executor | None = None, process: bool = True) -> None:
        self.db = db
        self.limits = limits
        self.clock = clock
        self.writer = Writer(self._commit, batch_size=limits.batch_size, batch_wait=limits.batch_wait,
                             coming=lambda: self._batcher.outstanding)
        self.processor = Processor(db, clock=clock, reevaluate=reevaluate,
                                                on_processed=on_processed) if process else None
        self._executor = executor
        self._own_executor = executor is None
        self._quota: dict[int, tuple[int, float]] = {}  # account -> (count in window, checked)
        workers = max(1, limits.trace_workers)
        self._batcher = TraceBatcher(self._pool_or_raise, self._drop_pool, max_batch=TRACE_BATCH, in_flight=2 * workers)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        # The writer and processor threads give up the GIL at every SQLite call and must get it
        # back quickly; CPython's default 5 ms turn (sys.getswitchinterval) lets a busy event
        # loop (or bulk caller) hold it that long each time, and every waiting report with it.
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_S))
        self.writer.start()
        if self.processor is not None:
            self.processor.start()

    def close(self) -> None:
        self.writer.close()
        if self.processor is not None:
            self.processor.close()
        if self._own_executor and self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _pool(self) -> Executor | None:
        if self.limits.trace_workers <= 0:
            return None
        if self._executor is None:
            ctx = multiprocessing.get_context("spawn")  # never fork a threaded server
            self._executor = ProcessPoolExecutor(self.limits.trace_workers, mp_context=ctx,
                                                 initializer=worker_init,
                                                 initargs=(self.limits.trace_nice, os.getpid()))
        return self._executor

    def _pool_or_raise(self) -> Executor:
        pool = self._pool()
        if pool is None:
            raise RuntimeError("no trace pool (trace_workers = 0)")
        return pool

    def _drop_pool(self, broken: Executor) -> None:
        """A worker of `broken` died: the next call starts a new pool (once per broken pool)."""
        if self._executor is broken:
            self._executor = None
            if self._own_executor:
                broken.shutdown(wait=False, cancel_futures=True)
            self._own_executor = True  # the replacement is ours to shut down

    # -- preparing (trace) -------------------------------------------------------------------

    def prepare_sync(self, raw: bytes, mailhosts: tuple[str, ...], now: datetime) -> Prepared:
        self._check_size(raw)
        return prepare(raw, mailhosts=mailhosts, now=now, keep_bytes=self.limits.keep_bytes)

    async def _prepare(self, raw: bytes, mailhosts: tuple[str, ...], now: datetime) -> Prepared:
        self._check_size(raw)
        job = Job(raw, mailhosts, now, self.limits.keep_bytes)
        if self._pool() is None:
            return job.run()
        return await self._batcher.prepare(job)

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` away from the event loop: in the trace pool (a process, so even C code
        holding the GIL never stalls the loop), or in a thread when trace_workers = 0 or the
        pool broke. `fn` and its arguments must pickle."""
        pool = self._pool()
        if pool is not None:
            try:
                return await asyncio.get_running_loop().run_in_executor(pool, partial(fn, *args))
            except BrokenProcessPool:
                self._drop_pool(pool)
        return await asyncio.to_thread(fn, *args)

    def _check_size(self, raw: bytes) -> None:
        if len(raw) > self.limits.max_bytes:
            raise TooBig(f"the message is {len(raw)} bytes; the limit is {self.limits.max_bytes}")

    # -- submitting --------------------------------------------------------------------------

    async def submit_report(self, who: Submitter, raw: bytes, channel: str = "http") -> Receipt:
        if not who.active:
            raise NotAllowed("this reporter is suspended")
        if self._over_quota_cached(who):
            dup = await asyncio.to_thread(self._find_duplicate, who, raw)
            if dup is None:
                raise OverQuota(f"quota of {who.daily_quota} reports per 24 h reached")
            return dup
        now = self.clock()
        p = await self._prepare(raw, who.mailhosts, now)
        return await asyncio.wrap_future(self.writer.submit(_Report(who, channel, now, p)))

    async def preview(self, who: Submitter, raw: bytes) -> Preview:
        """Trace `raw` with the submitter's mail hosts and decide, as `submit_report` would,
        whether it would count (age), fit the quota or be a duplicate; nothing is stored."""
        if not who.active:
            raise NotAllowed("this reporter is suspended")
        now = self.clock()
        p = await self._prepare(raw, who.mailhosts, now)
        dup = await asyncio.to_thread(self._find_duplicate, who, raw)
        used = await asyncio.to_thread(self._used_quota, who.account_id, now)
        verdict = await asyncio.to_thread(self._verdict, who, p, now)
        return Preview(p, used, who.daily_quota, dup.id if dup else None, verdict)

    def _verdict(self, who: Submitter, p: Prepared, now: datetime) -> Verdict:
        with self.db.read() as conn:
            receivers = store.receivers_of(conn, {ip for ip in (p.source_ip, *p.receiving) if ip})
        return self.decide(count_facts(p, who, receivers), now)

    def _used_quota(self, account_id: int, now: datetime) -> int:
        with self.db.read() as conn:
            return store.count_reports_since(conn, [account_id], now - QUOTA_WINDOW)[account_id]

    def submit_prepared(self, who: Submitter, p: Prepared, now: datetime, channel: str = "http") -> Future[Receipt]:
        """For bulk callers that traced themselves: the future resolves after COMMIT."""
        return self.writer.submit(_Report(who, channel, now, p))

    async def submit_trap_hit(self, feed_id: int | None, raw: bytes, trap_address: str | None = None) -> Receipt:
        now = self.clock()
        p = await self._prepare(raw, self.limits.operator_mailhosts, now)
        return await asyncio.wrap_future(self.writer.submit(_Trap(feed_id, now, p, trap_address)))

    def submit_trap_prepared(self, feed_id: int | None, p: Prepared, now: datetime) -> Future[Receipt]:
        return self.writer.submit(_Trap(feed_id, now, p, None))

    async def submit_volume(self, feed_id: int | None, items: Sequence[VolumeItem]) -> int:
        return await asyncio.wrap_future(self.submit_volume_nowait(feed_id, items))

    def submit_volume_nowait(self, feed_id: int | None, items: Sequence[VolumeItem]) -> Future[int]:
        return self.writer.submit(_Volume(feed_id, self.clock(), list(items)))

    def _over_quota_cached(self, who: Submitter) -> bool:
        """True when the cached count already says "over quota": reject before tracing."""
        cached = self._quota.get(who.account_id)
        return bool(cached and cached[0] >= who.daily_quota
                    and time.monotonic() - cached[1] < QUOTA_RECHECK_S)

    def _find_duplicate(self, who: Submitter, raw: bytes) -> Receipt | None:
        key = store.report_key(who.account_id, hashlib.sha256(raw).hexdigest())
        with self.db.read() as conn:
            found = store.find_reports(conn, [key]).get(key)
        return duplicate_receipt(*found) if found else None

    # -- the writer's transaction ------------------------------------------------------------

    def _commit(self, batch: Sequence[Any]) -> list[Any]:
        results: list[Any] = [None] * len(batch)
        changed_ips: set[str] = set()
        report_ids: list[tuple[int, str | None]] = []
        with self.db.transaction() as conn:
            self._commit_reports(conn, batch, results, report_ids)
            self._commit_traps(conn, batch, results, changed_ips)
            for i, item in enumerate(batch):
                if isinstance(item, _Volume):
                    rows = [{"ip": v.ip, "count": v.count, "period_start": v.start,
                             "period_end": v.end, "feed_account_id": item.feed_id,
                             "received_at": item.at} for v in item.items]
                    results[i] = store.insert_volume(conn, rows)
                    changed_ips.update(v.ip for v in item.items)
        # COMMITTED: from here on the items are durable; post-commit work may start.
        if self.processor is not None:
            self.processor.notify(report_ids, changed_ips)
        return results

    def decide(self, facts: CountFacts, now: datetime) -> Verdict:
        """The counting rule with this intake's limits."""
        return decide_count(facts, now, max_age=self.limits.max_age,
                            forwarder_reporters=self.limits.forwarder_reporters)

    def _commit_reports(self, conn: Any, batch: Sequence[Any], results: list[Any],
                        new: list[tuple[int, str | None]]) -> None:
        idx = [i for i, it in enumerate(batch) if isinstance(it, _Report)]
        if not idx:
            return
        keys = {i: store.report_key(batch[i].who.account_id, batch[i].p.sha256) for i in idx}
        existing = store.find_reports(conn, list(set(keys.values())))
        self._refresh_quota(conn, {batch[i].who.account_id for i in idx}, batch[idx[0]].at)
        receivers = store.receivers_of(conn, {ip for i in idx for ip in (batch[i].p.source_ip, *batch[i].p.receiving)
                                              if ip})
        received: set[tuple[str, int]] = set()
        rows: list[dict[str, Any]] = []
        verdicts: list[Verdict] = []
        row_of: dict[str, int] = {}
        pending: list[tuple[int, str, bool]] = []
        for i in idx:
            item: _Report = batch[i]
            key = keys[i]
            if key in existing:
                results[i] = duplicate_receipt(*existing[key])
                continue
            if key in row_of:  # the same message twice in one batch
                pending.append((i, key, True))
                continue
            who = item.who
            count, checked = self._quota[who.account_id]
            if count >= who.daily_quota:
                results[i] = OverQuota(f"quota of {who.daily_quota} reports per 24 h reached")
                continue
            self._quota[who.account_id] = (count + 1, checked)
            p = item.p
            verdict = self.decide(count_facts(p, who, receivers), item.at)
            received.update((ip, who.account_id) for ip in p.receiving)
            row_of[key] = len(rows)
            pending.append((i, key, False))
            verdicts.append(verdict)
            rows.append({
                "reporter_id": who.account_id, "channel": item.channel, "received_at": item.at,
                "sha256": p.sha256, "raw_z": p.raw_z, "raw_size": p.size,
                "stored_size": min(p.size, self.limits.keep_bytes), "truncated": p.truncated,
                "trace_json": p.trace_json, "source_ip": p.source_ip, "counted": verdict.counted,
                "count_reason": verdict.reason, "flags": with_verdict(p.flags, verdict),
                "state": store.ACCEPTED, "error": None, "dedupe_key": key,
            })
        ids = store.insert_reports(conn, rows)
        store.enqueue(conn, ids)
        store.add_receiving_hosts(conn, received, receivers)
        new.extend((rid, row["source_ip"] if row["counted"] else None) for rid, row in zip(ids, rows, strict=True))
        for i, key, dup in pending:
            r = row_of[key]
            results[i] = (duplicate_receipt(ids[r], rows[r]["source_ip"]) if dup
                          else decided_receipt(ids[r], rows[r]["source_ip"], verdicts[r]))

    def redecide(self, account_id: int, since: datetime) -> list[str]:
        """Trace a reporter's reports received after `since` again with its current mail hosts
        and decide again whether each counts (after its mail hosts changed: `reporter set`,
        PUT /reporter/mailhosts); the IPs whose evidence may have changed (old and new sources).
        Flags the doors added are kept; the trace's and the counting rule's are replaced."""
        with self.db.read() as conn:
            rep = accounts.get_reporter(conn, account_id)
            rows = store.reports_of(conn, account_id, since)
        who = Submitter(account_id, rep.mailhosts, confirmed=rep.mailhosts_confirmed)
        traced: list[tuple[dict[str, Any], Prepared]] = []
        for row in rows:
            try:
                p = self.prepare_sync(zlib.decompress(row["raw_z"]), who.mailhosts, row["received_at"])
            except NotMail:
                continue
            traced.append((row, p))
        changed = {row["source_ip"] for row in rows if row["source_ip"]}
        updates: list[dict[str, Any]] = []
        with self.db.transaction() as conn:
            receivers = store.receivers_of(conn, {ip for _, p in traced for ip in (p.source_ip, *p.receiving) if ip})
            for row, p in traced:
                verdict = self.decide(count_facts(p, who, receivers), row["received_at"])
                old_trace = row["trace_json"] if isinstance(row["trace_json"], dict) else {}
                stale = [*(old_trace.get("flags") or []), *self._decision_flags(row["flags"])]
                kept = [f for f in row["flags"] or [] if f not in stale]
                updates.append({"id": row["id"], "source_ip": p.source_ip, "trace_json": p.trace_json,
                                "counted": verdict.counted, "count_reason": verdict.reason,
                                "flags": with_verdict([*kept, *p.flags], verdict)})
                if p.source_ip:
                    changed.add(p.source_ip)
            store.redecide(conn, updates)
            store.add_receiving_hosts(conn, {(ip, account_id) for _, p in traced for ip in p.receiving}, receivers)
        return sorted(changed)

    @staticmethod
    def _decision_flags(flags: list[dict[str, str]] | None) -> list[dict[str, str]]:
        return [f for f in flags or [] if f.get("code") in REASONS or f.get("code") == FLAG_TRACE_FAILED]

    def _refresh_quota(self, conn: Any, account_ids: set[int], now: datetime) -> None:
        mono = time.monotonic()
        stale = {a for a in account_ids
                 if a not in self._quota or mono - self._quota[a][1] > QUOTA_RECHECK_S}
        if stale:
            counts = store.count_reports_since(conn, stale, now - QUOTA_WINDOW)
            for a, n in counts.items():
                self._quota[a] = (n, mono)

    def _commit_traps(self, conn: Any, batch: Sequence[Any], results: list[Any], changed: set[str]) -> None:
        idx = [i for i, it in enumerate(batch) if isinstance(it, _Trap)]
        if not idx:
            return
        keys = {i: store.trap_key(batch[i].feed_id, batch[i].p.sha256) for i in idx}
        existing = store.find_trap_hits(conn, list(set(keys.values())))
        rows: list[dict[str, Any]] = []
        verdicts: list[Verdict] = []
        row_of: dict[str, int] = {}
        order: list[tuple[int, str, bool]] = []
        for i in idx:
            item: _Trap = batch[i]
            key = keys[i]
            if key in existing:
                results[i] = duplicate_receipt(*existing[key])
                continue
            if key in row_of:
                order.append((i, key, True))
                continue
            p = item.p
            verdict = self.decide(CountFacts(p.source_ip, p.mail_date), item.at)
            row_of[key] = len(rows)
            order.append((i, key, False))
            verdicts.append(verdict)
            rows.append({
                "feed_account_id": item.feed_id, "received_at": item.at, "sha256": p.sha256,
                "raw_z": p.raw_z, "raw_size": p.size, "source_ip": p.source_ip,
                "trace_json": p.trace_json, "trap_address": item.trap_address, "counted": verdict.counted,
                "flags": with_verdict(p.flags, verdict), "dedupe_key": key,
            })
            if p.source_ip and verdict.counted:
                changed.add(p.source_ip)
        ids = store.insert_trap_hits(conn, rows)
        for i, key, dup in order:
            r = row_of[key]
            results[i] = (duplicate_receipt(ids[r], rows[r]["source_ip"]) if dup
                          else decided_receipt(ids[r], rows[r]["source_ip"], verdicts[r]))



def count_facts(p: Prepared, who: Submitter, receivers: dict[str, set[int]]) -> CountFacts:
    """What the counting rule needs about a traced report of `who`; `receivers`: the reporters
    whose traces show each IP receiving their mail (`store.receivers_of`)."""
    others = receivers.get(p.source_ip, set()) if p.source_ip else set()
    return CountFacts(p.source_ip, p.mail_date, who.mailhosts, len(others - {who.account_id}), who.confirmed)


def with_verdict(flags: list[dict[str, str]], verdict: Verdict) -> list[dict[str, str]]:
    """The stored flags: the trace's, plus the counting rule's reason when the report does not count."""
    if verdict.counted or verdict.reason is None:
        return flags
    return [*flags, {"code": str(verdict.reason), "detail": verdict.detail}]
