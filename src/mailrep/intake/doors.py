"""The SMTP doors over the store: who owns an address, and storing through the intake service.

`StoreDoors(service, db, config, site_url=...)` implements `intake.smtp.handler.SmtpIntake`:

    open(route)     submit.<code>: the reporter with that code, active, under its daily quota
                    (NotAuthenticated for unknown/revoked/suspended, OverQuota when spent);
                    fbl / trap doors: the configured feed account, created on first use; a
                    feed's complaints are under `[intake] feed_quota` per 24 h
    accept(items)   every item through `IntakeService` (one writer, acknowledged after COMMIT):
                    submissions as reports of channel `smtp`, complaints as channel `fbl`,
                    trap hits as trap hits with their (never published) trap address

Lookups are cached for a few seconds so a burst does not read the accounts table per RCPT.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from mailrep.clock import Clock, system_clock
from mailrep.config import Settings
from mailrep.errors import BadInput, NotAuthenticated, NotFound, OverQuota
from mailrep.intake.addresses import Door, Route, SmtpConfig
from mailrep.intake.service import IntakeService, Receipt, Submitter
from mailrep.intake.smtp.handler import Owner, Submission
from mailrep.intake.smtp.server import SmtpServer
from mailrep.links import report_url
from mailrep.roles import DAILY_QUOTA, FEED_QUOTA, Role
from mailrep.store import accounts
from mailrep.store import reports as store
from mailrep.store.db import Database

CACHE_SECONDS = 5.0
CHANNEL = {Door.SUBMIT: "smtp", Door.FBL: "fbl", Door.TRAP: "trap"}


class StoreDoors:
    def __init__(self, service: IntakeService, db: Database, config: SmtpConfig, *, site_url: str,
                 clock: Clock = system_clock) -> None:
        self.service = service
        self.db = db
        self.config = config
        self.site_url = site_url
        self.clock = clock
        self._owners: dict[tuple[Door, str], tuple[Owner, Submitter, float]] = {}
        self._used: dict[int, tuple[int, float]] = {}

    # -- open: RCPT time ---------------------------------------------------------------------

    async def open(self, route: Route) -> Owner:
        key = (route.door, route.key)
        hit = self._owners.get(key)
        if hit is None or time.monotonic() - hit[2] > CACHE_SECONDS:
            owner, who = await asyncio.to_thread(self._lookup, route)
            hit = (owner, who, time.monotonic())
            self._owners[key] = hit
        owner, who, _ = hit
        if route.door is not Door.TRAP:
            await self._check_quota(who)
        return owner

    def _lookup(self, route: Route) -> tuple[Owner, Submitter]:
        if route.door is Door.SUBMIT:
            with self.db.read() as conn:
                try:
                    rep = accounts.reporter_by_submit_code(conn, route.key)
                    acc = accounts.get_account(conn, rep.account_id)
                except NotFound as e:
                    raise NotAuthenticated("unknown submission address") from e
            if rep.status != "active" or not acc.active:
                raise NotAuthenticated("revoked submission address")
            return Owner(acc.id, acc.name), Submitter(acc.id, rep.mailhosts, rep.daily_quota, True,
                                                     rep.mailhosts_confirmed)
        with self.db.transaction() as conn:
            acc = accounts.ensure_account(conn, route.key, Role.FEED, self.clock())
        if not acc.active:
            raise NotAuthenticated("this feedback or trap address is disabled")
        quota = self.service.limits.feed_quota if route.door is Door.FBL else FEED_QUOTA
        return Owner(acc.id, acc.name), Submitter(acc.id, (), quota, True)

    async def _check_quota(self, who: Submitter) -> None:
        used = self._used.get(who.account_id)
        if used is None or time.monotonic() - used[1] > CACHE_SECONDS:
            since = self.clock() - timedelta(hours=24)
            counts = await asyncio.to_thread(self._count, who.account_id, since)
            used = (counts, time.monotonic())
            self._used[who.account_id] = used
        if used[0] >= who.daily_quota:
            raise OverQuota(f"quota of {who.daily_quota} reports per 24 h reached")

    def _count(self, account_id: int, since: datetime) -> int:
        with self.db.read() as conn:
            return store.count_reports_since(conn, [account_id], since)[account_id]

    # -- accept: DATA time -------------------------------------------------------------------

    async def accept(self, items: Sequence[Submission]) -> list[Receipt]:
        results = await asyncio.gather(*(self._one(item) for item in items), return_exceptions=True)
        for r in results:  # every item has finished: stored ones are durable, retries dedupe
            if isinstance(r, BaseException):
                if isinstance(r, OverQuota):
                    self._used.pop(items[0].owner.account_id, None)
                raise r
        return [r for r in results if isinstance(r, Receipt)]

    async def _one(self, item: Submission) -> Receipt:
        door = item.route.door
        if door is Door.TRAP:
            got = await self.service.submit_trap_hit(item.owner.account_id, item.raw,
                                                     trap_address=item.route.address)
            return got
        who = self._owners.get((door, item.route.key), (None, None, 0.0))[1] or Submitter(
            item.owner.account_id, (), self.service.limits.feed_quota if door is Door.FBL else DAILY_QUOTA, True)
        channel = CHANNEL[door]
        if item.flags:  # keep what the extraction noticed with the report
            now = self.clock()
            p = await asyncio.to_thread(self.service.prepare_sync, item.raw, who.mailhosts, now)
            p.flags.extend(f.to_dict() for f in item.flags)
            got = await asyncio.wrap_future(self.service.submit_prepared(who, p, now, channel=channel))
        else:
            got = await self.service.submit_report(who, item.raw, channel=channel)
        if not got.duplicate and who.account_id in self._used:
            n, at = self._used[who.account_id]
            self._used[who.account_id] = (n + 1, at)
        return got.with_url(report_url(self.site_url, got.id))



def smtp_server(settings: Settings, service: IntakeService, db: Database, *,
                clock: Clock = system_clock) -> SmtpServer:
    """The SMTP front door over this store, configured from `[smtp]`."""
    from mailrep.intake.reply import SmarthostReply

    config = SmtpConfig.from_section(settings.section("smtp"), default_domain=settings.zone_base)
    reply = SmarthostReply(config.reply_smarthost, sender=config.sender) if config.reply_smarthost else None
    doors = StoreDoors(service, db, config, site_url=settings.site_url, clock=clock)
    return SmtpServer(doors, config, reply=reply, offload=service.offload)


async def start_smtp(settings: Settings, service: IntakeService, db: Database, bind: tuple[str, int], *,
                     clock: Clock = system_clock) -> Callable[[], Awaitable[None]]:
    """Start the SMTP door in the running loop (`mailrep serve --smtp`); returns its stop().

    A bad `[smtp]` table (unknown key, unreadable certificate) stops `mailrep serve` with exit
    status 2 and the reason, before anything listens."""
    try:
        server = smtp_server(settings, service, db, clock=clock)
    except BadInput as e:
        print(f"mailrep serve: {e.message}", file=sys.stderr, flush=True)
        raise SystemExit(2) from e
    host, port = await server.start(*bind)
    print(f"mailrep serve: smtp on {host}:{port}", flush=True)
    return server.stop
