"""The rbldnsd dataset types mailrep reads: ip4set, ip4tset, ip4trie, ip6tset, ip6trie, dnset.

Each loader turns entry lines into a builder's entries, exactly as rbldnsd 1.0 reads them
(checked by hand and by tests against rbldnsd on the same files).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from pathlib import Path

from mailrep.zones import ip4parse, ip6parse
from mailrep.zones.datafile import COMMENT, Loader, RawValue, _value_part, dn_key, parse_a_txt
from mailrep.zones.dnset import DnBuilder
from mailrep.zones.ip4set import EXCLUDED, Ip4Builder
from mailrep.zones.ip6set import Ip6Builder
from mailrep.zones.zone import Dataset


class Ip4Loader(Loader):
    """ip4set, ip4tset and ip4trie; entries go straight into an Ip4Builder."""

    def __init__(self, kind: str, warn: Callable[[str], None]) -> None:
        super().__init__(kind, warn)
        self.builder = Ip4Builder()
        self._raw: list[RawValue] = []  # value index i + 1 -> its RawValue (TTL comes at the end)
        self._vi: dict[int, int] = {}  # id(RawValue) -> value index

    def _index(self, rv: RawValue) -> int:
        vi = self._vi.get(id(rv))
        if vi is None:
            self._raw.append(rv)
            self.builder.values.append(None)  # filled in by finish()
            vi = self._vi[id(rv)] = len(self.builder.values) - 1
        return vi

    def feed(self, path: Path, lines: Iterable[str]) -> None:
        """The bulk of a big file is plain dotted quads: parse those in C (inet_pton, which
        refuses leading zeros and short forms, so only canonical addresses take this path)."""
        if self.state.kind == "ip4trie":
            super().feed(path, lines)
            return
        b = self.builder
        b.add(0, 32, EXCLUDED)  # make sure the /32 lists exist, then drop the marker
        addrs, vidx = b._addrs[32], b._vidx[32]
        addrs.pop()
        vidx.pop()
        pton, inet, from_bytes = socket.inet_pton, socket.AF_INET, int.from_bytes
        cur: RawValue | None = None
        vi = 0
        for no, raw in enumerate(lines, 1):
            line = raw.strip(" \t\r")
            if line and "0" <= line[0] <= "9":
                try:
                    packed = pton(inet, line)
                except (OSError, ValueError):
                    pass
                else:
                    if self.state.default is not cur:
                        cur = self.state.default
                        vi = self._index(cur)
                    addrs.append(from_bytes(packed, "big"))
                    vidx.append(vi)
                    continue
            self.pos = (path, no)
            self.line(line)

    def entry(self, line: str) -> None:
        st = self.state
        c = line[0]
        if c == ":":
            self.default_line(line)
            return
        kind = st.kind
        if kind != "ip4trie" and "0" <= c <= "9":
            # fast path: a plain dotted quad, the bulk of real data files
            parts = line.split(".")
            if len(parts) == 4 and line.isascii():
                try:
                    a, b, cc, d = (int(x) for x in parts)
                except ValueError:
                    pass
                else:
                    if all(x.isdigit() for x in parts) and a <= 255 and b <= 255 and cc <= 255 and d <= 255:
                        q = a << 24 | b << 16 | cc << 8 | d
                        self.builder.add(q, 32, self._index(st.default))
                        return
        excl = c == "!"
        if excl:
            if kind == "ip4tset":  # no exclusions in a trivial set
                self.warn(f"{self.where}: invalid address")
                return
            line = line[1:].lstrip(" \t")
        if kind == "ip4trie":
            got = ip4parse.cidr(line)
            if got is None:
                self.warn(f"{self.where}: invalid address")
                return
            net, plen, rest, hostbits = got
            if hostbits:
                self.warn(f"{self.where}: invalid range (non-zero host part)")
                return
            lo, hi = net, net | (~ip4parse.mask(plen) & ip4parse.FULL)
        elif kind == "ip4tset":
            got1 = ip4parse.address(line)
            if got1 is None:
                self.warn(f"{self.where}: invalid address")
                return
            lo, rest = got1
            hi, plen = lo, 32
        else:
            got2 = ip4parse.range_(line)
            if got2 is None:
                self.warn(f"{self.where}: invalid address")
                return
            lo, hi, rest = got2
            plen = 32
        ok, vtext = _value_part(rest)
        if not ok:
            self.warn(f"{self.where}: invalid address")
            return
        if st.maxrange4 and hi - lo >= st.maxrange4:
            self.warn(f"{self.where}: too large range ({hi - lo + 1}) ignored ({st.maxrange4} max)")
            return
        if excl:
            vi = EXCLUDED
        elif kind == "ip4tset" or not vtext or vtext[0] in COMMENT:
            vi = self._index(st.default)
        else:
            got3 = parse_a_txt(vtext, st.default)
            if isinstance(got3, str):
                self.warn(f"{self.where}: {got3}")
                return
            vi = self._index(got3)
        if kind == "ip4trie":
            if not self.builder.add_cidr_once(lo, plen, vi):
                self.warn(f"{self.where}: duplicated entry for {ip4parse.text(lo)}/{plen}")
        else:
            self.builder.add_range(lo, hi, vi)

    def finish(self) -> Dataset:
        b = self.builder
        for i, rv in enumerate(self._raw, 1):
            b.set_value(i, self.state.value(self.resolve(rv)))
        self._raw, self._vi = [], {}
        return b.build()


class Ip6Loader(Loader):
    """ip6tset (/64 listings, /128 exclusions, one shared value) and ip6trie."""

    def __init__(self, kind: str, warn: Callable[[str], None]) -> None:
        super().__init__(kind, warn)
        self.entries: list[tuple[int, int, RawValue | None]] = []

    def entry(self, line: str) -> None:
        st = self.state
        if line[0] == ":" and not line.startswith("::"):
            self.default_line(line)
            return
        excl = line[0] == "!"
        if excl:
            line = line[1:].lstrip(" \t")
        tset = st.kind == "ip6tset"
        got = ip6parse.cidr(line, allow_bits=not tset)
        if got is None:
            self.warn(f"{self.where}: invalid address")
            return
        net, plen, rest, hostbits = got
        ok, vtext = _value_part(rest)
        if not ok:
            self.warn(f"{self.where}: invalid address")
            return
        if tset:
            if plen != (128 if excl else 64):
                self.warn(f"{self.where}: invalid address for regular entry (should be 64 bits)")
                return
        elif hostbits:
            self.warn(f"{self.where}: invalid range (non-zero host part)")
            return
        rv: RawValue | None
        if excl:
            rv = None
        elif st.kind == "ip6tset" or not vtext or vtext[0] in COMMENT:
            rv = st.default
        else:
            got2 = parse_a_txt(vtext, st.default)
            if isinstance(got2, str):
                self.warn(f"{self.where}: {got2}")
                return
            rv = got2
        self.entries.append((net, plen, rv))

    def finish(self) -> Dataset:
        st = self.state
        b = Ip6Builder()
        cache: dict[int, int] = {}
        trie = st.kind == "ip6trie"
        for net, plen, rv in self.entries:
            if rv is None:
                vi = 0
            else:
                vi = cache.get(id(rv), -1)
                if vi < 0:
                    vi = cache[id(rv)] = b.value_index(st.value(self.resolve(rv)))
            if not b.add(net, plen, vi, first_wins=trie):
                self.warn(f"duplicated entry for {ip6parse.text(net)}/{plen}")
        self.entries = []
        return b.build()


class DnLoader(Loader):
    """dnset: exact names, `*.` / `.` wildcards, `!` exclusions."""

    def __init__(self, kind: str, warn: Callable[[str], None]) -> None:
        super().__init__(kind, warn)
        self.entries: list[tuple[bytes, bool, bool, RawValue | None]] = []

    def entry(self, line: str) -> None:
        st = self.state
        if line[0] == ":":
            self.default_line(line)
            return
        excl = line[0] == "!"
        if excl:
            line = line[1:].lstrip(" \t")
        exact, wild = True, False
        if line.startswith("*."):
            line, exact, wild = line[2:], False, True
        elif line.startswith("."):
            line, wild = line[1:], True
        token, _, rest = line.replace("\t", " ").partition(" ")
        name = dn_key(token)
        if name is None:
            self.warn(f"{self.where}: invalid domain name")
            return
        vtext = rest.lstrip(" \t")
        rv: RawValue | None
        if excl:
            rv = None
        elif not vtext or vtext[0] in COMMENT:
            rv = st.default
        else:
            got = parse_a_txt(vtext, st.default)
            if isinstance(got, str):
                self.warn(f"{self.where}: {got}")
                return
            rv = got
        self.entries.append((name, exact, wild, rv))

    def finish(self) -> Dataset:
        st = self.state
        b = DnBuilder()
        cache: dict[int, int] = {}
        for name, exact, wild, rv in self.entries:
            if rv is None:
                vi = 0
            else:
                vi = cache.get(id(rv), -1)
                if vi < 0:
                    vi = cache[id(rv)] = b.value_index(st.value(rv))
            b.add(name, vi, exact=exact, wild=wild)
        self.entries = []
        return b.build()


LOADERS: dict[str, Callable[[str, Callable[[str], None]], Loader]] = {
    "ip4set": Ip4Loader,
    "ip4tset": Ip4Loader,
    "ip4trie": Ip4Loader,
    "ip6tset": Ip6Loader,
    "ip6trie": Ip6Loader,
    "dnset": DnLoader,
}
