"""Sender reputation: DNS query counts in, daily rows and scores recomputed, public views out.

    rep = Reputation(db, RepConfig())
    rep.count_queries({"192.0.2.1": 30}, now)   the DNS node's flush: queries per IP on bl.
    rep.recompute(now)                           incremental: the days with new evidence
    rep.recompute(now, full=True)                every day of the history, every entity
    rep.ip("192.0.2.1", now)  rep.network("192.0.2.0/24", now)  rep.domain("example.com", now)
    rep.iter_scored("ip")                        what the rep. zone publishes

Entities: `ip`, `net` (the /24 of an IPv4 address, the /48 of an IPv6 one) and `domain` (the
registered domains of the URLs that reported mail advertises; complaints only, telemetry
carries no domain). A recompute rewrites the daily rows of the days since the previous run
(and of days that late telemetry counts on), then scores the entities those days touch; when
the UTC day has changed since the previous run (decay moved) or on `full`, it scores every
entity. It is idempotent: the same evidence and `now` give the same rows.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from mailrep.errors import BadInput
from mailrep.net import IPAddress, parse_ip, parse_key
from mailrep.policy import reputation as model
from mailrep.store import listings
from mailrep.store import reputation as store
from mailrep.store.db import Database

NET_PREFIX = {4: 24, 6: 48}
WORLD = ("all", "*")
BULK_KEYS = 10_000
PUBLISHED = ("score", "mag_day", "mag_month", "complaints_day", "first_seen", "listed")


@dataclass(frozen=True, slots=True)
class Run:
    first_day: date
    last_day: date
    daily_rows: int
    scored: int
    changed: int
    full: bool


def network_of(ip: IPAddress | str) -> str:
    """The network entity of an address (canonical text or parsed): its /24 or /48."""
    if isinstance(ip, str):
        if ":" not in ip:
            return ip.rsplit(".", 1)[0] + ".0/24"
        ip = parse_ip(ip)
    return str(ipaddress.ip_network(f"{ip}/{NET_PREFIX[ip.version]}", strict=False))


def _day(d: date, c: list[int]) -> model.Day:
    return model.Day(d, c[0], c[1], c[2], c[3], c[4])


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


class Reputation:
    def __init__(self, db: Database, config: model.RepConfig | None = None) -> None:
        self.db = db
        self.config = config or model.RepConfig()

    # -- in ------------------------------------------------------------------------------------

    def count_queries(self, counts: dict[str, int], now: datetime) -> int:
        """Add the DNS node's counts (queries per IP on bl.) to today's."""
        with self.db.transaction() as conn:
            return store.add_dns_queries(conn, now.date(), counts)

    # -- recompute -----------------------------------------------------------------------------

    def _entities(self, raw: dict[str, dict[date, list[int]]], domains: dict[str, dict[date, list[int]]],
                  ) -> dict[tuple[str, str], dict[date, list[int]]]:
        out: dict[tuple[str, str], dict[date, list[int]]] = {}
        for ip, days in raw.items():
            out[("ip", ip)] = days
            net = out.setdefault(("net", network_of(ip)), {})
            world = out.setdefault(WORLD, {})
            for d, c in days.items():
                for agg in (net, world):
                    row = agg.get(d)
                    if row is None:
                        agg[d] = list(c)
                    else:
                        for i in range(5):
                            row[i] += c[i]
        for dom, days in domains.items():
            out[("domain", dom)] = days
        return out

    def recompute(self, now: datetime, *, full: bool = False) -> Run:
        cfg = self.config
        today = now.date()
        win_first = today - timedelta(days=cfg.window_days - 1)
        with self.db.read() as conn:
            last = store.last_run(conn)
            if full or last is None:
                first = today - timedelta(days=(cfg.history_days if full else cfg.window_days) - 1)
            else:
                first = min(last["at"].date(), today) - timedelta(days=1)
                late = store.late_volume_days(conn, last["at"], first)
                first = min([first, *late]) if late else first
                first = max(first, today - timedelta(days=cfg.history_days - 1))
            everything = full or last is None or last["at"].date() != today
            new = self._entities(store.raw_days(conn, first, today), store.domain_days(conn, first, today))
            touched = set(new) | store.keys_on_days(conn, first, today)
            keys = None if everything else sorted(touched)
            # many keys: one scan beats thousands of (kind, key) IN (...) chunks
            old = store.current(conn, keys if keys is not None and len(keys) <= BULK_KEYS else None)
            if keys is not None:
                old = {k: v for k, v in old.items() if k in touched}
            total_days = [_day(d, c) for d, c in new.get(WORLD, {}).items()]
            if first > win_first:
                total_days += [model.Day(d, *c[:5]) for _, rows in store.iter_window(conn, win_first, first - timedelta(days=1),
                                                                                   [WORLD]) for d, *c in rows]
            listed_ips = {k for k, _, _ in listings.iter_listed(conn, now)}
            few = keys if keys is not None and len(keys) <= BULK_KEYS else None
            stored = {k: rows for k, rows in store.iter_window(conn, win_first, first - timedelta(days=1), few)
                      if keys is None or k in touched} if first > win_first else {}
        listed_nets = {network_of(k) for k in listed_ips if "/" not in k}
        totals = model.world(total_days, now, cfg)
        scope = set(new) | set(stored) | set(old) if keys is None else touched
        scope.discard(WORLD)
        changed: list[dict[str, Any]] = []
        scores: dict[tuple[str, str], float | None] = {}
        for kind_key in scope:
            kind, key = kind_key
            days = [model.Day(d, *c[:5]) for d, *c in stored.get(kind_key, ())]
            days += [_day(d, c) for d, c in new.get(kind_key, {}).items()]
            prev = old.get(kind_key)
            seen = [d.day for d in days]
            if prev is not None and prev["first_seen"] is not None:
                seen.append(prev["first_seen"])
            listed = key in listed_ips if kind == "ip" else key in listed_nets if kind == "net" else False
            r = model.reputation(days, totals, now, first_seen=min(seen) if seen else None, listed=listed, cfg=cfg,
                                 explain=False)
            scores[kind_key] = r.score
            row = {"kind": kind, "key": key, "score": r.score, "confidence": r.confidence,
                   "mag_day": r.magnitude_day, "mag_month": r.magnitude_month, "volume_day": r.day.volume,
                   "complaints_day": r.day.complaints, "trap_hits_day": r.day.trap_hits,
                   "dns_queries_day": r.day.dns_queries, "first_seen": r.first_seen, "listed": r.listed,
                   "formula": r.formula}
            if prev is None or any(prev[c] != row[c] for c in store.CURRENT_COLS):
                changed.append(row)
        n_published = sum(1 for r in changed if old.get((r["kind"], r["key"])) is None
                          or any(old[(r["kind"], r["key"])][c] != r[c] for c in PUBLISHED))

        def daily() -> Iterator[dict[str, Any]]:
            for (kind, key), days in new.items():
                for d, c in days.items():
                    yield {"kind": kind, "key": key, "day": d, **dict(zip(store.COUNTERS, c, strict=True)),
                           "score": scores.get((kind, key)) if d == today else None}

        with self.db.transaction() as conn:
            n_daily = store.replace_days(conn, first, today, daily())
            store.prune(conn, today - timedelta(days=cfg.history_days - 1))
            store.upsert_current(conn, changed)
            store.add_run(conn, now, first, today, len(scope), n_published, everything)
        return Run(first, today, n_daily, len(scope), n_published, everything)

    # -- out -----------------------------------------------------------------------------------

    def change_marker(self) -> int:
        with self.db.read() as conn:
            return store.change_marker(conn)

    def scores(self, now: datetime) -> dict[str, float]:
        """Every scored IP -> its current score (the Postfix policy service's snapshot)."""
        return {row["key"]: row["score"] for row in self.iter_scored("ip") if row["score"] is not None}

    def iter_scored(self, kind: str = "ip") -> Iterator[dict[str, Any]]:
        with self.db.read() as conn:
            yield from store.iter_scored(conn, kind)

    def _view(self, kind: str, key: str, now: datetime, listed: bool) -> dict[str, Any]:
        cfg = self.config
        today = now.date()
        with self.db.read() as conn:
            hist = next(iter(store.iter_window(conn, today - timedelta(days=cfg.history_days - 1), today,
                                               [(kind, key)])), (None, []))[1]
            world = next(iter(store.iter_window(conn, today - timedelta(days=cfg.window_days - 1), today,
                                                [WORLD])), (None, []))[1]
            prev = store.current(conn, [(kind, key)]).get((kind, key))
        days = [model.Day(d, *c[:5]) for d, *c in hist]
        first_seen = prev["first_seen"] if prev is not None else None
        r = model.reputation(days, [model.Day(d, *c[:5]) for d, *c in world], now,
                             first_seen=first_seen, listed=listed, cfg=cfg)

        def pair(attr: str) -> dict[str, int]:
            return {"day": getattr(r.day, attr), "month": getattr(r.month, attr)}

        return {
            "score": r.score, "score_interval": None if r.low is None else [r.low, r.high],
            "confidence": r.confidence, "formula": r.formula,
            "magnitude": {"day": r.magnitude_day, "month": r.magnitude_month},
            "volume": pair("volume"), "complaints": pair("complaints"), "trap_hits": pair("trap_hits"),
            "dns_queries": pair("dns_queries"), "first_seen": _iso(r.first_seen), "listed": r.listed,
            "explanation": [{"factor": f.factor, "effect": f.effect, "text": f.text} for f in r.explanation],
            "history": [{"day": d.isoformat(), "volume": v, "dns_queries": q, "complaints": c + f, "trap_hits": t,
                         "score": s} for d, v, q, c, f, t, s in hist],
        }

    def _listed(self, keys: Iterable[str], now: datetime) -> set[str]:
        with self.db.read() as conn:
            return {k for k, listing in listings.get(conn, list(keys)).items() if listing.listed_at(now)}

    def ip(self, text: str, now: datetime) -> dict[str, Any]:
        addr = parse_ip(text)
        key, net = str(addr), network_of(addr)
        listed = self._listed([key], now)
        out = {"ip": key, **self._view("ip", key, now, key in listed)}
        n = self._view("net", net, now, False)
        out["network"] = {"cidr": net, "score": n["score"], "confidence": n["confidence"],
                          "magnitude": n["magnitude"], "volume": n["volume"], "complaints": n["complaints"]}
        return out

    def network(self, text: str, now: datetime) -> dict[str, Any]:
        net = parse_key(text)
        if isinstance(net, ipaddress.IPv4Address | ipaddress.IPv6Address):
            cidr = network_of(net)
        elif net.prefixlen < NET_PREFIX[net.version]:
            raise BadInput(f"networks are kept per /{NET_PREFIX[4]} (IPv4) and /{NET_PREFIX[6]} (IPv6); "
                           "ask for one of those (a narrower one gets its covering network)")
        else:
            cidr = network_of(net.network_address)
        return {"network": cidr, **self._view("net", cidr, now, False)}

    def domain(self, text: str, now: datetime) -> dict[str, Any]:
        name = text.strip().rstrip(".").lower()
        if not name or len(name) > 253 or any(not p or len(p) > 63 for p in name.split(".")) or "." not in name:
            raise BadInput(f"{text[:60]!r} is not a domain name")
        return {"domain": name, **self._view("domain", name, now, False)}

    def ip_days(self, networks: Iterable[str], now: datetime, days: int = 30) -> list[dict[str, Any]]:
        """Per IP inside `networks` (those with data) per day, newest day first: volume,
        complaints (people's and FBL), trap hits, DNS queries (the sender dashboard)."""
        today = now.date()
        with self.db.read() as conn:
            rows = store.ip_days_in(conn, list(networks), today - timedelta(days=days - 1), today)
        return [{"ip": ip, "day": d.isoformat(), "volume": v, "dns_queries": q, "complaints": c + f, "trap_hits": t}
                for ip, (d, v, q, c, f, t, _s) in rows]
