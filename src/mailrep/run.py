"""The composition root: builds the database, the services, the intake service, the doors
(HTTP, SMTP) and the DNS node, and runs them (`mailrep serve`).

    services = build_services(settings, db)
    intake = build_intake(settings, services, clock)
    app = create_app(settings, services, intake, clock)        # or build_app(settings, db, clock)
    await serve(settings, db, http=("127.0.0.1", 8080), dns=None, smtp=None)

Nothing else wires subsystems together: the web app, SMTP and DNS receive what they use.
`serve` opens the web app (uvicorn), the scheduler (expiry sweep, bond debits, reputation, dbl scan), the SMTP door when asked, and
the Postfix policy service when asked (`policyd`, answering from the same snapshot), and
the DNS node when asked: the same `dns.node.Node` as `mailrep dns` (ACL, RRL, transfers, query
counting, metrics from the `[dns]` table) whose snapshot is rebuilt from `services.publish`
whenever the listings or the published reputations change. Query counts on `bl.` reach the
store through the reputation service (`dns_queries`, per IP and day); `[reputation]
recompute_interval` (default 60 s) paces the reputation recompute. Port 0 picks a free port; the bound addresses are printed as
`mailrep serve: http on http://HOST:PORT` lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from mailrep.clock import Clock, system_clock
from mailrep.config import Settings
from mailrep.intake.limits import IntakeLimits
from mailrep.intake.service import IntakeService, VolumeItem
from mailrep.policy.bond import BondConfig
from mailrep.policy.config import PolicyConfig
from mailrep.policy.domains import DomainConfig
from mailrep.policy.reputation import RepConfig
from mailrep.services import (
    AbuseContacts,
    Accounts,
    Blocklist,
    Bond,
    Delisting,
    DomainBlocklist,
    Lookup,
    Notifier,
    Publish,
    Reports,
    Reputation,
    Services,
    Stats,
)
from mailrep.store.db import Database

log = logging.getLogger("mailrep.serve")

Stop = Callable[[], Awaitable[None]]
SWEEP_EVERY_S = 60.0
BOND_EVERY_S = 300.0  # bond debits and standing (`mailrep bond recompute` does it at once)
DNS_POLL_S = 2.0


def open_database(settings: Settings) -> Database:
    """The database of `settings`, its schema created when it is empty."""
    db = Database.from_settings(settings)
    if db.is_empty():
        log.info("empty database: creating the schema")
        db.upgrade()
    return db


def build_services(settings: Settings, db: Database, *, config: PolicyConfig | None = None,
                   clock: Clock = system_clock) -> Services:
    """Every service over `db`; the policy from `settings`' [policy] table unless `config` is given."""
    config = config or PolicyConfig.from_section(settings.section("policy"))
    blocklist = Blocklist(db, config)
    bond = Bond(db, BondConfig.from_section(settings.section("bond")))
    reputation = Reputation(db, RepConfig.from_section(settings.section("reputation")))
    return Services(
        db=db, config=config, blocklist=blocklist, lookup=Lookup(db, config),
        delisting=Delisting(db, blocklist), accounts=Accounts(db, blocklist),
        publish=Publish(db, site_url=settings.site_url, zone_base=settings.zone_base, allowlist=bond,
                        reputation=reputation),
        reports=Reports(db), stats=Stats(db), bond=bond, reputation=reputation,
        dbl=DomainBlocklist(db, DomainConfig.from_section(settings.section("dbl"))),
        notifier=build_notifier(settings, db, clock),
    )


def build_notifier(settings: Settings, db: Database, clock: Clock) -> Notifier:
    """The abuse notifier of the `[notify]` table (its worker runs only when enabled)."""
    from mailrep.services.notify import NotifyConfig

    config = NotifyConfig.from_section(settings.section("notify"), site_url=settings.site_url,
                                       zone_base=settings.zone_base)
    return Notifier(db, AbuseContacts(db, config, clock), config, clock)


def build_intake(settings: Settings, services: Services, clock: Clock, *,
                 limits: IntakeLimits | None = None) -> IntakeService:
    """The intake service; its post-commit work re-evaluates through the blocklist."""
    limits = limits or IntakeLimits.from_section(settings.section("intake"))
    notifier = services.notifier
    enqueue = notifier.enqueue if notifier is not None and notifier.config.enabled else None
    return IntakeService(services.db, limits, clock=clock, reevaluate=after_reports(services),
                         on_processed=enqueue)


