"""DNS protocol numbers (RFC 1035, 2308, 6891) as named values: no bare literals elsewhere."""

from __future__ import annotations

from enum import IntEnum, IntFlag

from mailrep.zones.rrtype import RRType as RRType  # owned by zones (records have types)


class Rcode(IntEnum):
    NOERROR = 0
    FORMERR = 1
    SERVFAIL = 2
    NXDOMAIN = 3
    NOTIMP = 4
    REFUSED = 5
    BADVERS = 16  # extended (EDNS): upper 8 bits go into the OPT TTL


class Opcode(IntEnum):
    QUERY = 0
    IQUERY = 1
    STATUS = 2
    NOTIFY = 4
    UPDATE = 5


class Flag(IntFlag):
    """Header flag bits (the 16-bit word after the ID, opcode and rcode excluded)."""

    QR = 0x8000
    AA = 0x0400
    TC = 0x0200
    RD = 0x0100
    RA = 0x0080
    AD = 0x0020
    CD = 0x0010


OPCODE_SHIFT = 11
OPCODE_MASK = 0x7800
RCODE_MASK = 0x000F


class RRClass(IntEnum):
    IN = 1
    CH = 3
    NONE = 254
    ANY = 255


HEADER_LEN = 12
MAX_LABEL = 63
MAX_NAME = 255
MAX_TXT_STRING = 255
POINTER_MASK = 0xC0
POINTER_TO_QNAME = 0xC00C  # compression pointer to the question name, always at offset 12
UDP_CLASSIC = 512  # reply limit without EDNS
UDP_SERVER_MAX = 1232  # our advertised EDNS payload size (DNS flag day 2020)
TCP_MAX = 65535
EDNS_VERSION = 0
EDNS_DO = 0x8000
