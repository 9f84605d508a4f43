"""IPv4 text forms of rbldnsd data files: prefixes, ranges, CIDRs, A values, times.

Each parser takes the text at the start of an entry and returns what it read plus the
rest of the text, or None when the entry is invalid (the caller warns and skips it).

    1.2.3.4   1.2.3 (= 1.2.3.0/24)   1.2/16   1.2.3.4-1.2.3.10   1.2.3.4-10   1.2-1.3

A deliberate hot-path copy beside `mailrep.net`: rbldnsd's short forms and ranges are not
addresses `net` accepts, and a data file of millions of entries is read here as integers,
without an `ipaddress` object or an exception per entry.
"""

from __future__ import annotations

from typing import Final

FULL: Final = 0xFFFFFFFF
TIME_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def mask(bits: int) -> int:
    return (FULL << (32 - bits)) & FULL


def text(a: int) -> str:
    return f"{a >> 24}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}"


def _digits(s: str, i: int) -> int:
    n = len(s)
    while i < n and "0" <= s[i] <= "9":
        i += 1
    return i


def prefix(s: str, i: int = 0) -> tuple[int, int, int] | None:
    """1 to 4 dotted octets at s[i:] -> (address, bits 8/16/24/32, end index)."""
    a = 0
    for k, shift in enumerate((24, 16, 8, 0)):
        j = _digits(s, i)
        if j == i:
            return None
        o = int(s[i:j])
        if o > 255:
            return None
        a |= o << shift
        i = j
        if k == 3 or i >= len(s) or s[i] != ".":
            return a, 8 * (k + 1), i
        i += 1
    return None  # pragma: no cover


def _mbits(s: str, i: int) -> tuple[int, int] | None:
    j = _digits(s, i)
    if j == i:
        return None
    bits = int(s[i:j])
    if bits > 32:
        return None
    return bits, j


def _length(s: str, bits: int, i: int) -> tuple[int, int] | None:
    """The prefix length after an address ending at s[i]: `/n`, else the octets written;
    (bits, end index), or None for a bad `/n` or a bare number (not an address: write 10/8)."""
    if i < len(s) and s[i] == "/":
        return _mbits(s, i + 1)
    return None if bits == 8 else (bits, i)


def range_(s: str, *, accept_host_bits: bool = False) -> tuple[int, int, str] | None:
    """An ip4set key -> (first, last, rest); rbldnsd's ip4parse_range()."""
    p = prefix(s)
    if p is None:
        return None
    a, bits, i = p
    if i < len(s) and s[i] == "-":
        q = prefix(s, i + 1)
        if q is None:
            return None
        b, bbits, i = q
        if bbits == 8:  # 1.2.3.4-10: the last octet(s) only
            b = (b >> (bits - 8)) | (a & mask(bits - 8))
            bbits = bits
        elif bbits != bits:
            return None
        if bbits != 32:
            b |= ~mask(bbits) & FULL
        if a > b:
            return None
        return a, b, s[i:]
    m = _length(s, bits, i)
    if m is None:
        return None
    bits, i = m
    if bits <= 0:
        return None
    if a & ~mask(bits) & FULL:
        if not accept_host_bits:
            return None
        a &= mask(bits)
    return a, a | (~mask(bits) & FULL), s[i:]


def cidr(s: str) -> tuple[int, int, str, bool] | None:
    """An ip4trie key -> (network, bits, rest, host bits were set); rbldnsd's ip4cidr()."""
    p = prefix(s)
    if p is None:
        return None
    a, bits, i = p
    m = _length(s, bits, i)
    if m is None:
        return None
    bits, i = m
    hostbits = bool(a & ~mask(bits) & FULL)
    return a & mask(bits), bits, s[i:], hostbits


def address(s: str) -> tuple[int, str] | None:
    """A complete dotted quad (ip4tset) -> (address, rest)."""
    p = prefix(s)
    if p is None or p[1] != 32:
        return None
    return p[0], s[p[2] :]


def a_value(s: str) -> tuple[bytes | None, str]:
    """An A value after ':' -> (4 bytes or None, rest). '2' means 127.0.0.2 (rbldnsd)."""
    p = prefix(s)
    if p is None:
        return None, s
    a, bits, i = p
    if bits == 8:
        a >>= 24
    elif bits == 16:
        a = (a & 0xFF000000) | ((a >> 16) & 255)
    elif bits == 24:
        a = (a & 0xFFFF0000) | ((a >> 8) & 255)
    if not a:
        return None, s[i:]
    if bits == 8:
        a |= 0x7F000000
    return a.to_bytes(4, "big"), s[i:]


def time_value(s: str) -> int:
    """'3600', '1h', '2d', '1w' -> seconds; ValueError when malformed."""
    s = s.strip()
    if not s:
        raise ValueError("empty time")
    unit = 1
    if s[-1].lower() in TIME_UNITS:
        unit = TIME_UNITS[s[-1].lower()]
        s = s[:-1]
    if not s.isdigit() or not s.isascii():
        raise ValueError(f"bad time: {s!r}")
    v = int(s) * unit
    if v > FULL:
        raise ValueError("time too large")
    return v
