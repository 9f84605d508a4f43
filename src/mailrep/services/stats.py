"""Public statistics: the headline figures of the home page and the series of `/stats`.

    stats = Stats(db)
    stats.headline(now)          {"listed", "reports_today", "reporters"}
    stats.series(now, days=30)   listings per day, reports per day by channel, top listed /24s
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from mailrep.store import listings, stats
from mailrep.store.db import Database
from mailrep.store.tables import CHANNELS

TOP_NETWORKS = 10


def _day(at: datetime) -> str:
    return at.date().isoformat()


def network_of(key: str) -> str:
    """The /24 of an IPv4 listing (/48 for IPv6); a network listing as it is."""
    net = ipaddress.ip_network(key, strict=False)
    prefix = 24 if net.version == 4 else 48
    return str(net.supernet(new_prefix=prefix)) if net.prefixlen > prefix else str(net)


class Stats:
    def __init__(self, db: Database) -> None:
        self.db = db

    def headline(self, now: datetime) -> dict[str, int]:
        with self.db.read() as conn:
            return {"listed": stats.listed_count(conn, now),
                    "reports_today": stats.reports_since(conn, now - timedelta(days=1)),
                    "reporters": stats.active_reporters(conn)}

    def series(self, now: datetime, days: int = 30) -> dict[str, Any]:
        """Per day (UTC, oldest first) over the last `days` days: the listings in force at the
        day's end (rebuilt backwards from today's count and the listing events) and the reports
        received per channel; and the /24 networks with the most listings in force now."""
        start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
        day_list = [_day(start + timedelta(days=i)) for i in range(days)]
        per_channel: dict[str, Counter[str]] = {c: Counter() for c in CHANNELS}
        nets: Counter[str] = Counter()
        with self.db.read() as conn:
            listed = stats.listed_count(conn, now)
            changes = Counter[str]()
            for at, delta in stats.listing_changes(conn, start):
                changes[_day(at)] += delta
            for at, channel in stats.report_times(conn, start):
                per_channel.setdefault(channel, Counter())[_day(at)] += 1
            for key, _family, _expires in listings.iter_listed(conn, now):
                nets[network_of(key)] += 1
        listed_at_end: list[int] = []
        for day in reversed(day_list):
            listed_at_end.append(max(listed, 0))
            listed -= changes[day]
        listed_at_end.reverse()
        return {
            "days": day_list,
            "listed": [{"day": d, "listed": n} for d, n in zip(day_list, listed_at_end, strict=True)],
            "reports": [{"day": d, **{c: per_channel[c][d] for c in per_channel}} for d in day_list],
            "channels": list(per_channel),
            "top_networks": [{"network": n, "listed": c} for n, c in nets.most_common(TOP_NETWORKS)],
        }
