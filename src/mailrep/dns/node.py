"""A public DNS node's extras, from the `[dns]` table and `mailrep dns` flags: zone transfers,
NOTIFY, RRL, ACLs, keyed access, query counting, metrics. Nothing here runs unless configured.

    [dns]
    allow_transfer = ["127.0.0.0/8", "192.0.2.53/32"]    # AXFR/IXFR clients (default: none)
    notify = ["192.0.2.53:53"]                            # secondaries told of each new serial
    ixfr_keep = 8                                          # deltas kept for IXFR
    rrl = true                                             # response rate limiting
    rrl_answers = 200    rrl_negative = 400   rrl_errors = 20   rrl_window = 5   rrl_slip = 2
    rrl_exempt = ["10.0.0.0/8"]    rrl_log_only = false    rrl_max_buckets = 100000
    acl = [{networks = ["8.8.8.0/24"], action = "error", zones = ["bl.mailrep.test"]}]
    query_budget = 0     query_budget_window = 86400       # per client /24; over: 127.255.255.255
    keys = {"bl.mailrep.test" = ["k3y1", "k3y2"]}          # keyed access: <key>.bl.mailrep.test
    count_queries = false    count_interval = 60           # query volume into the store
    metrics = "127.0.0.1:9153"                             # Prometheus GET /metrics
    max_tcp_per_client = 16                                # TCP connections per client /24 or /56

    node = Node(node_config(settings.section("dns"), **cli_overrides))
    server = DnsServer(snap, responder=node.responder_factory(cache))
    node.attach(server); await node.start(snap)  ...  await node.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from mailrep.dns.acl import Acl, Action, Budget, Networks, Rule, keyed_view
from mailrep.dns.guard import Guard
from mailrep.dns.metrics import DnsMetrics, serve_metrics
from mailrep.dns.querycount import QueryCounter
from mailrep.dns.rrl import RateLimiter, RrlConfig
from mailrep.dns.tcpslots import PER_NETWORK_DEFAULT
from mailrep.dns.xfr import Transfers
from mailrep.errors import BadInput
from mailrep.net import parse_hostport

log = logging.getLogger("mailrep.dns")


@dataclass
class NodeConfig:
    allow_transfer: list[str] = field(default_factory=list)
    notify: list[str] = field(default_factory=list)
    ixfr_keep: int = 8
    rrl: bool = False
    rrl_answers: float = 200.0
    rrl_negative: float = 400.0
    rrl_errors: float = 20.0
    rrl_window: float = 5.0
    rrl_slip: int = 2
    rrl_exempt: list[str] = field(default_factory=list)
    rrl_log_only: bool = False
    rrl_max_buckets: int = 100_000
    acl: list[dict[str, Any]] = field(default_factory=list)
    query_budget: int = 0
    query_budget_window: float = 86400.0
    keys: dict[str, list[str]] = field(default_factory=dict)
    count_queries: bool = False
    count_interval: float = 60.0
    count_zones: list[str] = field(default_factory=list)
    metrics: str = ""
    max_tcp_per_client: int = PER_NETWORK_DEFAULT

    @property
    def wants_guard(self) -> bool:
        return bool(self.rrl or self.acl or self.query_budget or self.count_queries or self.metrics)


def node_config(section: Mapping[str, Any], **overrides: Any) -> NodeConfig:
    """The [dns] table, then CLI overrides (None = not given). Unknown keys are left to other
    readers of [dns] (the zone builder reads its own)."""
    known = {f.name for f in fields(NodeConfig)}
    cfg = NodeConfig(**{k: v for k, v in section.items() if k in known})
    for k, v in overrides.items():
        if v is None or v == [] or v == ():
            continue
        if k not in known:
            raise BadInput(f"unknown dns option {k}")
        setattr(cfg, k, v)
    return cfg


def _acl(rules: list[dict[str, Any]]) -> list[Acl]:
    out = []
    for r in rules:
        try:
            action = Action(str(r.get("action", "refuse")).lower())
            nets = Networks(r.get("networks", []))
        except ValueError as e:
            raise BadInput(f"[dns] acl rule {r!r}: {e}") from None
        out.append(Acl([Rule(nets, action)], zones=r.get("zones", ())))
    return out


class _AclChain(Acl):
    """Several per-zone rule sets; the first that decides (not ALLOW) wins."""

    def __init__(self, acls: list[Acl]) -> None:
        super().__init__([r for a in acls for r in a.rules])
        self.acls = acls
        self.zones = frozenset()

    def action(self, client: bytes, zone: str | None) -> Action:
        for a in self.acls:
            act = a.action(client, zone)
            if act is not Action.ALLOW:
                return act
        return Action.ALLOW


class Node:
    def __init__(self, cfg: NodeConfig, *, volume_flush: Callable[[dict[str, int]], None] | None = None) -> None:
        self.cfg = cfg
        self.metrics = DnsMetrics() if cfg.metrics else None
        self.rrl = None
        if cfg.rrl:
            self.rrl = RateLimiter(RrlConfig(
                answers=cfg.rrl_answers, negative=cfg.rrl_negative, errors=cfg.rrl_errors,
                window=cfg.rrl_window, slip=cfg.rrl_slip, exempt=list(cfg.rrl_exempt),
                log_only=cfg.rrl_log_only, max_buckets=cfg.rrl_max_buckets))
            if self.metrics is not None:
                self.metrics.rrl = self.rrl
        self.counter = None
        if cfg.count_queries:
            if volume_flush is None:
                raise BadInput("count_queries needs a store to flush to (mailrep serve), or is off")
            self.counter = QueryCounter(volume_flush, interval=cfg.count_interval)
        acls = _acl(cfg.acl)
        self.guard = None
        if cfg.wants_guard:
            self.guard = Guard(
                acl=_AclChain(acls) if acls else None,
                budget=Budget(cfg.query_budget, cfg.query_budget_window) if cfg.query_budget else None,
                rrl=self.rrl, counter=self.counter, metrics=self.metrics,
                count_zones=frozenset(z.rstrip(".").lower() for z in cfg.count_zones))
        self.xfr = None
        if cfg.allow_transfer or cfg.notify:
            on_event = self.metrics.transfer if self.metrics is not None else None
            self.xfr = Transfers(allow=Networks(cfg.allow_transfer), keep=cfg.ixfr_keep,
                                 notify=[parse_hostport(n, 53) for n in cfg.notify], on_event=on_event)
        self.keys = {z.rstrip(".").lower(): list(ks) for z, ks in cfg.keys.items()}
        self._tasks: list[asyncio.Task[Any]] = []
        self._metrics_server: asyncio.AbstractServer | None = None

    def responder_factory(self, cache: int) -> Callable[[Any], Any] | None:
        """For DnsServer(responder=...): serves the keyed view when keys are configured."""
        if not self.keys:
            return None
        from mailrep.dns.answer import Responder

        keys = self.keys
        return lambda snap: Responder(keyed_view(snap, keys), cache_size=cache)

    def attach(self, server: Any) -> None:
        server.guard = self.guard
        server.xfr = self.xfr
        server.on_swap = [self.snapshot_swapped]

    def snapshot_swapped(self, snap: Any) -> None:
        if self.metrics is not None:
            self.metrics.snapshot(snap)
        if self.xfr is not None:
            with contextlib.suppress(RuntimeError):  # no running loop: start() observes
                self._tasks.append(asyncio.get_running_loop().create_task(self.xfr.observe(snap)))

    async def start(self, snap: Any) -> None:
        if self.metrics is not None:
            self.metrics.snapshot(snap)
            host, port = parse_hostport(self.cfg.metrics, 9153)
            self._metrics_server = await serve_metrics(self.metrics, host, port)
            sock = self._metrics_server.sockets[0].getsockname()
            log.info("dns: metrics on http://%s:%s/metrics", sock[0], sock[1])
        if self.xfr is not None:
            await self.xfr.observe(snap)
        if self.counter is not None:
            self._tasks.append(asyncio.get_running_loop().create_task(self.counter.run()))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._metrics_server is not None:
            self._metrics_server.close()
            await self._metrics_server.wait_closed()


def cli_overrides(*, allow_transfer: list[str] | None = None, notify: list[str] | None = None,
                  rrl: bool | None = None, rrl_log_only: bool | None = None,
                  acl: list[str] | None = None, key: list[str] | None = None,
                  query_budget: int | None = None, metrics: str | None = None) -> dict[str, Any]:
    """`mailrep dns` flags -> node_config overrides. `--acl NET[,NET]=ACTION[@ZONE]`,
    `--key ZONE=KEY`."""
    out: dict[str, Any] = {"allow_transfer": allow_transfer, "notify": notify, "rrl": rrl,
                           "rrl_log_only": rrl_log_only, "query_budget": query_budget, "metrics": metrics}
    if rrl_log_only:
        out["rrl"] = True
    rules = []
    for spec in acl or []:
        nets, sep, action = spec.rpartition("=")
        if not sep:
            raise BadInput(f"bad --acl {spec!r}: expected NET[,NET]=ACTION[@ZONE]")
        action, _, zone = action.partition("@")
        rules.append({"networks": nets.split(","), "action": action, "zones": [zone] if zone else []})
    out["acl"] = rules
    keys: dict[str, list[str]] = {}
    for spec in key or []:
        zone, sep, k = spec.partition("=")
        if not sep or not k:
            raise BadInput(f"bad --key {spec!r}: expected ZONE=KEY")
        keys.setdefault(zone.rstrip(".").lower(), []).append(k)
    out["keys"] = keys or None
    return out
