"""DNS resource record types (RFC 1035, 3596, 1995, 5936): the zones' records carry them, and
`mailrep.dns.constants` re-exports them for the wire code (zones never import dns)."""

from __future__ import annotations

from enum import IntEnum


class RRType(IntEnum):
    A = 1
    NS = 2
    CNAME = 5
    SOA = 6
    PTR = 12
    MX = 15
    TXT = 16
    AAAA = 28
    OPT = 41
    IXFR = 251
    AXFR = 252
    MAILB = 253
    MAILA = 254
    ANY = 255
