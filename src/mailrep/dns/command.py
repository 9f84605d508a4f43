"""What `mailrep dns` runs (its options live in `mailrep.cli.dns`): rbldnsd data files or a
snapshot file served without a database.

    parse_zone_spec("bl.example:ip4set:a.txt")    rbldnsd zone specs
    load, paths = loader(snapshot, specs)          what to load, which files to watch
    await serve(binds, load, paths, ...)           the servers, the reloader, the node, signals
    run_workers(n, start_one)                      N forked processes sharing the port

The data files (or the snapshot) are watched and reloaded when they change; SIGHUP forces a
reload. With N workers the processes share the port through SO_REUSEPORT, each loaded from the
same (copy-on-write) snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from mailrep.errors import BadInput

log = logging.getLogger("mailrep.dns")


def parse_zone_spec(spec: str) -> tuple[str, str, list[str]]:
    """'zone:type:file,file' -> (zone, type, files); rbldnsd also accepts 'zone,zone2:...'."""
    parts = spec.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise BadInput(f"bad zone spec {spec!r}: expected zone:type:file[,file...]")
    zone, kind, files = parts
    return zone, kind, [f for f in files.split(",") if f]


def loader(snapshot: str | None, specs: list[tuple[str, str, list[str]]]) -> tuple[Callable[[], Any], list[str]]:
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
    make = node.responder_factory(cache) if node is not None else None
    servers = [DnsServer(snap, reuse_port=reuse_port, tcp_idle=tcp_idle, max_tcp=max_tcp,
                         max_tcp_per_client=max_tcp_per_client, cache_size=cache, batch=batch,
                         responder=make, fast=fast) for _ in binds]
    if node is not None:
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
    mirror = loop.create_task(fetcher.run()) if fetcher is not None else None
    await stop.wait()
    watcher.cancel()
    if mirror is not None:
        mirror.cancel()
    if node is not None:
        await node.stop()
    for server in servers:
        await server.stop()


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
