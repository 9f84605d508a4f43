"""`mailrep serve`: everything that exists, in one process.

    mailrep serve [--http 127.0.0.1:8080] [--smtp 127.0.0.1:2525] [--dns 127.0.0.1:5300] [--data-dir DIR]

Opens the database (SQLite under the data dir unless MAILREP_DATABASE_URL says otherwise),
upgrades it if it is empty, then runs in one asyncio loop: the web app (uvicorn), the
scheduler (expiry sweep) and, when the DNS and zone modules are present, a DNS server whose
zones are rebuilt from the active listings whenever the listings change. SIGTERM / SIGINT
stop it gracefully: no new requests, queued reports committed, then exit. Port 0 picks a free
port; the bound addresses are printed as `mailrep serve: http on http://HOST:PORT` lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from mailrep.config import Settings, load_settings
from mailrep.errors import BadInput, MailrepError
from mailrep.store.db import Database

log = logging.getLogger("mailrep.serve")

SWEEP_EVERY_S = 60.0
DNS_POLL_S = 2.0


def parse_hostport(spec: str, default_port: int) -> tuple[str, int]:
    """'host:port', 'host', ':port' or '[v6]:port' -> (host, port)."""
    spec = spec.strip()
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port_s = rest.lstrip(":")
    elif spec.count(":") == 1:
        host, _, port_s = spec.partition(":")
    else:
        host, port_s = spec, ""
    try:
        port = int(port_s) if port_s else default_port
    except ValueError:
        raise BadInput(f"bad address {spec!r}: the port must be a number") from None
    if not 0 <= port <= 65535:
        raise BadInput(f"bad address {spec!r}: port out of range")
    return host or "127.0.0.1", port


def open_database(settings: Settings) -> Database:
    db = Database.from_settings(settings)
    if db.is_empty():
        log.info("empty database: creating the schema")
        db.upgrade()
    return db


def _announce(text: str) -> None:
    print(f"mailrep serve: {text}", flush=True)


def utc_now() -> datetime:
    return datetime.now(UTC)


async def _every(seconds: float, what: str, fn: Callable[[], Any]) -> None:
    """Run `fn` in a thread every `seconds`; a failure is logged, never fatal."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(fn)
        except Exception:
            log.exception("%s failed", what)


def scheduler_tasks(db: Database, settings: Settings,
                    clock: Callable[[], datetime]) -> list[Callable[[], Awaitable[None]]]:
    try:
        from mailrep import blocklist
    except ImportError:
        log.warning("mailrep.blocklist is not available: no expiry sweep")
        return []
    blocklist.configure(blocklist.config_from(settings))
    return [lambda: _every(SWEEP_EVERY_S, "expiry sweep", lambda: blocklist.sweep(db, clock()))]


def build_snapshot(db: Database, settings: Settings, now: datetime, serial: int) -> Any:
    """The DNS snapshot of the active listings (the hook between blocklist and zones)."""
    from mailrep import blocklist
    from mailrep.zones.build import build_snapshot as build

    entries = (("bl", x.key, x.a, x.txt)
               for x in blocklist.iter_active(db, now, site_url=settings.site_url))
    return build(entries, base=settings.zone_base, serial=serial, site_url=settings.site_url)


def change_marker(db: Database) -> Any:
    from mailrep import blocklist

    return blocklist.change_marker(db)


def _serial(marker: Any) -> int:
    """SOA serial from the change marker (the newest listing event id), kept in 1..2**32-1."""
    return int(marker) % (2**32 - 1) + 1


async def _dns_refresh(server: Any, db: Database, settings: Settings, clock: Callable[[], datetime],
                       marker: Any) -> None:
    """Poll the listings' change marker; rebuild and swap the snapshot when it moved."""
    while True:
        await asyncio.sleep(DNS_POLL_S)
        try:
            now_marker = await asyncio.to_thread(change_marker, db)
            if now_marker == marker:
                continue
            snap = await asyncio.to_thread(build_snapshot, db, settings, clock(), _serial(now_marker))
            server.swap(snap)
            marker = now_marker
        except Exception:
            log.exception("DNS zone rebuild failed; still serving the previous snapshot")


