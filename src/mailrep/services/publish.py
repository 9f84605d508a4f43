"""What each DNS zone publishes, as data: its entries, the change marker and the SOA serial.

    publish = Publish(db, site_url="https://rep.example", zone_base="mailrep.test")
    marker = publish.change_marker()            grows whenever a listing changes state
    snap = publish.snapshot(now, marker)        every zone, serial from the marker
    publish.entries(now)                        (zone, key, A value, TXT template) for zones.build
    publish.listed(now)                         the `bl` zone's listings in force

`bl` holds the listings in force (A 127.0.0.2), `dbl` the domain listings in force (A 127.0.1.2,
TXT `<site>/lookup?domain=<name>`); `wl` and reputation zones join by adding their source to
`entries`. `mailrep serve` and `mailrep zone export` both build here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from mailrep.store import domains, listings
from mailrep.store.db import Database
from mailrep.zones.build import Entry, build_snapshot
from mailrep.zones.zone import Snapshot

A_LISTED = "127.0.0.2"
TXT_TEMPLATE = "Blocked - see {site}/lookup?ip=$"  # `$` is the queried address (rbldnsd style)
A_DOMAIN = "127.0.1.2"
DOMAIN_TXT_TEMPLATE = "Blocked - see {site}/lookup?domain=$"  # `$` is the queried domain
SERIAL_MAX = 2**32 - 1


@dataclass(frozen=True, slots=True)
class Listed:
    key: str  # an address or a network
    family: int
    a: str  # the A value (127.0.0.2)
    txt: str  # TXT template; `$` stands for the queried address
    expires_at: datetime | None


def serial(marker: int) -> int:
    """SOA serial from the change marker (the newest listing event id), kept in 1..2**32-1."""
    return int(marker) % SERIAL_MAX + 1


class Publish:
    def __init__(self, db: Database, *, site_url: str = "http://127.0.0.1:8080",
                 zone_base: str = "mailrep.test", a_value: str = A_LISTED) -> None:
        self.db = db
        self.site_url = site_url
        self.zone_base = zone_base
        self.a_value = a_value

    def change_marker(self) -> int:
        """Grows whenever any listing changes state (the newest listing event id plus the
        newest domain listing event id)."""
        with self.db.read() as conn:
            return listings.change_marker(conn) + domains.change_marker(conn)

    def iter_listed(self, now: datetime) -> Iterator[Listed]:
        """Every listing in force at `now`, streamed (one read snapshot)."""
        txt = TXT_TEMPLATE.format(site=self.site_url.rstrip("/"))
        with self.db.read() as conn:
            for key, family, expires in listings.iter_listed(conn, now):
                yield Listed(key, family, self.a_value, txt, expires)

    def listed(self, now: datetime) -> list[Listed]:
        return list(self.iter_listed(now))

    def entries(self, now: datetime) -> Iterator[Entry]:
        """Every zone's entries: (zone suffix, key, A value, TXT template)."""
        for x in self.iter_listed(now):
            yield ("bl", x.key, x.a, x.txt)
        txt = DOMAIN_TXT_TEMPLATE.format(site=self.site_url.rstrip("/"))
        with self.db.read() as conn:
            for domain, _expires in domains.iter_listed(conn, now):
                yield ("dbl", domain, A_DOMAIN, txt)

    def snapshot(self, now: datetime, marker: int) -> Snapshot:
        """The DNS snapshot of every zone at `now`, its serial taken from `marker`."""
        return build_snapshot(self.entries(now), base=self.zone_base, serial=serial(marker),
                              site_url=self.site_url)
