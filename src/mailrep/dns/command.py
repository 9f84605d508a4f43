"""`mailrep dns`: serve rbldnsd data files or a snapshot file, without a database.

    mailrep dns -b 127.0.0.1/5300 bl.example:ip4set:/data/spam.txt,/data/more.txt ...
    mailrep dns -b 127.0.0.1/5300 --snapshot var/zones.snap --workers 2

Zone specs follow rbldnsd (`zone:type:file[,file...]`). The data files (or the snapshot) are
watched and reloaded when they change; SIGHUP forces a reload. With `--workers N`, N processes
share the port through SO_REUSEPORT, each loaded from the same (copy-on-write) snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import typer

from mailrep.errors import BadInput, MailrepError

log = logging.getLogger("mailrep.dns")


def parse_bind(spec: str) -> tuple[str, int]:
    """rbldnsd -b syntax: 'addr/port', 'addr' (port 53), '[v6]/port' or 'v6/port'."""
    host, _, port = spec.rpartition("/") if "/" in spec else (spec, "", "53")
    host = host.strip("[]") or "0.0.0.0"
    try:
        p = int(port)
    except ValueError:
        raise BadInput(f"bad -b {spec!r}: port must be a number") from None
    if not 0 <= p <= 65535:
        raise BadInput(f"bad -b {spec!r}: port out of range")
    return host, p


def parse_zone_spec(spec: str) -> tuple[str, str, list[str]]:
    """'zone:type:file,file' -> (zone, type, files); rbldnsd also accepts 'zone,zone2:...'."""
    parts = spec.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise BadInput(f"bad zone spec {spec!r}: expected zone:type:file[,file...]")
    zone, kind, files = parts
    return zone, kind, [f for f in files.split(",") if f]


def _loader(snapshot: str | None, specs: list[tuple[str, str, list[str]]]) -> tuple[Callable[[], Any], list[str]]:
    from mailrep.zones import zone as zones

    if snapshot:
        return (lambda: zones.load_snapshot(snapshot)), [snapshot]
    expanded: list[tuple[str, str, list[str]]] = []
    for names, kind, files in specs:
        for name in names.split(","):  # rbldnsd: several zones may share one dataset
            expanded.append((name, kind, files))
    paths = sorted({f for _, _, files in specs for f in files})
    return (lambda: zones.load_rbldnsd(expanded)), paths


async def serve(binds: list[tuple[str, int]], load: Callable[[], Any], paths: list[str], *,
                reuse_port: bool, interval: float, tcp_idle: float, max_tcp: int,
                announce: Callable[[str], None], first: Any = None, cache: int = 100_000,
                batch: bool = True, node: Any = None, fetcher: Any = None, fast: bool = True,
                max_tcp_per_client: int) -> None:
    from mailrep.dns.reload import Reloader
    from mailrep.dns.server import DnsServer

    snap = first if first is not None else load()
    make = node.responder_factory(cache) if node is not None else None  # [X] keyed access
    servers = [DnsServer(snap, reuse_port=reuse_port, tcp_idle=tcp_idle, max_tcp=max_tcp,
                         max_tcp_per_client=max_tcp_per_client, cache_size=cache, batch=batch,
                         responder=make, fast=fast) for _ in binds]
    if node is not None:  # [X] issue 5: transfers, NOTIFY, RRL, ACL, counting, metrics
        for server in servers:
            node.attach(server)
        await node.start(snap)
    for server, (host, port) in zip(servers, binds, strict=True):
        h, p = await server.start(host, port)
        announce(f"mailrep dns: listening on {h} port {p} (serial {getattr(snap, 'serial', '?')}, "
                 f"pid {os.getpid()})")
    reloader = Reloader(paths, load, servers, interval=interval)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(reloader.reload_now()))
    watcher = loop.create_task(reloader.run())
    mirror = loop.create_task(fetcher.run()) if fetcher is not None else None  # [X] --snapshot-url
    await stop.wait()
    watcher.cancel()
    if mirror is not None:
        mirror.cancel()
    if node is not None:
        await node.stop()
    for server in servers:
        await server.stop()


def _run(coro: Any) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def run_workers(n: int, start_one: Callable[[], None]) -> int:
    """Fork `n` workers running `start_one`; forward SIGTERM/SIGINT; exit when all have exited."""
    pids = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                start_one()
            except BaseException:  # the child must never return into the parent's code
                logging.getLogger("mailrep.dns").exception("dns worker failed")
                code = 1
            finally:
                os._exit(code)
        pids.append(pid)

    def forward(signum: int, _frame: Any) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, lambda s, f: [os.kill(p, signal.SIGHUP) for p in pids])
    worst = 0
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        worst = max(worst, os.waitstatus_to_exitcode(status))
    return worst


def register(app: typer.Typer) -> None:
    @app.command("dns")
    def dns(
        zones: list[str] = typer.Argument(None, help="rbldnsd zone specs zone:type:file[,file...]"),
        bind: list[str] = typer.Option(["127.0.0.1/5300"], "-b", "--bind",
                                       help="address/port to listen on (repeatable); port 0 = any"),
        snapshot: str = typer.Option(None, "--snapshot", help="serve this snapshot file"),
        workers: int = typer.Option(1, "--workers", min=1, help="processes sharing the port"),
        interval: float = typer.Option(1.0, "--check-interval", help="seconds between change checks"),
        tcp_idle: float = typer.Option(10.0, "--tcp-idle", help="TCP idle timeout, seconds"),
        max_tcp: int = typer.Option(256, "--max-tcp", help="concurrent TCP connections per worker"),
        max_tcp_per_client: int = typer.Option(None, "--max-tcp-per-client", min=1,
                                               help="TCP connections per client /24 (IPv6 /56) per worker "
                                                    "(default 16, or [dns] max_tcp_per_client)"),
        cache: int = typer.Option(100_000, "--cache", min=0,
                                  help="UDP replies cached per worker (0 = no cache)"),
        batch: bool = typer.Option(True, "--batch/--no-batch",
                                   help="recvmmsg/sendmmsg batches (Linux) or one recvfrom per query"),
        fastpath: bool = typer.Option(True, "--fastpath/--no-fastpath",
                                      help="answer IPv4 A/TXT queries in C in the batched loop "
                                           "(when built; never with RRL/ACL/budget/counting/metrics)"),
        # [X] issue 5 (mailrep.dns.node); each also settable in the [dns] table of the config
        allow_transfer: list[str] = typer.Option(None, "--allow-transfer", help="AXFR/IXFR client network"),
        notify: list[str] = typer.Option(None, "--notify", help="secondary host:port to NOTIFY"),
        rrl: bool = typer.Option(None, "--rrl/--no-rrl", help="response rate limiting"),
        rrl_log_only: bool = typer.Option(None, "--rrl-log-only", help="RRL counts but never limits"),
        acl: list[str] = typer.Option(None, "--acl", help="NET[,NET]=refuse|ignore|error[@ZONE]"),
        key: list[str] = typer.Option(None, "--key", help="ZONE=KEY: answer only <key>.ZONE"),
        query_budget: int = typer.Option(None, "--query-budget",
                                         help="queries per client /24 per day, then 127.255.255.255"),
        metrics: str = typer.Option(None, "--metrics", help="host:port for Prometheus GET /metrics"),
        snapshot_url: str = typer.Option(None, "--snapshot-url",
                                         help="mirror: fetch the snapshot from this URL into --snapshot"),
        mirror_interval: float = typer.Option(30.0, "--mirror-interval", help="seconds between fetches"),
    ) -> None:
        """Serve DNSBL zones from rbldnsd data files or a snapshot (like rbldnsd -b)."""
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                            stream=sys.stderr)
        try:
            fetcher = None
            if snapshot_url:  # [X] mirror mode: download into --snapshot (default var/mirror.snap)
                from mailrep.dns.mirror import SnapshotFetcher

                snapshot = snapshot or os.path.join("var", "mirror.snap")
                os.makedirs(os.path.dirname(snapshot) or ".", exist_ok=True)
                fetcher = SnapshotFetcher(snapshot_url, snapshot, interval=mirror_interval)
                if not os.path.exists(snapshot):
                    fetcher.fetch_once()
            if bool(snapshot) == bool(zones):
                raise BadInput("give either --snapshot FILE or zone specs, not both or neither")
            binds = [parse_bind(b) for b in bind]
            if workers > 1 and any(port == 0 for _, port in binds):
                raise BadInput("--workers needs a fixed port (not 0)")
            load, paths = _loader(snapshot, [parse_zone_spec(z) for z in zones or []])
            from mailrep.dns.testpoints import check_snapshot

            first = load()
            check_snapshot(first)
            from mailrep.config import load_settings  # [X] the [dns] table and the flags above
            from mailrep.dns.node import Node, cli_overrides, node_config

            node_cfg = node_config(load_settings().section("dns"), **cli_overrides(
                allow_transfer=allow_transfer, notify=notify, rrl=rrl, rrl_log_only=rrl_log_only,
                acl=acl, key=key, query_budget=query_budget, metrics=metrics))
            node = Node(node_cfg) if node_cfg != type(node_cfg)() else None
            per_client = max_tcp_per_client or node_cfg.max_tcp_per_client
        except MailrepError as e:
            typer.echo(f"mailrep dns: {e.message}", err=True)
            raise typer.Exit(2) from None
        except OSError as e:
            typer.echo(f"mailrep dns: {e}", err=True)
            raise typer.Exit(2) from None

        def announce(line: str) -> None:
            # One write per line: forked workers share stdout, and print() writes the text and
            # its newline separately when stdout is unbuffered (PYTHONUNBUFFERED), so two
            # workers' lines could interleave ("...pid 1)mailrep dns: ...pid 2)\n\n").
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

        def one() -> None:
            _run(serve(binds, load, paths, reuse_port=workers > 1, interval=interval,
                       tcp_idle=tcp_idle, max_tcp=max_tcp, announce=announce, first=first,
                       cache=cache, batch=batch, node=node, fetcher=fetcher, fast=fastpath,
                       max_tcp_per_client=per_client))

        if workers == 1:
            one()
        else:
            raise typer.Exit(run_workers(workers, one))
