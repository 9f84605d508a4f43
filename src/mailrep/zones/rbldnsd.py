"""rbldnsd data files -> a Snapshot, interpreted the way rbldnsd 1.0 does.

    load_rbldnsd([("bl.example", "ip4set", ["bl.txt"]), ...], serial=None) -> Snapshot

Dataset types: ip4set, ip4tset, ip4trie, ip6tset, ip6trie, dnset, combined. Lines are
stripped; empty lines and lines starting with `#` or `;` are comments; `$SOA`, `$NS`, `$TTL`,
`$MAXRANGE4`, `$0`-`$9`, `$=` are specials (also written `#$`/`:$`). A line starting with `:`
sets the default `:A:TXT` for the rest of the file. Bad lines are skipped with a warning
collected on the snapshot, never an exception. Without `$SOA` the zone gets a synthetic
SOA (rbldnsd would have none); serial 0 or absent means the newest file's mtime.
"""

from __future__ import annotations

import gzip
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mailrep.errors import BadInput
from mailrep.zones import ip4parse, ip6parse
from mailrep.zones.dnset import DnBuilder
from mailrep.zones.ip4set import EXCLUDED, Ip4Builder
from mailrep.zones.ip6set import Ip6Builder
from mailrep.zones.value import LISTED_A, Value, compile_template
from mailrep.zones.zone import DEFAULT_TTL, Dataset, Snapshot, Soa, Zone, normalize_name

COMMENT = ("#", ";")


class RbldnsdError(BadInput):
    """An rbldnsd dataset specification cannot be used."""


@dataclass(frozen=True, slots=True)
class RawValue:
    """An rbldnsd (A, TXT) pair before template compilation; txt '' means no TXT."""

    a: bytes
    txt: str


DEFAULT_RAW = RawValue(LISTED_A, "")


def parse_a_txt(s: str, default: RawValue) -> RawValue | str:
    """`:A:TXT`, `:A`, or `TXT` -> RawValue, or an error message (rbldnsd's rules)."""
    s = s.lstrip(" \t")
    if s.startswith(":"):
        a, rest = ip4parse.a_value(s[1:])
        if a is None:
            return "invalid A RR"
        rest = rest.lstrip(" \t")
        if rest.startswith(":"):
            txt = rest[1:].lstrip(" \t")
        elif rest:
            return "unrecognized value for an entry"
        else:
            return RawValue(a, default.txt)
    else:
        a, txt = default.a, s
    if len(txt.encode("utf-8", "surrogateescape")) > 255:
        txt = txt.encode("utf-8", "surrogateescape")[:255].decode("utf-8", "surrogateescape")
    return RawValue(a, txt)


@dataclass
class DatasetState:
    """What one dataset accumulates while its files are read."""

    kind: str
    name: str = ""
    ttl: int = DEFAULT_TTL
    soa: tuple | None = None
    ns: list[str] | None = None
    ns_ttl: int | None = None
    subst: dict[str, str] = field(default_factory=dict)
    maxrange4: int = 0
    mtime: int = 0  # newest data file (the serial when $SOA says 0)
    default: RawValue = DEFAULT_RAW
    raw: list = field(default_factory=list)  # type-specific parsed entries

    def value(self, rv: RawValue) -> Value:
        base = self.subst.get("=")
        txt = compile_template(rv.txt or None, subst=self.subst, base=base)
        if base is None and rv.txt == "":
            txt = None
        return Value((rv.a,), txt, self.ttl)