async def start_dns(db: Database, settings: Settings, bind: tuple[str, int],
                    clock: Callable[[], datetime]) -> Callable[[], Awaitable[None]] | None:
    """Start the DNS server on `bind`, or log why it is not available and return None."""
    try:
        from mailrep.dns.server import DnsServer

        marker = await asyncio.to_thread(change_marker, db)
        snap = await asyncio.to_thread(build_snapshot, db, settings, clock(), _serial(marker))
    except (ImportError, AttributeError, TypeError) as e:
        _announce(f"dns {bind[0]}:{bind[1]} requested but not available yet ({type(e).__name__}: {e})")
        return None
    server = DnsServer(snap)
    host, port = await server.start(*bind)
    _announce(f"dns on {host}:{port}")
    task = asyncio.create_task(_dns_refresh(server, db, settings, clock, marker))

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.stop()

    return stop


def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM after shutting down; we finish our own cleanup and exit 0."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return Server


async def run(settings: Settings, db: Database, *, http: tuple[str, int],
              dns: tuple[str, int] | None, smtp: tuple[str, int] | None) -> None:
    import uvicorn

    from mailrep.web.app import create_app

    _Server = _server_class()
    app = create_app(settings, db, utc_now)
    sock = socket.socket(socket.AF_INET6 if ":" in http[0] else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(http)
    sock.listen(2048)
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", http="auto",
                            timeout_graceful_shutdown=20, backlog=2048)
    server = _Server(config)
    tasks = [asyncio.create_task(make()) for make in scheduler_tasks(db, settings, utc_now)]
    stop_dns: Callable[[], Awaitable[None]] | None = None
    if dns is not None:
        stop_dns = await start_dns(db, settings, dns, utc_now)
    stop_smtp: Callable[[], Awaitable[None]] | None = None
    if smtp is not None:  # [S] SMTP intake hook (mailrep.intake.doors), same intake service as HTTP
        from mailrep.intake.doors import start_smtp

        stop_smtp = await start_smtp(settings, app.state.ctx.intake, db, smtp, clock=utc_now)
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
        if stop_smtp is not None:  # [S] SMTP intake hook
            await stop_smtp()
        if stop_dns is not None:
            await stop_dns()
        _announce("stopped")


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        http: str = typer.Option("127.0.0.1:8080", "--http", help="web/API address host:port (port 0: any)"),
        smtp: str = typer.Option(None, "--smtp", help="SMTP intake address host:port (submission, fbl, spamtraps)"),
        dns: str = typer.Option(None, "--dns", help="DNS address host:port for the blocklist zones"),
        data_dir: Path = typer.Option(None, "--data-dir", help="data directory (default ./var, env MAILREP_DATA_DIR)"),
    ) -> None:
        """Run the service: web API, intake, scheduler (and DNS when asked) in one process."""
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("mailrep").setLevel(logging.INFO)
        try:
            settings = load_settings(data_dir=data_dir)
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            db = open_database(settings)
            binds = (parse_hostport(http, 8080), parse_hostport(dns, 5300) if dns else None,
                     parse_hostport(smtp, 2525) if smtp else None)
        except MailrepError as e:
            typer.echo(f"mailrep serve: {e.message}", err=True)
            raise typer.Exit(2) from e
        try:
            import uvloop
            runner: Callable[[Any], Any] = uvloop.run
        except ImportError:
            runner = asyncio.run
        try:
            runner(run(settings, db, http=binds[0], dns=binds[1], smtp=binds[2]))
        except OSError as e:
            typer.echo(f"mailrep serve: {e}", err=True)
            raise typer.Exit(1) from e
        finally:
            db.dispose()
