"""`mailrep dns`: serve rbldnsd data files or a snapshot file, without a database.

    mailrep dns -b 127.0.0.1/5300 bl.example:ip4set:/data/spam.txt,/data/more.txt ...
    mailrep dns -b 127.0.0.1/5300 --snapshot var/zones.snap --workers 2
    python -m mailrep.cli.dns ...     the same, without loading the other command modules

Zone specs follow rbldnsd (`zone:type:file[,file...]`). The data files (or the snapshot) are
watched and reloaded when they change; SIGHUP forces a reload. With `--workers N`, N processes
share the port through SO_REUSEPORT, each loaded from the same (copy-on-write) snapshot. The
runner itself is `mailrep.dns.command`; this module holds the options.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from mailrep.cli.common import exits, group, run_async
from mailrep.errors import BadInput


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
                                      help="answer IPv4 A/TXT queries in C in the batched loop, "
                                           "RRL/ACL/budget/counting/metrics too (when built)"),
        # the node's extras (mailrep.dns.node); each also settable in the [dns] table of the config
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
        """Serve DNSBL zones from rbldnsd data files or a snapshot.

        Like rbldnsd -b; the zone specs are rbldnsd's."""
        from mailrep.dns.command import loader, parse_zone_spec, run_workers, serve
        from mailrep.net import parse_hostport

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                            stream=sys.stderr)
        with exits("mailrep dns", code=2, os_error=2):
            fetcher = None
            if snapshot_url:  # mirror mode: download into --snapshot (default var/mirror.snap)
                from mailrep.dns.mirror import SnapshotFetcher

                snapshot = snapshot or os.path.join("var", "mirror.snap")
                os.makedirs(os.path.dirname(snapshot) or ".", exist_ok=True)
                fetcher = SnapshotFetcher(snapshot_url, snapshot, interval=mirror_interval)
                if not os.path.exists(snapshot):
                    fetcher.fetch_once()
            if bool(snapshot) == bool(zones):
                raise BadInput("give either --snapshot FILE or zone specs, not both or neither")
            binds = [parse_hostport(b, 53, default_host="0.0.0.0") for b in bind]
            if workers > 1 and any(port == 0 for _, port in binds):
                raise BadInput("--workers needs a fixed port (not 0)")
            load, paths = loader(snapshot, [parse_zone_spec(z) for z in zones or []])
            from mailrep.dns.testpoints import check_snapshot

            first = load()
            check_snapshot(first)
            from mailrep.config import load_settings  # the [dns] table and the flags above
            from mailrep.dns.node import Node, cli_overrides, node_config

            node_cfg = node_config(load_settings().section("dns"), **cli_overrides(
                allow_transfer=allow_transfer, notify=notify, rrl=rrl, rrl_log_only=rrl_log_only,
                acl=acl, key=key, query_budget=query_budget, metrics=metrics))
            node = Node(node_cfg) if node_cfg != type(node_cfg)() else None
            per_client = max_tcp_per_client or node_cfg.max_tcp_per_client

        def announce(line: str) -> None:
            # One write per line: forked workers share stdout, and print() writes the text and
            # its newline separately when stdout is unbuffered (PYTHONUNBUFFERED), so two
            # workers' lines could interleave ("...pid 1)mailrep dns: ...pid 2)\n\n").
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

        def one() -> None:
            run_async(serve(binds, load, paths, reuse_port=workers > 1, interval=interval,
                       tcp_idle=tcp_idle, max_tcp=max_tcp, announce=announce, first=first,
                       cache=cache, batch=batch, node=node, fetcher=fetcher, fast=fastpath,
                       max_tcp_per_client=per_client))

        if workers == 1:
            one()
        else:
            raise typer.Exit(run_workers(workers, one))


if __name__ == "__main__":
    _app = group("")
    register(_app)
    _app()
