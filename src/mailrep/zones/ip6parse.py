"""IPv6 text forms of rbldnsd data files: `2001:db8:1:2` (= /64), `2001:db8::/32`, `::1`.

Without `::` an address may stop early; the missing groups are zero and the prefix length
defaults to 16 bits per group given (so four groups are a /64). With `::` it is a full
address (/128 unless `/bits` follows).

A deliberate hot-path copy beside `mailrep.net`: rbldnsd's short forms are not addresses `net`
accepts, and large data files are read here as integers, without an `ipaddress` object or an
exception per entry.
"""

from __future__ import annotations

from typing import Final

FULL6: Final = (1 << 128) - 1
_HEXCHARS: Final = frozenset("0123456789abcdefABCDEF")


def text(a: int) -> str:
    """Compressed text form: the longest run of two or more zero groups becomes '::'."""
    groups = [a >> s & 0xFFFF for s in range(112, -1, -16)]
    best, best_len, i = -1, 1, 0
    while i < 8:
        if groups[i] == 0:
            j = i
            while j < 8 and groups[j] == 0:
                j += 1
            if j - i > best_len:
                best, best_len = i, j - i
            i = j
        else:
            i += 1
    hexes = [f"{g:x}" for g in groups]
    if best < 0:
        return ":".join(hexes)
    return ":".join(hexes[:best]) + "::" + ":".join(hexes[best + best_len :])


def mask(bits: int) -> int:
    return (FULL6 << (128 - bits)) & FULL6


def _groups(part: str) -> list[int] | None:
    if not part:
        return []
    out = []
    for g in part.split(":"):
        if not 1 <= len(g) <= 4 or not set(g) <= _HEXCHARS:
            return None
        out.append(int(g, 16))
    return out


def cidr(s: str, *, allow_bits: bool = True) -> tuple[int, int, str, bool] | None:
    """-> (network, bits, rest, host bits were set) or None when invalid."""
    i, n = 0, len(s)
    while i < n and (s[i] in _HEXCHARS or s[i] == ":"):
        i += 1
    tok, rest = s[:i], s[i:]
    if not tok:
        return None
    if "::" in tok:
        if tok.count("::") > 1:
            return None
        head, tail = tok.split("::")
        hg, tg = _groups(head), _groups(tail)
        if hg is None or tg is None or len(hg) + len(tg) > 7:
            return None
        groups = hg + [0] * (8 - len(hg) - len(tg)) + tg
        bits = 128
    else:
        g = _groups(tok)
        if g is None or len(g) > 8:
            return None
        bits = 16 * len(g)
        groups = g + [0] * (8 - len(g))
    a = 0
    for g16 in groups:
        a = a << 16 | g16
    if rest.startswith("/"):
        if not allow_bits:
            return None
        j = 1
        while j < len(rest) and rest[j].isdigit() and rest[j].isascii():
            j += 1
        if j == 1 or int(rest[1:j]) > 128:
            return None
        bits, rest = int(rest[1:j]), rest[j:]
    elif bits == 16 and "::" not in tok:
        return None  # a bare number is not an address
    hostbits = bool(a & ~mask(bits) & FULL6)
    return a & mask(bits), bits, rest, hostbits
