"""IPv4 dataset: a sorted compact array of /32 keys plus disjoint intervals for CIDR ranges.

Entries live in *levels*, one per prefix length. A level is a sorted `array('I')` of
network addresses and either one shared value index (the usual case: every entry says
127.0.0.2 with the same TXT) or a parallel `array('B'|'H'|'I')` of indexes into the
dataset's value table. Index 0 is reserved for exclusions (`!`).

For lookups the /32 level is bisected as is; all shorter prefixes are flattened once into
disjoint intervals carrying the most specific answer (prefixes are nested or disjoint), so
a query costs at most two bisects. rbldnsd `ip4set` ranges are cut into octet-aligned
blocks (levels 32/24/16/8, like rbldnsd does); `ip4trie` keeps any CIDR length as its own
level. Memory for N /32 entries sharing one value: 4*N bytes. Levels stay available for
ordered enumeration (exports, diffs) and empty non-terminal checks.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from mailrep.zones.value import EXCLUDED, Value, ValueTable
from mailrep.zones.zone import ENT, Answer, Hit

OCTET: Final[dict[bytes, int]] = {str(i).encode(): i for i in range(256)}
INDEX_MIN: Final = 1 << 18  # /32 levels this big get the 16-bit index (<= 1 byte/entry more)
MAPPED_NIBBLES: Final = b"0" * 20 + b"ffff"  # ::ffff:0:0/96, the IPv4-mapped IPv6 prefix


def mask_of(plen: int) -> int:
    return (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF


def ip4_text(q: int) -> str:
    return f"{q >> 24}.{q >> 16 & 255}.{q >> 8 & 255}.{q & 255}"


def index_typecode(nvalues: int) -> str:
    return "B" if nvalues <= 0x100 else "H" if nvalues <= 0x10000 else "I"


# plen, mask, addresses, per-entry value indexes (or None), the shared index, count
Level = tuple[int, int, array, array | None, int, int]


class Ip4Set:
    """An immutable IPv4 dataset. `values[0]` is None (the exclusion marker)."""

    kind: Final = "ip4"
    __slots__ = ("_exact", "_hits", "_ix", "_seg_starts", "_seg_values", "_shift", "levels", "lookup",
                 "lookup_ip4", "values")

    lookup: Callable[[tuple[bytes, ...]], Answer]
    lookup_ip4: Callable[[int], Hit | None]  # fast entry point: the address as an int

    def __init__(self, levels: Sequence[Level], values: Sequence[Value | None],
                 intervals: tuple[array, array] | None = None, index16: array | None = None) -> None:
        self.levels = tuple(sorted(levels, key=lambda lv: -lv[0]))
        self.values = tuple(values)
        # answers that do not depend on the key are built once
        self._hits = tuple(
            v.hit(b"") if v is not None and v.static else None for v in self.values
        )
        # the /32 level is searched as is; every shorter prefix is flattened into disjoint
        # intervals that already carry the most specific answer: at most two bisects a query
        self._exact = next((lv for lv in self.levels if lv[0] == 32), None)
        # big /32 levels get a first-16-bits index: the bisect then runs over ~n/65536 keys
        n32 = self._exact[5] if self._exact is not None else 0
        if n32 >= INDEX_MIN and self._exact is not None:
            addrs = self._exact[2]
            self._shift = 16
            self._ix = index16 if index16 is not None else array(
                "I", (bisect_left(addrs, p << 16) for p in range(0x10001)))
        else:
            self._shift, self._ix = 32, array("I", [0, n32])
        if intervals is None:
            intervals = _intervals([lv for lv in self.levels if lv[0] < 32], len(self.values))
        self._seg_starts, self._seg_values = intervals
        self.lookup, self.lookup_ip4 = _specialize(self)

    @classmethod
    def from_arrays(
        cls, parts: Sequence[tuple[int, array, array | None, int]], values: Sequence[Value | None],
        intervals: tuple[array, array] | None = None, index16: array | None = None,
    ) -> Ip4Set:
        return cls([(p, mask_of(p), a, i, s, len(a)) for p, a, i, s in parts], values, intervals, index16)

    @property
    def index16(self) -> array | None:
        """Start offsets of each first-16-bits block in the /32 array (big sets only)."""
        return self._ix if self._shift == 16 else None

    @property
    def intervals(self) -> tuple[array, array]:
        """(starts, value indexes) of the flattened shorter-than-/32 prefixes."""
        return self._seg_starts, self._seg_values

    def _find(self, q: int) -> int:
        ex = self._exact
        if ex is not None:
            addrs = ex[2]
            t = q >> self._shift
            hi = self._ix[t + 1]
            i = bisect_left(addrs, q, self._ix[t], hi)
            if i != hi and addrs[i] == q:
                return ex[4] if ex[3] is None else ex[3][i]
        starts = self._seg_starts
        if starts:
            return self._seg_values[bisect_right(starts, q) - 1]
        return -1

    def _lookup_ip4(self, q: int) -> Hit | None:
        v = self._find(q)
        if v <= 0:
            return None
        h = self._hits[v]
        if h is not None:
            return h
        return self.values[v].hit(ip4_text(q).encode())  # type: ignore[union-attr]

    def _lookup(self, sub: tuple[bytes, ...]) -> Answer:
        # Deliberate hot-path copy of _lookup_ip4 (and of ip6set's lookup_ip6): every DNS query
        # runs it; a shared helper would cost a call per query and the TXT key differs.
        n = len(sub)
        if n == 4:
            o = OCTET
            try:
                q = o[sub[3]] << 24 | o[sub[2]] << 16 | o[sub[1]] << 8 | o[sub[0]]
            except KeyError:
                return None
            v = self._find(q)
            if v <= 0:
                return None
            h = self._hits[v]
            if h is not None:
                return h
            return self.values[v].hit(b".".join((sub[3], sub[2], sub[1], sub[0])))  # type: ignore[union-attr]
        return self._lookup_short(sub)

    def _lookup_short(self, sub: tuple[bytes, ...]) -> Answer:
        n = len(sub)
        if 0 < n < 4:
            try:
                q = 0
                for lab in reversed(sub):
                    q = q << 8 | OCTET[lab]
            except KeyError:
                return None
            bits = 8 * n
            return ENT if self.has_beneath(q << (32 - bits), bits) else None
        if 4 < n <= 32:
            return self._lookup_mapped(sub)
        return None

    def _lookup_mapped(self, sub: tuple[bytes, ...]) -> Answer:
        """IPv4-mapped IPv6 names (::ffff:a.b.c.d as 32 nibbles) answer from IPv4 data, as in
        rbldnsd; the TXT key is the IPv4 address. Shorter nibble prefixes may be ENTs."""
        n = len(sub)
        s = b"".join(reversed(sub))
        if len(s) != n or s.translate(None, b"0123456789abcdef"):
            return None
        if n == 32:
            v = int(s, 16)
            if v >> 32 != 0xFFFF:
                return None
            return self._lookup_ip4(v & 0xFFFFFFFF)
        if not MAPPED_NIBBLES.startswith(s[:24]):
            return None
        if n <= 24:
            return ENT if self.has_beneath(0, 0) else None
        bits = 4 * (n - 24)
        return ENT if self.has_beneath(int(s[24:], 16) << (32 - bits), bits) else None

    def has_beneath(self, base: int, bits: int) -> bool:
        """Whether some listed entry lies in base/bits (an exclusion never removes a name)."""
        end = base + (1 << (32 - bits))
        for plen, mask, addrs, idx, single, n in self.levels:
            if plen <= bits:
                k = base & mask
                i = bisect_left(addrs, k)
                if i != n and addrs[i] == k and (single if idx is None else idx[i]) != EXCLUDED:
                    return True
            else:
                lo = bisect_left(addrs, base)
                if lo == n or addrs[lo] >= end:
                    continue
                if idx is None:
                    if single != EXCLUDED:
                        return True
                    continue
                hi = bisect_left(addrs, end, lo)
                if any(idx[i] != EXCLUDED for i in range(lo, hi)):
                    return True
        return False

    def __len__(self) -> int:
        return sum(lv[5] for lv in self.levels)

    def entries(self) -> Iterator[tuple[int, int, int]]:
        """(network, plen, value index) in (plen desc, address) order; for export and diffs."""
        for plen, _m, addrs, idx, single, n in self.levels:
            for i in range(n):
                yield addrs[i], plen, (single if idx is None else idx[i])

    def __repr__(self) -> str:
        return f"<Ip4Set {len(self)} entries in {len(self.levels)} levels>"


def _intervals(levels: Sequence[Level], nvalues: int) -> tuple[array, array]:
    """Prefixes shorter than /32 (a laminar family: nested or disjoint) -> sorted interval
    starts and the value index in force from each start on (0: not listed). The first
    interval starts at 0, so `bisect_right(starts, q) - 1` always lands on one."""
    items = []
    for plen, _m, addrs, idx, single, _n in levels:
        size = 1 << (32 - plen)
        for i, a in enumerate(addrs):
            items.append((a, plen, a + size, single if idx is None else idx[i]))
    starts, vals = array("I"), array(index_typecode(nvalues))
    if not items:
        return starts, vals
    items.sort()  # by start, the bigger (shorter prefix) block first

    def emit(pos: int, v: int) -> None:
        if pos > 0xFFFFFFFF:
            return
        if starts and starts[-1] == pos:
            starts.pop()
            vals.pop()
        if vals and vals[-1] == v:
            return
        starts.append(pos)
        vals.append(v)

    emit(0, EXCLUDED)
    stack: list[tuple[int, int]] = []  # (end, value) of the open blocks
    for start, _plen, end, v in items:
        while stack and stack[-1][0] <= start:
            done_end, _ = stack.pop()
            emit(done_end, stack[-1][1] if stack else EXCLUDED)
        emit(start, v)
        stack.append((end, v))
    while stack:
        done_end, _ = stack.pop()
        emit(done_end, stack[-1][1] if stack else EXCLUDED)
    return starts, vals


def _buckets(data: array, code: str, top: Callable[[int], int]) -> list[array]:
    """`data` split into 256 arrays by `top(item)` (0..255), order kept within each."""
    out = [array(code) for _ in range(256)]
    appends = [b.append for b in out]
    for x in data:
        appends[top(x)](x)
    return out


def _specialize(ds: Ip4Set) -> tuple[Callable[[tuple[bytes, ...]], Answer], Callable[[int], Hit | None]]:
    """Lookup functions for the common shape (one /32 level, one shared value), else generic.

    The hot path then is: 4 dict lookups (label -> octet), one short bisect, one comparison.
    The four closures are deliberate copies of one another and of Ip4Set._lookup: each is
    specialised (hit or template, labels or int) so that a query pays no call and no branch.
    """
    if len(ds.levels) != 1 or ds.levels[0][0] != 32 or ds.levels[0][3] is not None:
        return ds._lookup, ds._lookup_ip4
    _p, _m, addrs, _i, single, _n = ds.levels[0]
    if single == EXCLUDED:
        return ds._lookup, ds._lookup_ip4
    value = ds.values[single]
    hit = ds._hits[single]
    short = ds._lookup_short
    o = OCTET
    ix, shift = ds._ix, ds._shift
    assert value is not None

    if hit is not None:
        def lookup(sub: tuple[bytes, ...]) -> Answer:
            if len(sub) != 4:
                return short(sub)
            try:
                q = o[sub[3]] << 24 | o[sub[2]] << 16 | o[sub[1]] << 8 | o[sub[0]]
            except KeyError:
                return None
            t = q >> shift
            hi = ix[t + 1]
            i = bisect_left(addrs, q, ix[t], hi)
            return hit if i != hi and addrs[i] == q else None

        def lookup_ip4(q: int) -> Hit | None:
            t = q >> shift
            hi = ix[t + 1]
            i = bisect_left(addrs, q, ix[t], hi)
            return hit if i != hi and addrs[i] == q else None

        return lookup, lookup_ip4

    make = value.hit

    def lookup_t(sub: tuple[bytes, ...]) -> Answer:
        if len(sub) != 4:
            return short(sub)
        try:
            q = o[sub[3]] << 24 | o[sub[2]] << 16 | o[sub[1]] << 8 | o[sub[0]]
        except KeyError:
            return None
        t = q >> shift
        hi = ix[t + 1]
        i = bisect_left(addrs, q, ix[t], hi)
        if i != hi and addrs[i] == q:
            return make(b".".join((sub[3], sub[2], sub[1], sub[0])))
        return None

    def lookup_ip4_t(q: int) -> Hit | None:
        t = q >> shift
        hi = ix[t + 1]
        i = bisect_left(addrs, q, ix[t], hi)
        if i != hi and addrs[i] == q:
            return make(ip4_text(q).encode())
        return None

    return lookup_t, lookup_ip4_t


def octet_blocks(lo: int, hi: int) -> Iterator[tuple[int, int]]:
    """Cut lo..hi (inclusive) into octet-aligned blocks (start, plen), as rbldnsd ip4set does."""
    while lo <= hi:
        for plen, size in ((8, 1 << 24), (16, 1 << 16), (24, 1 << 8), (32, 1)):
            if lo % size == 0 and lo + size - 1 <= hi:
                yield lo, plen
                lo += size
                break


class Ip4Builder(ValueTable):
    """Collects entries, then builds an `Ip4Set`. Value index 0 means exclusion."""

    def __init__(self, values: Sequence[Value | None] | None = None) -> None:
        super().__init__(values)
        # raw uint32 arrays, not lists of ints: a million int objects would fragment the heap
        self._addrs: dict[int, array] = {}
        self._vidx: dict[int, array] = {}
        self._trie: dict[int, dict[int, int]] = {}

    def set_value(self, i: int, v: Value) -> None:
        """Fill in a value slot reserved earlier (by appending to `values`)."""
        self.values[i] = v
        self._index.setdefault(v, i)

    def add(self, net: int, plen: int, vi: int) -> None:
        """One entry at its own level (duplicates allowed; merged when built)."""
        a = self._addrs.get(plen)
        if a is None:
            a = self._addrs[plen] = array("I")
            self._vidx[plen] = array("I")
        a.append(net)
        self._vidx[plen].append(vi)

    def add_range(self, lo: int, hi: int, vi: int) -> None:
        """An rbldnsd ip4set range: octet-aligned blocks, each at its level."""
        if lo == hi:
            self.add(lo, 32, vi)
            return
        for start, plen in octet_blocks(lo, hi):
            self.add(start, plen, vi)

    def add_cidr_once(self, net: int, plen: int, vi: int) -> bool:
        """An ip4trie entry: the first value for a prefix wins; False on a duplicate."""
        level = self._trie.setdefault(plen, {})
        if net in level:
            return False
        level[net] = vi
        return True

    def __len__(self) -> int:
        return sum(len(a) for a in self._addrs.values()) + sum(len(t) for t in self._trie.values())

    def build(self) -> Ip4Set:
        for plen, level in self._trie.items():
            for net, vi in level.items():
                self.add(net, plen, vi)
        self._trie = {}
        parts: list[tuple[int, array, array | None, int]] = []
        for plen in sorted(self._addrs, reverse=True):
            parts.append(self._level(self._addrs[plen], self._vidx[plen]))
            parts[-1] = (plen, *parts[-1][1:])
        self._addrs, self._vidx = {}, {}
        return Ip4Set.from_arrays(parts, self.values)

    def _level(self, addrs: array, vidx: array) -> tuple[int, array, array | None, int]:
        """Sort, dedupe and merge one level, 1/256th at a time (by first octet), so that no
        million-object temporaries exist: they would leave the heap fragmented for good."""
        out_a = array("I")
        if len(set(vidx)) == 1:
            for bucket in _buckets(addrs, "I", lambda a: a >> 24):
                out_a.extend(sorted(set(bucket)))
            return 0, out_a, None, vidx[0]
        k = len(self.values) + 1
        combined = array("Q", [0]) * 0
        for a, v in zip(addrs, vidx, strict=True):
            combined.append(a * k + v)  # ordered by address, then value
        out_v: list[int] = []
        for bucket in _buckets(combined, "Q", lambda x: x // k >> 24):
            prev, group = -1, []
            for x in sorted(set(bucket)):
                a, v = divmod(x, k)
                if a != prev and group:
                    out_a.append(prev)
                    out_v.append(group[0] if len(group) == 1 else self.merge_group(group))
                    group = []
                prev = a
                group.append(v)
            if group:
                out_a.append(prev)
                out_v.append(group[0] if len(group) == 1 else self.merge_group(group))
        if len(set(out_v)) == 1:
            return 0, out_a, None, out_v[0]
        return 0, out_a, array(index_typecode(len(self.values)), out_v), 0
