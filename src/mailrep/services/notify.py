"""Abuse notification: who to tell about a spam source, and telling them.

    contacts = AbuseContacts(db, config, clock)       # override > cache > RDAP (at most once
    found = await contacts.resolve("203.0.113.9")      #   per network per TTL)
    notifier = Notifier(db, contacts, config, clock)
    notifier.enqueue(conn, report_ids, now)            # the processor's hook, in its transaction
    await notifier.run()                               # the worker (`mailrep serve`)

The worker takes due outbox items in batches, resolves their sources' networks with bounded
concurrency, and per network mode sends one ARF per report (`full`), holds the item for the
next daily digest (`digest`) or drops it (`none`, or no abuse address). A failure to ask RDAP
or to send is retried with exponential backoff up to `max_attempts`; a 5xx answer is a bounce,
recorded and not retried. An item is marked sent in the transaction after the smarthost took
it: after a crash an item is either sent and marked or retried. (The window between the
smarthost's 250 and that commit is RFC 5321's duplicate window; the Message-ID derived from the
report id lets a receiver drop such a copy.) Traps are never notified: their hits are not
reports, so nothing can reveal a trap.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy.engine import Connection

from mailrep.clock import Clock
from mailrep.errors import BadInput, MailrepError, NotFound
from mailrep.net import canonical_ip
from mailrep.outbound.arf import ReportFacts, build_arf
from mailrep.outbound.digest import DigestLine, build_digest
from mailrep.outbound.rdap import NoServer, RdapError
from mailrep.outbound.rdap_client import IANA_BOOTSTRAP, RdapClient, RdapUnavailable
from mailrep.outbound.smarthost import SendError, Smarthost
from mailrep.ratelimit import RateLimited, TokenBucket
from mailrep.store import accounts as accounts_store
from mailrep.store import notify as store
from mailrep.store import reports as reports_store
from mailrep.store.db import Database
from mailrep.store.tables import NOTIFY_MODES
from mailrep.trace.trace import trace_message
from mailrep.trace.trust import TrustConfig

log = logging.getLogger(__name__)

BATCH = 200
MAX_BACKOFF = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """The `[notify]` table."""

    enabled: bool = False
    smarthost: str = ""
    sender: str = ""
    starttls: bool = False
    username: str = ""
    password: str = ""
    rdap_bootstrap: tuple[str, ...] = IANA_BOOTSTRAP
    cache_ttl: timedelta = timedelta(days=7)
    negative_ttl: timedelta = timedelta(days=1)
    concurrency: int = 4
    timeout: float = 10.0
    max_attempts: int = 8
    retry_base: timedelta = timedelta(minutes=1)
    rate_per_recipient: int = 100  # mails per hour to one address
    default_mode: str = "full"
    poll_s: float = 2.0
    site_url: str = ""

    KEYS: ClassVar[frozenset[str]] = frozenset({
        "enabled", "smarthost", "from", "starttls", "username", "password", "rdap_bootstrap",
        "cache_ttl_days", "negative_ttl_hours", "concurrency", "timeout", "max_attempts",
        "retry_seconds", "rate_per_recipient", "default_mode", "poll_seconds"})

    @classmethod
    def from_section(cls, section: Mapping[str, Any], *, site_url: str = "",
                     zone_base: str = "mailrep.test") -> NotifyConfig:
        unknown = set(section) - cls.KEYS
        if unknown:
            raise BadInput(f"[notify]: unknown keys {', '.join(sorted(unknown))}")
        boot = section.get("rdap_bootstrap", IANA_BOOTSTRAP)
        mode = str(section.get("default_mode", "full"))
        if mode not in NOTIFY_MODES:
            raise BadInput(f"[notify] default_mode must be one of {', '.join(NOTIFY_MODES)}")
        cfg = cls(
            enabled=bool(section.get("enabled", False)), smarthost=str(section.get("smarthost", "")),
            sender=str(section.get("from") or f"abuse-reports@{zone_base}"),
            starttls=bool(section.get("starttls", False)), username=str(section.get("username", "")),
            password=str(section.get("password", "")),
            rdap_bootstrap=(boot,) if isinstance(boot, str) else tuple(str(b) for b in boot),
            cache_ttl=timedelta(days=float(section.get("cache_ttl_days", 7))),
            negative_ttl=timedelta(hours=float(section.get("negative_ttl_hours", 24))),
            concurrency=max(1, int(section.get("concurrency", 4))), timeout=float(section.get("timeout", 10.0)),
            max_attempts=max(1, int(section.get("max_attempts", 8))),
            retry_base=timedelta(seconds=float(section.get("retry_seconds", 60))),
            rate_per_recipient=max(1, int(section.get("rate_per_recipient", 100))), default_mode=mode,
            poll_s=float(section.get("poll_seconds", 2.0)), site_url=site_url,
        )
        if cfg.enabled and not cfg.smarthost:
            raise BadInput("[notify] enabled = true needs smarthost = \"host:port\"")
        return cfg

    def smarthost_client(self) -> Smarthost:
        return Smarthost.parse(self.smarthost, starttls=self.starttls, username=self.username,
                               password=self.password, timeout=self.timeout * 3)


@dataclass(frozen=True, slots=True)
class Resolution:
    """Who to tell about an address, and how: the network, its abuse addresses, the mode and
    where the addresses came from (`override`, `cache`, `rdap`)."""

    ip: str
    network: str
    emails: tuple[str, ...]
    mode: str
    origin: str
    name: str = ""
    registry: str = ""
    server: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


class AbuseContacts:
    def __init__(self, db: Database, config: NotifyConfig, clock: Clock, *, rdap: RdapClient | None = None) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self._rdap = rdap
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    @property
    def rdap(self) -> RdapClient:
        if self._rdap is None:
            self._rdap = RdapClient(self.config.rdap_bootstrap, clock=self.clock, timeout=self.config.timeout)
        return self._rdap

    async def aclose(self) -> None:
        if self._rdap is not None:
            await self._rdap.aclose()

    def _read(self, fn: Any, *args: Any) -> Any:
        with self.db.read() as conn:
            return fn(conn, *args)

    async def _contact(self, ip: str) -> tuple[store.Contact, str]:
        hit = await asyncio.to_thread(self._read, store.cached, ip, self.clock())
        if hit is not None:
            return hit, "cache"
        entry, _ = (await self.rdap.bootstrap()).match(ip)
        async with self._locks[str(entry)]:  # one question per registry block at a time
            hit = await asyncio.to_thread(self._read, store.cached, ip, self.clock())
            if hit is not None:
                return hit, "cache"
            answer = await self.rdap.lookup(ip)
            now = self.clock()
            if answer is None:
                start = end = ip
                contact = store.Contact(ip, (), fetched_at=now, expires_at=now + self.config.negative_ttl)
                handle = ""
            else:
                net = answer.network
                start, end, handle = net.start, net.end, net.handle
                ttl = self.config.cache_ttl if answer.emails else self.config.negative_ttl
                contact = store.Contact(net.cidr, answer.emails, net.name, net.registry, answer.server, now, now + ttl)

            def put() -> None:
                with self.db.transaction() as conn:
                    store.put_contact(conn, start=start, end=end, network=contact.network, emails=contact.emails,
                                      name=contact.name, handle=handle, registry=contact.registry,
                                      server=contact.server, fetched_at=now, expires_at=contact.expires_at or now)

            await asyncio.to_thread(put)
            return contact, "rdap"

    async def resolve(self, ip: str) -> Resolution:
        """Raises `RdapUnavailable` (retry later), `RdapError`, `NoServer`, `BadInput`."""
        ip = canonical_ip(ip)  # BadInput (BadIP) when it is not an address
        override = await asyncio.to_thread(self._read, store.override_for, ip)
        if override is not None and (override.emails or override.mode == "none"):
            return Resolution(ip, override.network, override.emails, override.mode, "override",
                              notes=(f"override: {override.reason}",) if override.reason else ())
        contact, origin = await self._contact(ip)
        mode = override.mode if override is not None else self.config.default_mode
        notes = (f"mode {mode} set for {override.network}",) if override is not None else ()
        return Resolution(ip, contact.network, contact.emails, mode, origin, contact.name, contact.registry,
                          contact.server, notes)

    def set_override(self, cidr: str, target: str, *, mode: str | None, reason: str = "") -> store.Override:
        """`target`: e-mail addresses (comma separated), `none` (never notify) or `rdap`."""
        if target == "none":
            emails: list[str] = []
            mode = "none"
        elif target == "rdap":
            emails = []
        else:
            emails = [a.strip() for a in target.split(",") if a.strip()]
            if not emails or not all("@" in a for a in emails):
                raise BadInput(f"not an e-mail address, `none` or `rdap`: {target!r}")
        with self.db.transaction() as conn:
            return store.set_override(conn, cidr, emails=emails, mode=mode or self.config.default_mode,
                                      now=self.clock(), reason=reason)

    def delete_override(self, cidr: str) -> None:
        with self.db.transaction() as conn:
            store.delete_override(conn, cidr)

    def overrides(self) -> list[store.Override]:
        with self.db.read() as conn:
            return store.overrides(conn)


class Notifier:
    def __init__(self, db: Database, contacts: AbuseContacts, config: NotifyConfig, clock: Clock) -> None:
        self.db = db
        self.contacts = contacts
        self.config = config
        self.clock = clock
        self._rate = TokenBucket(capacity=config.rate_per_recipient, per_seconds=3600.0)
        self.sent = 0

    # -- the processor's hook --------------------------------------------------------------------

    def enqueue(self, conn: Connection, report_ids: Sequence[int], now: datetime) -> None:
        """Queue the counted reports' notifications in the caller's transaction."""
        store.enqueue(conn, report_ids, now)

    def status(self) -> dict[str, Any]:
        with self.db.read() as conn:
            return store.status(conn)

    # -- the worker --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Until cancelled: send what is due, then the digests of past days."""
        try:
            while True:
                try:
                    await self.run_once()
                    await self.send_digests()
                except Exception:  # the store failed: items stay queued for the next round
                    log.exception("notification round failed")
                await asyncio.sleep(self.config.poll_s)
        finally:
            await self.contacts.aclose()

    async def run_once(self) -> int:
        """Handle every item due now; returns how many were handled."""
        done = 0
        sem = asyncio.Semaphore(self.config.concurrency)
        host = self.config.smarthost_client()
        while True:
            items = await asyncio.to_thread(self._due)
            if not items:
                return done
            await asyncio.gather(*(self._handle(item, sem, host) for item in items))
            done += len(items)
            if len(items) < BATCH:
                return done

    def _due(self) -> list[store.Item]:
        with self.db.read() as conn:
            return store.due(conn, self.clock(), BATCH)

    def _update(self, item_id: int, **values: Any) -> None:
        with self.db.transaction() as conn:
            store.update(conn, item_id, **values)

    async def _retry(self, item: store.Item, error: str, *, delay: timedelta | None = None) -> None:
        attempts = item.attempts + 1
        if attempts >= self.config.max_attempts:
            await asyncio.to_thread(self._update, item.id, state="failed", attempts=attempts, error=error[:1000])
            return
        backoff = delay or min(MAX_BACKOFF, self.config.retry_base * (2 ** (attempts - 1)))
        await asyncio.to_thread(self._update, item.id, attempts=attempts, error=error[:1000],
                                next_at=self.clock() + backoff)

    async def _handle(self, item: store.Item, sem: asyncio.Semaphore, host: Smarthost) -> None:
        async with sem:
            try:
                found = await self.contacts.resolve(item.source_ip)
            except (RdapUnavailable, RdapError) as e:
                await self._retry(item, f"RDAP: {e.message}")
                return
            except (NoServer, BadInput) as e:
                await asyncio.to_thread(self._update, item.id, state="skipped", error=e.message)
                return
            if found.mode == "none" or not found.emails:
                why = "the network asked for no reports" if found.mode == "none" else "no abuse address"
                await asyncio.to_thread(self._update, item.id, state="skipped", network=found.network, error=why)
                return
            if found.mode == "digest":
                await asyncio.to_thread(self._update, item.id, state="digest", network=found.network,
                                        recipients=list(found.emails))
                return
            try:
                for rcpt in found.emails:
                    self._rate.take(rcpt.lower(), time.monotonic())
            except RateLimited as e:
                await self._retry(item, "rate per recipient", delay=timedelta(seconds=e.retry_after))
                return
            try:
                await asyncio.to_thread(self._send, item, found, host)
            except SendError as e:
                if e.permanent:
                    await asyncio.to_thread(self._update, item.id, state="bounced", network=found.network,
                                            recipients=list(found.emails), attempts=item.attempts + 1,
                                            error=e.message[:1000])
                else:
                    await self._retry(item, f"smarthost: {e.message}")
                return
            except (MailrepError, NotFound) as e:
                await asyncio.to_thread(self._update, item.id, state="failed", error=e.message[:1000])
                return
            self.sent += 1

    def _send(self, item: store.Item, found: Resolution, host: Smarthost) -> None:
        """Build, send, and record the item sent at once in the same thread: the time between
        the smarthost's 250 and the commit is the only window for a duplicate after a crash."""
        mail = self._build(item, found.emails)
        host.send(self.config.sender, found.emails, mail)
        self._update(item.id, state="sent", network=found.network, recipients=list(found.emails),
                     attempts=item.attempts + 1, sent_at=self.clock(), error=None)

    def _load(self, report_id: int) -> tuple[dict[str, Any], bytes, tuple[str, ...]]:
        with self.db.read() as conn:
            row = reports_store.get_report(conn, report_id)
            raw_z = reports_store.get_raw(conn, report_id)
            if row is None or raw_z is None:
                raise NotFound(f"report {report_id} is gone")
            mailhosts: tuple[str, ...] = ()
            if row["reporter_id"] is not None:
                try:
                    mailhosts = accounts_store.get_reporter(conn, row["reporter_id"]).mailhosts
                except NotFound:  # a feed account: no mail hosts of its own
                    mailhosts = ()
        return row, zlib.decompress(raw_z), mailhosts

    def _build(self, item: store.Item, recipients: Sequence[str]) -> bytes:
        row, raw, mailhosts = self._load(item.report_id)
        config = TrustConfig.from_mailhosts(list(mailhosts)) if mailhosts else TrustConfig()
        trace = trace_message(raw, config=config)
        source = trace.source
        arrival = source.relay.date if source is not None and source.relay.date else row["received_at"]
        facts = ReportFacts(item.report_id, item.source_ip, arrival, raw, trace)
        lookup = f"{self.config.site_url.rstrip('/')}/lookup?ip={item.source_ip}" if self.config.site_url else ""
        return build_arf(facts, sender=self.config.sender, recipients=recipients, now=self.clock(), lookup_url=lookup)

    # -- digests -----------------------------------------------------------------------------------

    async def send_digests(self) -> int:
        """One mail per network and day for the items held before today (UTC)."""
        now = self.clock()
        today = datetime(now.year, now.month, now.day, tzinfo=UTC)
        items = await asyncio.to_thread(self._held, today)
        groups: dict[tuple[str, tuple[str, ...], Any], list[store.Item]] = defaultdict(list)
        for it in items:
            groups[(it.network or it.source_ip, it.recipients, it.created_at.date())].append(it)
        host = self.config.smarthost_client()
        sent = 0
        for (network, recipients, day), group in groups.items():
            lines = await asyncio.to_thread(self._digest_lines, group)
            mail = build_digest(network, lines, sender=self.config.sender, recipients=recipients, day=day, now=now)
            ids = [it.id for it in group]
            try:
                await asyncio.to_thread(host.send, self.config.sender, recipients, mail)
            except SendError as e:
                state = "bounced" if e.permanent else "digest"
                await asyncio.to_thread(self._mark, ids, state=state, error=e.message[:1000])
                continue
            await asyncio.to_thread(self._mark, ids, state="sent", sent_at=self.clock(), error=None)
            sent += 1
        return sent

    def _held(self, before: datetime) -> list[store.Item]:
        with self.db.read() as conn:
            return store.held_for_digest(conn, before)

    def _mark(self, ids: list[int], **values: Any) -> None:
        with self.db.transaction() as conn:
            store.mark_many(conn, ids, **values)

    def _digest_lines(self, items: list[store.Item]) -> list[DigestLine]:
        out = []
        with self.db.read() as conn:
            for it in items:
                row = reports_store.get_report(conn, it.report_id) or {}
                urls = (row.get("trace_json") or {}).get("urls") or []
                domains = tuple(dict.fromkeys(str(u["domain"]) for u in urls if isinstance(u, dict) and u.get("domain")))
                out.append(DigestLine(it.report_id, row.get("received_at") or it.created_at, it.source_ip, domains[:5]))
        return out
