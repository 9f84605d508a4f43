"""An organisation's reputation: a sender the operator enrolled (`services.bond`: its networks
and domains) seen as one reputation entity.

    org = Organisations(reputation)
    org.view(sender, now)              sender: the bond's view of it (name, networks, domains)
    org.domain_days(["acme.example"], now, days=30)   the dashboard's per-domain-per-day rows

The organisation's score is the model's (`policy.reputation`, same formula and minimum) over
the daily sums of its addresses: every IP inside its networks that we hold data for. Its
domains are listed beside it with their own scores and are not added into the sums: a
complaint about mail from one of its addresses that advertises one of its domains is one
complaint, already counted through the address. Listing does not move the organisation's
score; each address says whether it is listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from mailrep.services.reputation import Reputation
from mailrep.store import listings
from mailrep.store import reputation as store


def _sum_days(rows: Iterable[tuple[str, store.DailyRow]]) -> list[store.DailyRow]:
    """The per-day sums of several entities' daily rows, oldest day first (no score)."""
    days: dict[date, list[int]] = {}
    for _, (d, *counts, _score) in rows:
        acc = days.setdefault(d, [0, 0, 0, 0, 0])
        for i, n in enumerate(counts):
            acc[i] += n
    return [(d, *days[d], None) for d in sorted(days)]  # type: ignore[misc]


class Organisations:
    def __init__(self, reputation: Reputation) -> None:
        self.rep = reputation
        self.db = reputation.db

    def view(self, sender: Mapping[str, Any], now: datetime, days: int = 30) -> dict[str, Any]:
        """Score, confidence, magnitudes and counts of the organisation (its addresses summed),
        its addresses and domains with their current reputation, daily history of `days`."""
        cfg = self.rep.config
        today = now.date()
        first = today - timedelta(days=max(days, cfg.window_days) - 1)
        domains = list(sender["domains"])
        with self.db.read() as conn:
            ip_rows = store.ip_days_in(conn, list(sender["networks"]), first, today)
            ips = sorted({ip for ip, _ in ip_rows})
            current = store.current(conn, [("ip", ip) for ip in ips] + [("domain", d) for d in domains])
            world = self.rep.world_rows(conn, now)
            listed = {k for k, listing in listings.get(conn, ips).items() if listing.listed_at(now)} if ips else set()
        seen = [c["first_seen"] for c in current.values() if c["kind"] == "ip" and c["first_seen"] is not None]
        out = {"organisation": sender["name"], "networks": list(sender["networks"]),
               **self.rep.summary(_sum_days(ip_rows), world, now, min(seen, default=None), False)}
        out["history"] = [h for h in out["history"] if h["day"] >= (today - timedelta(days=days - 1)).isoformat()]

        def brief(kind: str, key: str) -> dict[str, Any]:
            c = current.get((kind, key))
            return {"score": c["score"] if c else None, "confidence": c["confidence"] if c else "none",
                    "complaints_day": c["complaints_day"] if c else 0, "trap_hits_day": c["trap_hits_day"] if c else 0}

        out["ips"] = [{"ip": ip, **brief("ip", ip), "volume_day": (current.get(("ip", ip)) or {}).get("volume_day", 0),
                       "listed": ip in listed} for ip in ips]
        out["domains"] = [{"domain": d, **brief("domain", d)} for d in domains]
        return out

    def domain_days(self, domains: Iterable[str], now: datetime, days: int = 30) -> list[dict[str, Any]]:
        """Per domain per day with data, newest day first: complaints (people's and feedback
        loops) about mail advertising it, trap hits; volume is None (telemetry reports
        addresses, not domains)."""
        today = now.date()
        keys = [("domain", d) for d in domains]
        if not keys:
            return []
        with self.db.read() as conn:
            grouped = list(store.iter_window(conn, today - timedelta(days=days - 1), today, keys))
        rows = [{"domain": key, "day": d.isoformat(), "volume": None, "complaints": c + f, "trap_hits": t,
                 "dns_queries": q} for (_, key), entity in grouped for d, _v, q, c, f, t, _s in entity]
        return sorted(rows, key=lambda r: (r["day"], r["domain"]), reverse=True)