class Loader:
    """Reads the files of one dataset, line by line, warning on bad lines."""

    def __init__(self, kind: str, warn: Callable[[str], None]) -> None:
        self.state = DatasetState(kind)
        self.warn = warn
        self.pos: tuple[object, int] = ("", 0)  # file and line number, for warnings

    @property
    def where(self) -> str:
        return f"{self.pos[0]}({self.pos[1]})"

    def read_files(self, files: Sequence[str | os.PathLike[str]]) -> None:
        for f in files:
            self.start_file()
            path = Path(f)
            try:
                with open(path, "rb") as fh:
                    st0 = os.fstat(fh.fileno())
                    data = fh.read()
                    st1 = os.fstat(fh.fileno())
            except OSError as e:
                raise RbldnsdError(f"{path}: unable to open file: {e.strerror}") from e
            if (st0.st_mtime_ns, st0.st_size) != (st1.st_mtime_ns, st1.st_size) or len(data) != st1.st_size:
                raise RbldnsdError(f"{path}: file changed while we were reading it "
                                   "(write to a temp file and rename it instead)")
            self.state.mtime = max(self.state.mtime, int(st1.st_mtime))
            if data[:2] == b"\x1f\x8b":
                try:
                    data = gzip.decompress(data)
                except (OSError, EOFError) as e:
                    raise RbldnsdError(f"{path}: bad gzip data: {e}") from e
            text = data.decode("utf-8", "surrogateescape")
            lines = text.split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            elif lines:
                self.warn(f"{path}({len(lines)}): incomplete last line (ignored)")
                lines.pop()
            self.feed(path, lines)

    def feed(self, path: Path, lines: list[str]) -> None:
        for no, line in enumerate(lines, 1):
            self.pos = (path, no)
            self.line(line.strip(" \t\r"))

    def start_file(self) -> None:
        self.state.default = DEFAULT_RAW

    def line(self, line: str) -> None:
        if line.startswith("$") or (len(line) > 1 and line[0] in "#;:" and line[1] == "$"):
            if not self.special(line[1:] if line[0] == "$" else line[2:]):
                self.warn(f"{self.where}: invalid or unrecognized special entry")
            return
        if not line or line[0] in COMMENT:
            return
        self.entry(line)

    def special(self, line: str) -> bool:
        st = self.state
        parts0 = line.split(None, 1)
        w = parts0[0].lower() if parts0 else ""
        rest = parts0[1].strip(" \t") if len(parts0) > 1 else ""
        if w == "soa":
            if st.soa is not None:
                return True
            parts = rest.split()
            if len(parts) != 8:
                return False
            try:
                ttl = ip4parse.time_value(parts[0]) or st.ttl
                nums = [int(parts[3])] + [ip4parse.time_value(x) for x in parts[4:]]
                names = [normalize_name(parts[1]), normalize_name(parts[2])]
            except (ValueError, BadInput):
                return False
            st.soa = (names[0], names[1], nums[0], nums[1], nums[2], nums[3], nums[4], ttl)
            return True
        if w in ("ns", "nameserver"):
            if st.ns is not None:
                return True
            parts = rest.split()
            if not parts:
                return False
            try:
                ttl = ip4parse.time_value(parts[0]) or st.ttl
                names = [normalize_name(p) for p in parts[1:] if not p.startswith("-")]
            except (ValueError, BadInput):
                return False
            st.ns, st.ns_ttl = names[:32], ttl
            return True
        if w == "ttl":
            try:
                st.ttl = ip4parse.time_value(rest) or DEFAULT_TTL
            except ValueError:
                return False
            return True
        if w == "maxrange4":
            try:
                if rest.startswith("/"):
                    bits = int(rest[1:])
                    if not 0 < bits <= 32:
                        return False
                    r = 1 << (32 - bits)
                else:
                    r = int(rest)
                if r <= 0:
                    return False
            except ValueError:
                return False
            if st.maxrange4 and st.maxrange4 < r:
                self.warn(f"{self.where}: ignoring attempt to increase $MAXRANGE4")
            else:
                st.maxrange4 = r
            return True
        if len(line) > 1 and (line[0].isdigit() or line[0] == "=") and line[1] in " \t":
            key = line[0]
            text = line[2:].lstrip(" \t")
            if not text:
                return False
            st.subst.setdefault(key, text)
            return True
        return w == "timestamp"  # accepted and ignored (rbldnsd: experimental)

    def default_line(self, line: str) -> None:
        rv = parse_a_txt(line, self.state.default)
        if isinstance(rv, str):
            self.warn(f"{self.where}: {rv}")
            return
        self.state.default = rv

    def entry(self, line: str) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def finish(self) -> Dataset:  # pragma: no cover - overridden
        raise NotImplementedError


