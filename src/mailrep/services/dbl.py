"""The domain blocklist (`dbl.<base>`): domains advertised in reports, decided and explained.

    dbl = DomainBlocklist(db, DomainConfig.from_section(settings.section("dbl")))
    dbl.scan(now)                 read new reports' URL domains; re-decide the domains they touch
    dbl.sweep(now)                expire domain listings whose time has come
    dbl.reevaluate(domains, now)  re-decide domains from their current evidence
    dbl.lookup(domain, now)       the public JSON (GET /api/v1/lookup/domain/{d})
    dbl.iter_listed(now)          (domain, expires) of every listing in force (for `publish`)

`mailrep serve` runs `scan` after each batch of processed reports and `sweep` with the expiry
sweep. The scan is incremental: a cursor (the last report id scanned) lives in the store.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from mailrep.policy import explain as explaining
from mailrep.policy.domains import (
    DomainConfig,
    DomainDecision,
    DomainEvent,
    DomainListing,
    decide_domain,
    domains_of,
    normalise_domain,
)
from mailrep.services.blocklist import BATCH, retry
from mailrep.store import domains as store
from mailrep.store.db import Database

SCAN_BATCH = 1000


class DomainBlocklist:
    def __init__(self, db: Database, config: DomainConfig | None = None) -> None:
        self.db = db
        self.config = config or DomainConfig()

    def scan(self, now: datetime) -> list[DomainEvent]:
        """Record the URL domains of every report stored since the last scan, then re-decide
        those domains and the listings that are due."""
        touched: set[str] = set()
        while True:
            got = retry(self._scan_batch)
            if got is None:
                break
            touched |= got
        with self.db.read() as conn:
            touched.update(store.due(conn, now))
        return self.reevaluate(sorted(touched), now)

    def _scan_batch(self) -> set[str] | None:
        with self.db.transaction() as conn:
            after = store.cursor(conn, lock=True)
            batch = store.scan_reports(conn, after, SCAN_BATCH)
            if not batch:
                return None
            rows = [(rid, d) for rid, trace in batch for d in domains_of(trace)]
            store.add_report_domains(conn, rows)
            store.set_cursor(conn, batch[-1][0])
        return {d for _, d in rows}

    def sweep(self, now: datetime) -> list[DomainEvent]:
        with self.db.read() as conn:
            due = store.due(conn, now)
        return self.reevaluate(due, now) if due else []

    def reevaluate(self, domains: Sequence[str], now: datetime) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        for i in range(0, len(domains), BATCH):
            part = sorted(set(domains[i:i + BATCH]))
            out.extend(retry(lambda part=part: self._decide(part, now)))  # type: ignore[misc]
        return out

    def _decide(self, domains: Sequence[str], now: datetime) -> list[DomainEvent]:
        rule = self.config.rule
        with self.db.transaction() as conn:
            prev = store.get(conn, domains, lock=True)
            ev = store.load(conn, domains, now, rule.max_age_days)
            decisions = [decide_domain(prev.get(d) or DomainListing(d), ev[d], now, self.config)
                         for d in domains]
            events = [x.event for x in decisions if x.event is not None]
            store.save(conn, [x.listing for x in decisions], prev, events, now)
        return events

    def iter_listed(self, now: datetime) -> Iterator[tuple[str, datetime | None]]:
        with self.db.read() as conn:
            yield from store.iter_listed(conn, now)

    def change_marker(self) -> int:
        with self.db.read() as conn:
            return store.change_marker(conn)

    def _load(self, domain: str, now: datetime) -> tuple[DomainDecision, DomainListing, list[dict[str, Any]]]:
        with self.db.read() as conn:
            prev = store.get(conn, [domain]).get(domain) or DomainListing(domain)
            ev = store.load(conn, [domain], now, self.config.rule.max_age_days)[domain]
            hist = store.history(conn, domain)
        return decide_domain(prev, ev, now, self.config), prev, hist

    def lookup(self, domain: str, now: datetime) -> dict[str, Any]:
        """Public status of one domain: what `dbl.` publishes (the stored state) and why, from
        the current evidence (counts and weights, never who reported)."""
        iso = explaining.iso
        name = normalise_domain(domain)
        d, prev, hist = self._load(name, now)
        a = d.assessment
        listed = prev.listed_at(now)
        rule = self.config.rule
        return {
            "domain": name,
            "listed": listed,
            "state": "listed" if listed else "unlisted",
            "since": iso(prev.listed_since) if listed else None,
            "expires": iso(prev.expires_at) if listed else None,
            "score": round(a.score, 3),
            "evidence": {"reports": a.reports, "reporters": a.reporters, "last_seen": iso(a.last_evidence)},
            "explanation": {
                "threshold": rule.base_threshold, "min_reporters": rule.min_reporters,
                "window_days": rule.max_age_days, "expiry_hours": rule.expiry_hours,
                "exempt": d.exempt,
                "why": d.exempt or a.why,
            },
            "history": [{**h, "at": iso(h["at"]), "expires": iso(h["expires"])} for h in hist],
        }
