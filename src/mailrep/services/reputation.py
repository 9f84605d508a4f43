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

import gc
import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from operator import itemgetter
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
_VALUE_COLS = store.CURRENT_COLS[2:]  # model.Scored's order
_PUBLISHED_AT = tuple(_VALUE_COLS.index(c) for c in PUBLISHED)
_published = itemgetter(*_PUBLISHED_AT)
_FIRST_SEEN = _VALUE_COLS.index("first_seen")
_LISTED = _VALUE_COLS.index("listed")
_VOLUME_DAY = _VALUE_COLS.index("volume_day")
_NO_DAY = (None,)


@dataclass(frozen=True, slots=True)
class Run:
    first_day: date
    last_day: date
    daily_rows: int
    scored: int
    changed: int
    full: bool
    rescored: int = -1  # of `scored`, the entities run through the model (the others' inputs did not change)


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
        # (run id, config, world, 24 h share) of this instance's last recompute: when the next
        # run follows it on the same day, entities whose inputs did not change are not rescored
        self._last: tuple[int, model.RepConfig, model.World, float] | None = None

    # -- in ------------------------------------------------------------------------------------

    def count_queries(self, counts: dict[str, int], now: datetime) -> int:
        """Add the DNS node's counts (queries per IP on bl.) to today's."""
        with self.db.transaction() as conn:
            return store.add_dns_queries(conn, now.date(), counts)

    # -- recompute -----------------------------------------------------------------------------

    def _entities(self, raw: dict[str, dict[date, list[int]]], domains: dict[str, dict[date, list[int]]],
                  ) -> dict[tuple[str, str], dict[date, list[int]]]:
        out: dict[tuple[str, str], dict[date, list[int]]] = {}
        nets: dict[str, dict[date, list[int]]] = {}
        world: dict[date, list[int]] = {}
        for ip, days in raw.items():
            out[("ip", ip)] = days
            cidr = ip.rsplit(".", 1)[0] + ".0/24" if ":" not in ip else network_of(ip)
            net = nets.get(cidr)
            if net is None:
                net = nets[cidr] = {}
            for d, c in days.items():
                for agg in (net, world):
                    row = agg.get(d)
                    if row is None:
                        agg[d] = list(c)
                    else:
                        row[0] += c[0]
                        row[1] += c[1]
                        row[2] += c[2]
                        row[3] += c[3]
                        row[4] += c[4]
        for cidr, days in nets.items():
            out[("net", cidr)] = days
        if raw:
            out[WORLD] = world
        for dom, days in domains.items():
            out[("domain", dom)] = days
        return out

    def recompute(self, now: datetime, *, full: bool = False) -> Run:
        # A run holds a few million small tuples and dicts at 1M entities and makes no reference
        # cycles: the cyclic collector's passes over them (each young-generation overflow, and
        # full passes that grow with the heap) cost more than the run itself. Paused for the run.
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self._recompute(now, full)
        finally:
            if enabled:
                gc.enable()

    def _recompute(self, now: datetime, full: bool) -> Run:
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
            on_days = store.days_on(conn, first, today)
            touched = new.keys() | on_days.keys()
            keys = None if everything else touched
            # many keys: one scan beats thousands of (kind, key) IN (...) chunks
            few = sorted(touched) if keys is not None and len(keys) <= BULK_KEYS else None
            old = store.current_values(conn, few)
            total_days = [_day(d, c) for d, c in new.get(WORLD, {}).items()]
            if first > win_first:
                total_days += [model.Day(d, *c[:5]) for _, rows in store.iter_window(conn, win_first, first - timedelta(days=1),
                                                                                   [WORLD]) for d, *c in rows]
            listed_ips = {k for k, _, _ in listings.iter_listed(conn, now)}
            stored = {k: rows for k, rows in store.iter_window(conn, win_first, first - timedelta(days=1), few)
                      if keys is None or k in touched} if first > win_first else {}
        listed_nets = {network_of(k) for k in listed_ips if "/" not in k}
        totals = model.world(total_days, now, cfg)
        score = model.Scorer(totals, now, cfg)
        scope = touched | stored.keys() | old.keys() if keys is None else set(touched)
        scope.discard(WORLD)
        changed: list[tuple[Any, ...]] = []
        daily: list[tuple[Any, ...]] = []  # the daily rows that differ from the stored ones
        stale: list[store.DayKey] = []  # stored daily rows of the rebuilt days with no evidence left
        n_published = 0
        rescored = 0
        no_rows: list[store.DailyRow] = []
        no_days: dict[date, Any] = {}
        # Same day, and the previous run was this instance's with this config: the stored daily
        # rows are what it scored, so an entity whose rows on the rebuilt days, listing and
        # first_seen are unchanged keeps its score; only its magnitudes follow the world (and
        # its last-24-h figures the clock, when it has a row for yesterday).
        since = self._last if (not everything and last is not None and self._last is not None
                                and self._last[0] == last["id"] and self._last[1] == cfg) else None
        same_world = since is not None and since[2] == totals
        same_share = since is not None and since[3] == score.share
        yesterday = today - timedelta(days=1)
        # the hot loop (once per entity): plain tuples in and out, see model.Scorer
        # In key order as far as it is known (the evidence comes grouped by address, sorted):
        # the rows are then written in the order of the tables' keys, which SQLite's B-trees take
        # much faster than a random (set) order once they outgrow the page cache.
        order = [k for k in new if k != WORLD]
        if len(order) < len(scope):
            order += scope.difference(new)
        for kind_key in order:
            kind, key = kind_key
            fresh = new.get(kind_key, no_days)
            was = on_days.get(kind_key, no_days)
            prev = old.get(kind_key)
            listed = key in listed_ips if kind == "ip" else key in listed_nets if kind == "net" else False
            # the entity's daily counters on the rebuilt days as stored (days, values)?
            same_days = len(was) == len(fresh)
            if same_days:
                for d, c in fresh.items():
                    w = was.get(d)
                    if w is None or w[0] != c[0] or w[1] != c[1] or w[2] != c[2] or w[3] != c[3] or w[4] != c[4]:
                        same_days = False
                        break
            if not same_days and was:
                stale += [(kind, key, d) for d in was if d not in fresh]
            if (since is not None and same_days and prev is not None and prev[_LISTED] == listed
                    and (same_share or yesterday not in fresh)):
                r = prev
                if not same_world:
                    before = stored.get(kind_key)
                    month = sum([row[1] for row in before]) if before else 0
                    for d, c in fresh.items():
                        if d >= win_first:
                            month += c[0]
                    mags = score.magnitudes(prev[_VOLUME_DAY], month)
                    if mags[0] != prev[2] or mags[1] != prev[3]:
                        r = (*prev[:2], *mags, *prev[4:])
            else:
                rescored += 1
                rows: list[Any] = stored.get(kind_key, no_rows)
                if fresh:
                    rows = [*rows, *[(d, *c) for d, c in fresh.items()]] if rows else [(d, *c) for d, c in fresh.items()]
                first_seen = prev[_FIRST_SEEN] if prev is not None else None
                if first_seen is not None:
                    for row in rows:
                        if row[0] < first_seen:
                            first_seen = row[0]
                r = score(rows, first_seen, listed)
            # today's daily row carries the score, a past day keeps the one its last run stored;
            # an unchanged day is not rewritten
            for d, c in fresh.items():
                w = was.get(d)
                values = (*c, r[0] if d == today else w[5] if w is not None else None)
                if w != values:
                    daily.append((kind, key, d, *values))
            if prev is None:
                changed.append((kind, key, *r))
                n_published += 1
            elif prev is not r and prev != r:
                changed.append((kind, key, *r))
                if _published(prev) != _published(r):
                    n_published += 1
        # the world's own daily rows (no score)
        was = on_days.get(WORLD, no_days)
        fresh = new.get(WORLD, no_days)
        stale += [(*WORLD, d) for d in was if d not in fresh]
        for d, c in fresh.items():
            w = was.get(d)
            values = (*c, w[5] if w is not None else None)
            if w != values:
                daily.append((*WORLD, d, *values))

        n_daily = sum(len(days) for days in new.values())
        with self.db.transaction() as conn:
            store.sync_days(conn, stale, daily)
            store.prune(conn, today - timedelta(days=cfg.history_days - 1))
            store.upsert_current_values(conn, changed)
            run_id = store.add_run(conn, now, first, today, len(scope), n_published, everything)
        self._last = (run_id, cfg, totals, score.share)
        return Run(first, today, n_daily, len(scope), n_published, everything, rescored)

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
            world = self.world_rows(conn, now)
            prev = store.current(conn, [(kind, key)]).get((kind, key))
        return self.summary(hist, world, now, prev["first_seen"] if prev is not None else None, listed)

    def world_rows(self, conn: Any, now: datetime) -> list[store.DailyRow]:
        """The observed world's daily rows of the window (the magnitudes' denominators)."""
        today = now.date()
        return next(iter(store.iter_window(conn, today - timedelta(days=self.config.window_days - 1), today,
                                           [WORLD])), (None, []))[1]

    def summary(self, hist: list[store.DailyRow], world: list[store.DailyRow], now: datetime,
                first_seen: date | None, listed: bool) -> dict[str, Any]:
        """The public view of one entity (or an aggregate of several) from its daily rows."""
        r = model.reputation([model.Day(d, *c[:5]) for d, *c in hist], [model.Day(d, *c[:5]) for d, *c in world],
                             now, first_seen=first_seen, listed=listed, cfg=self.config)

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