def _value_part(s: str) -> tuple[bool, str]:
    """After a key: (ok, value text). The key must end at space, comment or ':'."""
    if not s:
        return True, ""
    if s[0] in " \t" or s[0] in COMMENT or s[0] == ":":
        return True, s.lstrip(" \t")
    return False, ""


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

    def feed(self, path: Path, lines: list[str]) -> None:
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
            b.set_value(i, self.state.value(rv))
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
                    vi = cache[id(rv)] = b.value_index(st.value(rv))
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


def dn_key(token: str) -> bytes | None:
    """A domain name as written in a data file -> lowercase key, or None if invalid."""
    t = token[:-1] if token.endswith(".") else token
    if not t:
        return None
    try:
        raw = t.encode("ascii")
    except UnicodeEncodeError:
        raw = t.encode("utf-8", "surrogateescape")
    labels = raw.lower().split(b".")
    if any(not lab or len(lab) > 63 for lab in labels) or len(raw) > 253:
        return None
    return b".".join(labels)


LOADERS: dict[str, Callable[[str, Callable[[str], None]], Loader]] = {
    "ip4set": Ip4Loader,
    "ip4tset": Ip4Loader,
    "ip4trie": Ip4Loader,
    "ip6tset": Ip6Loader,
    "ip6trie": Ip6Loader,
    "dnset": DnLoader,
}


def synthetic_soa(zone: str, serial: int, ttl: int = DEFAULT_TTL) -> Soa:
    return Soa(f"ns.{zone}" if zone else "ns", f"hostmaster.{zone}" if zone else "hostmaster",
               serial, 3600, 600, 604800, 60, ttl)


def load_rbldnsd(
    specs: Sequence[tuple[str, str, Sequence[str | os.PathLike[str]]]], *, serial: int | None = None,
) -> Snapshot:
    """Load rbldnsd zone specs (zone, type, files) into a new Snapshot.

    Bad lines become warnings on the snapshot; an unknown type or an unreadable file
    raises `RbldnsdError` (rbldnsd refuses to start on those too).
    """
    warnings: list[str] = []
    loaded: dict[tuple[str, tuple[str, ...]], tuple[DatasetState, Dataset]] = {}
    zones: dict[str, list[tuple[DatasetState, Dataset]]] = {}
    for zone, kind, files in specs:
        kind = kind.lower()
        name = normalize_name(zone)
        key = (kind, tuple(str(f) for f in files))
        if key not in loaded:
            if kind == "combined":
                from mailrep.zones.combined import load_combined

                loaded[key] = load_combined(files, warnings.append)
            else:
                factory = LOADERS.get(kind)
                if factory is None:
                    raise RbldnsdError(f"unknown dataset type `{kind}'")
                ld = factory(kind, warnings.append)
                ld.read_files(files)
                loaded[key] = (ld.state, ld.finish())
        zones.setdefault(name, []).append(loaded[key])
    out: list[Zone] = []
    for name, parts in zones.items():
        soa_t = next((st.soa for st, _ in parts if st.soa is not None), None)
        ns_st = next((st for st, _ in parts if st.ns is not None), None)
        mtime = max(st.mtime for st, _ in parts)
        ser = serial if serial is not None else (soa_t[2] if soa_t and soa_t[2] else mtime)
        ttl = parts[0][0].ttl
        if soa_t is None:
            soa = synthetic_soa(name, ser, ttl)
        else:
            soa = Soa(soa_t[0], soa_t[1], ser, soa_t[3], soa_t[4], soa_t[5], soa_t[6], soa_t[7])
        datasets = [ds for _, ds in parts]
        out.append(Zone(name, soa=soa, ns=ns_st.ns if ns_st else (),
                        ns_ttl=ns_st.ns_ttl if ns_st else None, ttl=ttl, datasets=datasets))
    ser = serial if serial is not None else max((z.soa.serial for z in out), default=0)
    return Snapshot(out, serial=ser, warnings=warnings, meta={"source": "rbldnsd"})
