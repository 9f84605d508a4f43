"""One address as the public and as deputies see it: `lookup` and `explain`.

    view = Lookup(db, config)
    view.lookup(ip, now)     public (GET /api/v1/lookup/{ip}): what the zone publishes, evidence
                             counts, history, and the calculation without per-report detail
    view.explain(ip, now)    deputies (GET /api/v1/explain/{ip}, `mailrep explain`): the same
                             calculation with each report's exact time, pseudonym and trust,
                             and the trap addresses hit

Both read one snapshot and describe the stored decision (what the zone publishes); evidence
that the next evaluation has not taken in yet shows as `pending` ("new evidence being
evaluated"), never as a contradicting state. An address inside a network listing in force is
listed through it (`covered_by`, with that listing's reason and history).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from mailrep.net import parse_ip
from mailrep.policy import explain as explaining
from mailrep.policy.config import PolicyConfig
from mailrep.policy.listing import Listing, decide
from mailrep.policy.score import Evidence
from mailrep.store import evidence, listings
from mailrep.store.db import Database


class _Snapshot(NamedTuple):
    stored: Listing
    evidence: Evidence
    counts: dict[str, Any]
    history: list[dict[str, Any]]
    network: Listing | None  # a network listing in force that covers the address
    network_history: list[dict[str, Any]]
    queued: int
    traps: list[tuple[datetime, str | None]]  # deputies only


def _history(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    iso = explaining.iso
    return [{**h, "at": iso(h["at"]), "expires": iso(h["expires"])} for h in rows]


class Lookup:
    def __init__(self, db: Database, config: PolicyConfig) -> None:
        self.db = db
        self.config = config

    def _load(self, ip: str, now: datetime, *, deputy: bool) -> _Snapshot:
        days = self.config.max_age_days
        with self.db.read() as conn:
            stored = listings.get(conn, [ip]).get(ip) or Listing(ip)
            net = next((n for n in listings.covering_networks(conn, ip) if n.listed_at(now)), None)
            return _Snapshot(
                stored, evidence.load(conn, [ip], now, days)[ip], evidence.counts(conn, ip, now, days),
                listings.history(conn, ip), net, listings.history(conn, net.key) if net else [],
                evidence.queued(conn, ip), evidence.trap_detail(conn, ip, now, days) if deputy else [],
            )

    def _explain(self, s: _Snapshot, now: datetime) -> dict[str, Any]:
        d = decide(s.stored, s.evidence, now, self.config)
        x = explaining.explain(d, s.evidence, now, self.config, stored=s.stored, network=s.network,
                               queued=s.queued)
        if x["covered_by"] is not None:
            x["covered_by"]["history"] = _history(s.network_history)
        return x

    def explain(self, ip: str, now: datetime) -> dict[str, Any]:
        """How the policy sees `ip` now, in full: each report's time, reporter pseudonym, trust
        and weight; the trap hits with their addresses; the listing history."""
        key = str(parse_ip(ip))
        s = self._load(key, now, deputy=True)
        iso = explaining.iso
        return {**self._explain(s, now), "history": _history(s.history),
                "trap_hits": [{"at": iso(at), "trap_address": addr} for at, addr in s.traps]}

    def lookup(self, ip: str, now: datetime) -> dict[str, Any]:
        """Public status of one address: `listed`, `since`, `expires` are what the zone publishes
        (the stored state, or a network listing covering it); `explanation` is the calculation
        without per-report detail; evidence times are rounded down to the hour."""
        iso = explaining.iso
        key = str(parse_ip(ip))
        s = self._load(key, now, deputy=False)
        x = self._explain(s, now)
        shown = s.stored if s.stored.listed_at(now) or s.network is None else s.network
        listed = x["listed"]
        return {
            "ip": key,
            "listed": listed,
            "state": x["state"],
            "listing": shown.key if listed else None,
            "since": iso(shown.listed_since) if listed else None,
            "expires": x["expires"],
            "reason": shown.reason if listed else None,
            "covered_by": x["covered_by"],
            "pending": x["pending"],
            "score": x["score"],
            "evidence": {**s.counts, "last_seen": iso(explaining.to_hour(s.counts["last_seen"]))},
            "history": _history(s.history),
            "explanation": explaining.public(x),
        }
