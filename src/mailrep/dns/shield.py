"""The guard of a public node kept in C, so the C fast path stays on with the defences on.

    fg = fast_guard(guard)            # the same ACL/budget/counting/RRL/metrics, state in C
    fg.filter(client, query, reply, snapshot, now)    # as Guard.filter, through the C Shield
    fg.zone_info(zone_name)           # what the C Table carries per zone for the Shield

`mailrep.dns.guard.Guard` is the reference: `FastGuard.filter` takes the same arguments and
gives the same replies and the same decisions (tests/dns/test_shield_parity.py), but its
state (RRL buckets, budget counts, IPv4 query counts, metric counters) is the C
`_fastpath.Shield`'s, which the C UDP loop (`_fastpath.serve(..., shield=...)`) updates
itself for every reply the Table answers. Queries C hands back come here (`filter`) and meet
the same state. The Python objects of the guard stay the readers' interface:

- `QueryCounter.take` also drains the Shield's IPv4 counts, by address text
  (`counter.sources`), and a full C table is handed to the flusher as a full Python one is
  (`counter.spill_text`): the C loop copies the table out, the flusher makes the dict;
- `DnsMetrics.render` adds the Shield's counters (`metrics.sources`) and reads RRL figures
  from it (`metrics.rrl`).

Names that are not four decimal octets (IPv6, domains) are counted in the Python counter.
"""

from __future__ import annotations

from array import array
from functools import partial
from typing import Any

from mailrep.dns.acl import Acl, Networks
from mailrep.dns.guard import Guard
from mailrep.dns.rrl import RateLimiter

_OCTET = {str(i).encode(): i for i in range(256)}

Spec = tuple[Any, ...]


def nets_spec(nets: Networks) -> Spec:
    """Networks as the C code reads them: per prefix length, the sorted network keys packed."""
    v4 = [(plen, b"".join(k.to_bytes(4, "big") for k in sorted(keys))) for plen, keys in nets._v4_items]
    v6 = [(plen, b"".join(k.to_bytes(16, "big") for k in sorted(keys))) for plen, keys in nets._v6_items]
    return v4, v6


def acl_sets(acl: Acl | None) -> list[Acl]:
    """The rule sets of a guard's ACL in order (node._AclChain holds several)."""
    if acl is None:
        return []
    return list(getattr(acl, "acls", None) or [acl])


_ACTION = {"allow": 0, "refuse": 1, "ignore": 2, "error": 3}


def rrl_spec(rrl: RateLimiter | None) -> Spec | None:
    if rrl is None:
        return None
    cfg = rrl.cfg
    exempt = nets_spec(rrl.exempt) if rrl.exempt else None
    return (rrl.rates, rrl.depth, cfg.slip, rrl.m4, rrl.m6, exempt, cfg.log_only, cfg.max_buckets)


def counts_text(raw: bytes) -> dict[str, int]:
    """Shield.drain_counts' (address, count) pairs by address text. Made in Python bytecode
    on purpose: the interpreter lets the UDP thread in between (a dict of 500,000 addresses
    made in one C call would stop the C loop for a tenth of a second or more)."""
    a = array("I")
    a.frombytes(raw)
    return {f"{ip >> 24}.{ip >> 16 & 255}.{ip >> 8 & 255}.{ip & 255}": n for ip, n in zip(a[::2], a[1::2], strict=True)}


def ipv4_key(sub: tuple[bytes, ...]) -> int:
    """The address four canonical decimal labels ask about (as the Table keys it), else -1."""
    if len(sub) != 4:
        return -1
    o = _OCTET
    try:
        return o[sub[3]] << 24 | o[sub[2]] << 16 | o[sub[1]] << 8 | o[sub[0]]
    except KeyError:
        return -1


def fast_guard(guard: Guard) -> FastGuard:
    """The FastGuard of `guard`, one per guard: servers sharing a node (several binds) share
    its state, as they share the Python guard's. The C loops run holding the GIL, so one
    Shield serves several UDP threads."""
    fg = getattr(guard, "fast", None)
    if fg is None:
        fg = FastGuard(guard)
        guard.fast = fg  # type: ignore[attr-defined]
    return fg


class FastGuard(Guard):
    def __init__(self, guard: Guard) -> None:
        from mailrep.dns import _fastpath  # only built with the extension

        super().__init__(acl=guard.acl, budget=guard.budget, rrl=guard.rrl, counter=guard.counter,
                         count_zones=guard.count_zones, metrics=guard.metrics)
        self.sets = acl_sets(guard.acl)
        budget = self.budget
        counter = self.counter
        self.shield = _fastpath.Shield(
            acl=[([(nets_spec(r.networks), _ACTION[r.action.value]) for r in a.rules], _ACTION[a.default.value])
                 for a in self.sets],
            rrl=rrl_spec(self.rrl),
            budget=(budget.limit, budget.window, budget.max_clients) if budget is not None else None,
            counts=(counter.max_keys, counter.count, self._spill) if counter is not None else None,
            metrics=self.metrics is not None)
        self.zone_names = [""]  # metrics rows of the Shield
        self._zones: dict[str | None, tuple[bool, int, bool, int]] = {}
        if counter is not None:
            counter.sources.append(self.counts)
        if self.metrics is not None:
            self.metrics.sources.append(self.metric_counts)
            if self.rrl is not None:
                self.metrics.rrl = self.shield

    def _spill(self) -> None:
        assert self.counter is not None
        self.counter.spill_text(partial(counts_text, self.shield.drain_counts()))

    def counts(self) -> dict[str, int]:
        """The Shield's IPv4 query counts by address text, taken (for QueryCounter.take)."""
        return counts_text(self.shield.drain_counts())

    def zone_info(self, name: str | None) -> tuple[bool, int, bool, int]:
        """(known, ACL rule-set mask, counted, metrics row) for a zone name (None: no zone)."""
        info = self._zones.get(name)
        if info is None:
            mask = 0
            for i, a in enumerate(self.sets):
                if not a.zones or (name is not None and name in a.zones):
                    mask |= 1 << i
            counted = (self.counter is not None and name is not None
                       and (not self.count_zones or name in self.count_zones))
            label = name or ""
            if label not in self.zone_names:
                self.zone_names.append(label)
            info = (name is not None, mask, counted, self.zone_names.index(label))
            self._zones[name] = info
        return info

    def filter(self, client: bytes, query: bytes, reply: bytes | None, snapshot: Any, now: float) -> bytes | None:
        if reply is None:
            return None
        zone_name, sub = self.zone_of(query, snapshot)
        known, mask, counted, row = self.zone_info(zone_name)
        ip = ipv4_key(sub) if counted and sub else -1
        return self.shield.filter(client, query, reply, known, mask, counted and bool(sub), row, ip,
                                  sub if ip < 0 else None, now)

    def metric_counts(self) -> tuple[dict[tuple[str, int], int], dict[str, int]]:
        """The Shield's counters: replies by (zone, rcode), ACL/budget actions."""
        names = self.zone_names
        queries = {(names[row], rcode): n for row, rcode, n in self.shield.query_counts()}
        acl = {k: n for k, n in self.shield.acl_counts().items() if n}
        return queries, acl
