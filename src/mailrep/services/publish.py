"""What each DNS zone publishes, as data: its entries, the change marker and the SOA serial.

    publish = Publish(db, site_url="https://rep.example", zone_base="mailrep.test")
    marker = publish.change_marker()            grows whenever a listing changes state
    snap = publish.snapshot(now, marker)        every zone, serial from the marker
    publish.entries(now)                        (zone, key, A value, TXT template) for zones.build
    publish.listed(now)                         the `bl` zone's listings in force

`bl` holds the listings in force; `wl` (when built with `allowlist=`, a `services.bond.Bond`)
the networks of approved, funded bonded senders, A `127.0.<category>.<trust>` (DNSWL.org's
encoding) and a TXT naming the sender and the program; its RFC 5782 test point answers
127.0.0.2 with a TXT that says it is a test. `rep` (when built with `reputation=`) every IP with
a reputation score: TXT `score=-3.4|mag_day=5.2|...` (SenderBase's `key=value|` style) and A
127.0.4.N, N = round((score + 10) * 5); no score, no name (NXDOMAIN). `dbl` the domain
listings in force (A 127.0.1.2, TXT `<site>/lookup?domain=<name>`). `mailrep serve` and `mailrep zone export` both build here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from mailrep.policy.reputation import a_octet
from mailrep.services.bond import Bond
from mailrep.services.reputation import Reputation
from mailrep.store import domains, listings
from mailrep.store.db import Database
from mailrep.zones.build import ZONES, Entry, build_snapshot
from mailrep.zones.zone import Snapshot

A_LISTED = "127.0.0.2"
TXT_TEMPLATE = "Blocked - see {site}/lookup?ip=$"  # `$` is the queried address (rbldnsd style)
A_DOMAIN = "127.0.1.2"
DOMAIN_TXT_TEMPLATE = "Blocked - see {site}/lookup?domain=$"  # `$` is the queried domain
SERIAL_MAX = 2**32 - 1
WL_TEST_TXT = "Test point of the {program} allowlist"


@dataclass(frozen=True, slots=True)
class Listed:
    key: str  # an address or a network
    family: int
    a: str  # the A value (127.0.0.2)
    txt: str  # TXT template; `$` stands for the queried address
    expires_at: datetime | None


def rep_txt(row: dict[str, Any]) -> str:
    """The rep. zone's TXT for one stored current reputation row."""
    first = row["first_seen"]
    fields = [f"score={row['score']:.1f}", f"confidence={row['confidence']}"]
    fields += [f"{k}={row[k]:.2f}" for k in ("mag_day", "mag_month") if row[k] is not None]
    fields += [f"complaints_day={row['complaints_day']}", f"trap_hits_day={row['trap_hits_day']}"]
    if first is not None:
        fields.append(f"first_seen={int(datetime.combine(first, time.min, UTC).timestamp())}")
    fields += [f"listed={'Y' if row['listed'] else 'N'}", f"formula={row['formula']}"]
    return "|".join(fields)


def serial(marker: int) -> int:
    """SOA serial from the change marker (the newest listing event id), kept in 1..2**32-1."""
    return int(marker) % SERIAL_MAX + 1


class Publish:
    def __init__(self, db: Database, *, site_url: str = "http://127.0.0.1:8080",
                 zone_base: str = "mailrep.test", a_value: str = A_LISTED,
                 allowlist: Bond | None = None, reputation: Reputation | None = None) -> None:
        self.db = db
        self.reputation = reputation
        self.site_url = site_url
        self.zone_base = zone_base
        self.a_value = a_value
        self.allowlist = allowlist

    def change_marker(self) -> int:
        """Grows whenever any listing changes state (the newest listing event id plus the
        newest domain listing event id), with every
        bonded sender's status change or ledger entry when there is an allowlist, and with each
        reputation recompute that changes a published value (the newest such run id)."""
        with self.db.read() as conn:
            marker = listings.change_marker(conn) + domains.change_marker(conn)
        if self.allowlist is not None:
            marker += self.allowlist.change_marker()
        if self.reputation is not None:
            marker += self.reputation.change_marker()
        return marker

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
        if self.allowlist is not None:
            for w in self.allowlist.listed(now):
                yield ("wl", w.network, w.a, w.txt)
        if self.reputation is not None:
            for row in self.reputation.iter_scored("ip"):
                yield ("rep", row["key"], f"127.0.4.{a_octet(row['score'])}", rep_txt(row))

    def snapshot(self, now: datetime, marker: int) -> Snapshot:
        """The DNS snapshot of every zone at `now`, its serial taken from `marker`."""
        test_txt = ({"wl": WL_TEST_TXT.format(program=self.allowlist.config.program)}
                    if self.allowlist is not None else {})
        return build_snapshot(self.entries(now), base=self.zone_base, serial=serial(marker),
                              site_url=self.site_url, test_txt=test_txt,
                              zones=(*ZONES, "rep") if self.reputation is not None else ZONES)
