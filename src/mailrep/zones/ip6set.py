"""IPv6 dataset: per-prefix-length sorted keys, most specific match wins.

Queries are 32 reversed nibble labels (RFC 5782). A level holds the networks of one prefix
length as sorted ints (the address shifted right by 128 - plen) with a shared value index
or one index per entry; index 0 is an exclusion. /64 listings with /128 exclusions
(rbldnsd `ip6tset`) are two levels; `ip6trie` CIDRs of any length are one level each.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Final

from mailrep.zones import ip6parse
from mailrep.zones.value import EXCLUDED, Value, ValueTable
from mailrep.zones.zone import ENT, Answer, Hit

HEX: Final = b"0123456789abcdef"
FULL6: Final = (1 << 128) - 1

# plen, keys (net >> (128 - plen)), per-entry value indexes or None, shared index
Level6 = tuple[int, list[int], list[int] | None, int]


def ip6_text(q: int) -> str:
    """The IPv6 key as TXT shows it (compressed, like rbldnsd)."""
    return ip6parse.text(q)


def nibbles_to_int(sub: tuple[bytes, ...]) -> int | None:
    """32 reversed nibble labels -> address, or None when they are not exactly that."""
    if len(sub) != 32:
        return None
    s = b"".join(reversed(sub))
    if len(s) != 32 or s.translate(None, HEX):
        return None
    return int(s, 16)


class Ip6Set:
    """An immutable IPv6 dataset; `values[0]` is None (the exclusion marker)."""

    kind: Final = "ip6"
    __slots__ = ("_hits", "levels", "values")

    def __init__(self, levels: Sequence[Level6], values: Sequence[Value | None]) -> None:
        self.levels = tuple(sorted(levels, key=lambda lv: -lv[0]))
        self.values = tuple(values)
        self._hits = tuple(v.hit(b"") if v is not None and v.static else None for v in self.values)

    def _find(self, q: int) -> int:
        for plen, keys, idx, single in self.levels:
            k = q >> (128 - plen)
            i = bisect_left(keys, k)
            if i != len(keys) and keys[i] == k:
                return single if idx is None else idx[i]
        return -1

    def lookup_ip6(self, q: int) -> Hit | None:
        # Deliberate hot-path copy of ip4set's Ip4Set._lookup_ip4 (per query, no extra call).
        v = self._find(q)
        if v <= 0:
            return None
        h = self._hits[v]
        if h is not None:
            return h
        return self.values[v].hit(ip6_text(q).encode())  # type: ignore[union-attr]

    def lookup(self, sub: tuple[bytes, ...]) -> Answer:
        n = len(sub)
        if n == 32:
            q = nibbles_to_int(sub)
            return None if q is None else self.lookup_ip6(q)
        if 0 < n < 32:
            s = b"".join(reversed(sub))
            if len(s) != n or s.translate(None, HEX):
                return None
            bits = 4 * n
            return ENT if self.has_beneath(int(s, 16) << (128 - bits), bits) else None
        return None

    def has_beneath(self, base: int, bits: int) -> bool:
        """Whether some listed entry lies in base/bits (an exclusion never removes a name)."""
        end = base + (1 << (128 - bits))
        for plen, keys, idx, single in self.levels:
            shift = 128 - plen
            if plen <= bits:
                k = base >> shift
                i = bisect_left(keys, k)
                if i != len(keys) and keys[i] == k and (single if idx is None else idx[i]) != EXCLUDED:
                    return True
            else:
                lo = bisect_left(keys, base >> shift)
                hi = bisect_left(keys, end >> shift, lo)
                if idx is None:
                    if hi > lo and single != EXCLUDED:
                        return True
                elif any(idx[i] != EXCLUDED for i in range(lo, hi)):
                    return True
        return False

    def __len__(self) -> int:
        return sum(len(lv[1]) for lv in self.levels)

    def entries(self) -> Iterator[tuple[int, int, int]]:
        """(network, plen, value index) in (plen desc, address) order."""
        for plen, keys, idx, single in self.levels:
            for i, k in enumerate(keys):
                yield k << (128 - plen), plen, (single if idx is None else idx[i])

    def __repr__(self) -> str:
        return f"<Ip6Set {len(self)} entries in {len(self.levels)} levels>"


class Ip6Builder(ValueTable):
    """Collects IPv6 entries, then builds an `Ip6Set`."""

    def __init__(self) -> None:
        super().__init__()
        self._levels: dict[int, dict[int, list[int]]] = {}

    def add(self, net: int, plen: int, vi: int, *, first_wins: bool = False) -> bool:
        """One entry; with first_wins (ip6trie) a second value for a prefix is refused."""
        level = self._levels.setdefault(plen, {})
        key = net >> (128 - plen)
        got = level.get(key)
        if got is None:
            level[key] = [vi]
            return True
        if first_wins:
            return False
        got.append(vi)
        return True

    def build(self) -> Ip6Set:
        levels: list[Level6] = []
        for plen, level in self._levels.items():
            keys = sorted(level)
            idx = [self.merge_group(level[k]) for k in keys]
            if len(set(idx)) == 1:
                levels.append((plen, keys, None, idx[0]))
            else:
                levels.append((plen, keys, idx, 0))
        return Ip6Set(levels, self.values)