def after_reports(services: Services) -> Callable[[list[str], datetime], None]:
    """The intake processor's post-commit work: re-decide the reports' sources, then scan the
    new reports' URL domains for the domain blocklist. A failed scan is logged, not raised (it
    must not park the reports): the scan is incremental and the periodic one catches up."""

    def run(ips: list[str], now: datetime) -> None:
        services.blocklist.reevaluate(ips, now)
        try:
            services.dbl.scan(now)
        except Exception:
            log.exception("dbl scan failed; the periodic scan will retry")

    return run


def build_app(settings: Settings, db: Database, clock: Clock = system_clock, *,
              limits: IntakeLimits | None = None) -> Any:
    """The web app with its own services and intake service (tests, tools)."""
    from mailrep.web.app import create_app

    services = build_services(settings, db)
    return create_app(settings, services, build_intake(settings, services, clock, limits=limits), clock)


def _announce(text: str) -> None:
    print(f"mailrep serve: {text}", flush=True)


async def _every(seconds: float, what: str, fn: Callable[[], Any]) -> None:
    """Run `fn` in a thread every `seconds`; a failure is logged, never fatal."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(fn)
        except Exception:
            log.exception("%s failed", what)


def query_flush(reputation: Reputation, clock: Clock) -> Callable[[dict[str, int]], None]:
    """The DNS node's query counts -> today's queries per address (`dns_queries`), kept apart
    from the mail volume; the blocklist policy adds them to the volume, reputation reads both."""

    def flush(counts: dict[str, int]) -> None:
        reputation.count_queries(counts, clock())

    return flush


def volume_flush(intake: IntakeService, clock: Clock) -> Callable[[dict[str, int]], None]:
    """The policy service's message counts -> one volume item per client address, stored by the
    intake service (the period runs from the previous flush to now; the policy sums per IP)."""
    since = [clock()]

    def flush(counts: dict[str, int]) -> None:
        now = clock()
        items = [VolumeItem(ip, n, since[0], now) for ip, n in counts.items()]
        intake.submit_volume_nowait(None, items).result()
        since[0] = now

    return flush


ScoreSource = Callable[[datetime], Mapping[str, float]]  # ip -> reputation score


def no_scores(now: datetime) -> Mapping[str, float]:
    """The score source until reputation scores exist: no address has a score."""
    return {}


async def start_policy(settings: Settings, services: Services, intake: IntakeService, bind: tuple[str, int],
                       clock: Clock, scores: ScoreSource = no_scores) -> Stop:
    """Start the Postfix policy service (configured by `[policyd]`) on `bind`: it answers from
    the `bl` zone of `publish`'s snapshot and `scores`, both refreshed in the background, and
    counts one message of volume per client request, flushed like the DNS query counts."""
    from mailrep.dns.querycount import QueryCounter
    from mailrep.policyd.server import PolicyServer
    from mailrep.policyd.verdict import PolicydConfig, View

    cfg = PolicydConfig.from_section(settings.section("policyd"), site_url=settings.site_url)
    publish = services.publish
    bl = f"bl.{settings.zone_base}"
    marker = await asyncio.to_thread(publish.change_marker)
    snap = await asyncio.to_thread(publish.snapshot, clock(), marker)
    counter = QueryCounter(volume_flush(intake, clock), interval=cfg.flush_seconds, address=str)
    server = PolicyServer(View(snap, bl, await asyncio.to_thread(scores, clock())), cfg, counter=counter)
    host, port = await server.start(*bind)
    _announce(f"policy on {host}:{port}")

    async def refresh() -> None:
        nonlocal marker, snap
        while True:
            await asyncio.sleep(DNS_POLL_S)
            try:
                now_marker = await asyncio.to_thread(publish.change_marker)
                if now_marker != marker:
                    snap = await asyncio.to_thread(publish.snapshot, clock(), now_marker)
                    marker = now_marker
                server.swap(View(snap, bl, await asyncio.to_thread(scores, clock())))
            except Exception:
                log.exception("policy view rebuild failed; still answering from the previous one")

    task = asyncio.create_task(refresh())

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.stop()

    return stop


async def _dns_refresh(server: Any, publish: Publish, clock: Clock, marker: int) -> None:
    """Poll the listings' change marker; rebuild and swap the snapshot when it moved."""
    while True:
        await asyncio.sleep(DNS_POLL_S)
        try:
            now_marker = await asyncio.to_thread(publish.change_marker)
            if now_marker == marker:
                continue
            snap = await asyncio.to_thread(publish.snapshot, clock(), now_marker)
            server.swap(snap)
            marker = now_marker
        except Exception:
            log.exception("DNS zone rebuild failed; still serving the previous snapshot")


