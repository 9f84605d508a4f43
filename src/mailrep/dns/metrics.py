"""Prometheus metrics for a DNS node, in the text exposition format, on a tiny HTTP endpoint.

    m = DnsMetrics()
    m.query(zone, rcode)                 # the guard calls this per UDP reply when metrics are on
    text = m.render(now)                 # 'mailrep_dns_queries_total{zone="bl...",rcode="NXDOMAIN"} 12'
    server = await serve_metrics(m, "127.0.0.1", 9153)    # GET /metrics

Counters live in plain dicts owned by one worker process (no locks on the query path: the
UDP thread only increments). RRL, ACL and transfer figures are read from their objects when
rendering, so they cost nothing per query. With the C fast path the reply and ACL counters
of the replies made in C are C integers (mailrep.dns.shield), added in by `sources` on render.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from mailrep.dns.constants import Rcode

_RCODES = {int(r): r.name for r in Rcode}


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class DnsMetrics:
    def __init__(self) -> None:
        self.queries: dict[tuple[str, int], int] = {}
        self.acl: dict[str, int] = {}
        self.transfers: dict[tuple[str, str], int] = {}
        self.rrl: Any = None  # a RateLimiter (or the C Shield holding one), read at render time
        # more counters, read at render time: () -> ({(zone, rcode): n}, {action: n})
        self.sources: list[Callable[[], tuple[dict[tuple[str, int], int], dict[str, int]]]] = []
        self.serial: int | None = None
        self.loaded_at: float | None = None
        self.built_at: float | None = None

    def query(self, zone: str, rcode: int) -> None:
        k = (zone, rcode)
        self.queries[k] = self.queries.get(k, 0) + 1

    def acl_action(self, action: str) -> None:
        self.acl[action] = self.acl.get(action, 0) + 1

    def transfer(self, kind: str, zone: str) -> None:
        k = (kind, zone)
        self.transfers[k] = self.transfers.get(k, 0) + 1

    def snapshot(self, snap: Any, now: float | None = None) -> None:
        self.serial = getattr(snap, "serial", None)
        self.loaded_at = time.time() if now is None else now
        meta = getattr(snap, "meta", {}) or {}
        built = meta.get("built_at")
        self.built_at = float(built) if isinstance(built, int | float) else None

    def render(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        out: list[str] = []

        def family(name: str, kind: str, help_: str) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")

        queries, acl = dict(self.queries), dict(self.acl)
        for source in self.sources:
            more_queries, more_acl = source()
            for k, n in more_queries.items():
                queries[k] = queries.get(k, 0) + n
            for a, n in more_acl.items():
                acl[a] = acl.get(a, 0) + n
        family("mailrep_dns_queries_total", "counter", "UDP replies by zone and rcode")
        for (zone, rcode), n in sorted(queries.items()):
            out.append(f'mailrep_dns_queries_total{{zone="{_esc(zone)}",rcode="{_RCODES.get(rcode, rcode)}"}} {n}')
        family("mailrep_dns_acl_actions_total", "counter", "queries decided by an ACL or budget rule")
        for action, n in sorted(acl.items()):
            out.append(f'mailrep_dns_acl_actions_total{{action="{_esc(action)}"}} {n}')
        family("mailrep_dns_transfers_total", "counter", "zone transfers and NOTIFYs by kind")
        for (kind, zone), n in sorted(list(self.transfers.items())):
            out.append(f'mailrep_dns_transfers_total{{kind="{_esc(kind)}",zone="{_esc(zone)}"}} {n}')
        rrl = self.rrl
        for name, attr, help_ in (("drops", "drops", "replies dropped by RRL"),
                                  ("slips", "slips", "replies sent truncated (TC=1) by RRL"),
                                  ("would_limit", "would_limit", "replies RRL would limit (log-only mode)"),
                                  ("evictions", "evictions", "RRL buckets evicted to bound memory")):
            family(f"mailrep_dns_rrl_{name}_total", "counter", help_)
            out.append(f"mailrep_dns_rrl_{name}_total {getattr(rrl, attr, 0) if rrl else 0}")
        family("mailrep_dns_rrl_buckets", "gauge", "RRL buckets in memory")
        out.append(f"mailrep_dns_rrl_buckets {rrl.size if rrl else 0}")
        if self.serial is not None:
            family("mailrep_dns_snapshot_serial", "gauge", "serial of the snapshot being served")
            out.append(f"mailrep_dns_snapshot_serial {self.serial}")
        if self.loaded_at is not None:
            family("mailrep_dns_snapshot_age_seconds", "gauge",
                   "seconds since the served snapshot was built (or loaded, when unknown)")
            out.append(f"mailrep_dns_snapshot_age_seconds {max(0.0, now - (self.built_at or self.loaded_at)):.3f}")
        return "\n".join(out) + "\n"


async def serve_metrics(metrics: DnsMetrics, host: str, port: int) -> asyncio.AbstractServer:
    """GET /metrics over HTTP/1.0; anything else 404. One response per connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = line.split()
            if len(parts) >= 2 and parts[0] == b"GET" and parts[1].split(b"?")[0] == b"/metrics":
                body = metrics.render().encode()
                head = (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
            else:
                body = b"not found\n"
                head = b"HTTP/1.0 404 Not Found\r\nContent-Length: 10\r\n\r\n"
            writer.write(head + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
