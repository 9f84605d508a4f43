"""The public view of one address: `lookup` (GET /api/v1/lookup/{ip}) and `explain`.

    view = Lookup(db, config)
    view.lookup(ip, now)     the public JSON: what the zone publishes, evidence, history, why
    view.explain(ip, now)    the policy's calculation only
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mailrep.net import parse_ip
from mailrep.policy import explain as explaining
from mailrep.policy.config import PolicyConfig
from mailrep.policy.listing import Listing, State, decide
from mailrep.policy.score import Evidence
from mailrep.store import evidence, listings
from mailrep.store.db import Database


class Lookup:
    def __init__(self, db: Database, config: PolicyConfig) -> None:
        self.db = db
        self.config = config

    def _load(self, ip: str, now: datetime) -> tuple[Listing, Evidence, Any]:
        days = self.config.max_age_days
        with self.db.read() as conn:
            prev = listings.get(conn, [ip]).get(ip) or Listing(ip)
            ev = evidence.load(conn, [ip], now, days)[ip]
            extra = (evidence.counts(conn, ip, now, days), listings.history(conn, ip),
                     listings.covering_networks(conn, ip))
        return prev, ev, extra

    def explain(self, ip: str, now: datetime) -> dict[str, Any]:
        """How the policy sees `ip` now: evidence, weights, volume term, threshold, expiry, why."""
        key = str(parse_ip(ip))
        prev, ev, _ = self._load(key, now)
        return explaining.explain(decide(prev, ev, now, self.config), ev, now, self.config)

    def lookup(self, ip: str, now: datetime) -> dict[str, Any]:
        """Public status of one address. `listed`, `since` and `expires` are what the zone
        publishes (the stored state); `explanation` is the policy's view of the current evidence."""
        iso = explaining.iso
        key = str(parse_ip(ip))
        prev, ev, (counts, hist, nets) = self._load(key, now)
        d = decide(prev, ev, now, self.config)
        net = next((n for n in nets if n.listed_at(now)), None)
        shown = prev if prev.listed_at(now) or net is None else net
        counts["last_seen"] = iso(counts["last_seen"])
        return {
            "ip": key,
            "listed": shown.listed_at(now),
            "state": str(shown.state) if shown.listed_at(now) or shown.state != State.LISTED else "unlisted",
            "listing": shown.key if shown.listed_at(now) else None,
            "since": iso(shown.listed_since) if shown.listed_at(now) else None,
            "expires": iso(shown.expires_at) if shown.listed_at(now) else None,
            "score": round(d.assessment.score, 3),
            "evidence": counts,
            "history": [{**h, "at": iso(h["at"]), "expires": iso(h["expires"])} for h in hist],
            "explanation": explaining.explain(d, ev, now, self.config),
        }