async def start_dns(settings: Settings, services: Services, intake: IntakeService, bind: tuple[str, int],
                    clock: Clock) -> Stop:
    """Start the DNS node (configured by the `[dns]` table) on `bind`, serving `publish`'s zones."""
    from mailrep.dns.node import Node, node_config
    from mailrep.dns.server import DnsServer

    publish = services.publish
    marker = await asyncio.to_thread(publish.change_marker)
    snap = await asyncio.to_thread(publish.snapshot, clock(), marker)
    cfg = node_config(settings.section("dns"))
    cfg.count_zones = cfg.count_zones or [f"bl.{settings.zone_base}"]  # reputation counts queries on bl.
    node = Node(cfg, volume_flush=query_flush(services.reputation, clock) if cfg.count_queries else None)
    server = DnsServer(snap, responder=node.responder_factory(100_000))
    node.attach(server)
    await node.start(snap)
    host, port = await server.start(*bind)
    _announce(f"dns on {host}:{port}")
    task = asyncio.create_task(_dns_refresh(server, publish, clock, marker))

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.stop()
        await node.stop()

    return stop


def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM after shutting down; we finish our own cleanup and exit 0."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return Server


async def serve(settings: Settings, db: Database, *, http: tuple[str, int],
                dns: tuple[str, int] | None, smtp: tuple[str, int] | None, clock: Clock = system_clock,
                policy: tuple[str, int] | None = None) -> None:
    """Everything in one asyncio loop until SIGTERM/SIGINT: no new requests, queued reports
    committed, then return."""
    import uvicorn

    from mailrep.web.app import create_app
    from mailrep.web.headlimit import head_limited

    sock = socket.socket(socket.AF_INET6 if ":" in http[0] else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(http)
    sock.listen(2048)
    host, port = sock.getsockname()[:2]
    settings = settings.serving(host, port)  # the TXT and receipt links, unless site_url is set
    services = build_services(settings, db, clock=clock)
    intake = build_intake(settings, services, clock)
    stops: list[Stop] = []  # the doors started below, stopped before the intake service closes
    app = create_app(settings, services, intake, clock, on_shutdown=stops)
    web = app.state.ctx.web
    # forwarded headers only from [web] trusted_proxies; uvicorn's default trusts 127.0.0.1
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            http=head_limited(web.max_header_bytes, web.max_headers),
                            proxy_headers=bool(web.trusted_proxies),
                            forwarded_allow_ips=web.forwarded_allow_ips or [],
                            timeout_graceful_shutdown=20, backlog=2048)
    server = _server_class()(config)
    sweep, dbl_scan = services.blocklist.sweep, services.dbl.scan
    recompute = services.reputation.recompute
    every = services.reputation.config.recompute_interval
    tasks = [asyncio.create_task(_every(SWEEP_EVERY_S, "expiry sweep", lambda: sweep(clock()))),
             asyncio.create_task(_every(SWEEP_EVERY_S, "dbl scan and sweep", lambda: dbl_scan(clock()))),
             asyncio.create_task(_every(BOND_EVERY_S, "bond recompute", lambda: services.bond.recompute(clock()))),
             asyncio.create_task(_every(every, "reputation recompute", lambda: recompute(clock())))]
    if services.notifier is not None and services.notifier.config.enabled:
        tasks.append(asyncio.create_task(services.notifier.run()))
        _announce(f"notify via {services.notifier.config.smarthost}")
    if dns is not None:
        stops.append(await start_dns(settings, services, intake, dns, clock))
    if smtp is not None:
        from mailrep.intake.doors import start_smtp

        stops.append(await start_smtp(settings, intake, db, smtp, clock=clock))
    if policy is not None:
        stops.append(await start_policy(settings, services, intake, policy, clock,
                                        scores=services.reputation.scores))
    _announce(f"http on http://{'[' + host + ']' if ':' in host else host}:{port} "
              f"(database {db.dialect})")
    try:
        await server.serve(sockets=[sock])
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        _announce("stopped")
