"""Zones and snapshots: the read-only data the DNS server answers from.

A `Snapshot` is a set of `Zone`s, immutable once built; its `serial` is the SOA serial of
every zone in it. A `Zone` is one origin made of one or more datasets (an IPv4 set, an IPv6
set, a domain set), each optionally attached below a subzone (rbldnsd `combined`).

    zone.lookup(sub) -> Hit | ENT | None     # sub: lowercased labels left of the origin

`Hit` carries the A values (4-byte, 127/8), the TXT text with `$` already replaced by the
queried key, and the TTL. `ENT` means "the name exists only as an empty non-terminal"
(answer NODATA), `None` means NXDOMAIN. The apex (`sub == ()`) is the server's business.

Datasets implement the `Dataset` protocol below; the zone merges their answers like
rbldnsd does when one zone is built from several datasets (all hits are answered).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, Protocol

from mailrep.errors import BadInput

DEFAULT_TTL: Final = 2100  # rbldnsd's default (-t 35m)


@dataclass(frozen=True, slots=True)
class Soa:
    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int
    ttl: int


class Hit(NamedTuple):
    """A listed name's answer. Immutable; a NamedTuple because it is built per query on the
    hot path and a frozen dataclass costs several times more to construct."""

    a: tuple[bytes, ...]  # 4-byte IPv4 values in 127/8
    txt: bytes | None  # '$' already replaced by the queried key; may exceed 255 bytes
    ttl: int
    more_txt: tuple[bytes, ...] = ()  # further TXT records (one per duplicate entry, like rbldnsd)


class _Ent:
    """The name exists as an empty non-terminal: answer NODATA, not NXDOMAIN."""

    __slots__ = ()
    _instance: _Ent | None = None

    def __new__(cls) -> _Ent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ENT"

    def __reduce__(self) -> str:
        return "ENT"


ENT: Final = _Ent()

Answer = Hit | _Ent | None


class Dataset(Protocol):
    """One set of listed keys (IPv4, IPv6 or domains) with their values."""

    kind: str  # 'ip4', 'ip6' or 'dn'

    def lookup(self, sub: tuple[bytes, ...]) -> Answer: ...

    def __len__(self) -> int: ...


def merge_answers(answers: Sequence[Answer]) -> Answer:
    """Combine the answers of several datasets for one name (rbldnsd adds them all up)."""
    hits = [x for x in answers if isinstance(x, Hit)]
    if not hits:
        return ENT if any(x is ENT for x in answers) else None
    if len(hits) == 1:
        return hits[0]
    a: list[bytes] = []
    txts: list[bytes] = []
    for h in hits:
        a.extend(v for v in h.a if v not in a)
        if h.txt is not None:
            txts.append(h.txt)
        txts.extend(h.more_txt)
    txts = list(dict.fromkeys(txts))
    return Hit(tuple(a), txts[0] if txts else None, min(h.ttl for h in hits), tuple(txts[1:]))


class Zone:
    """One origin with its datasets (all consulted, answers merged); immutable once built."""

    __slots__ = ("datasets", "labels", "lookup", "name", "ns", "ns_ttl", "soa", "ttl")

    name: str
    labels: tuple[bytes, ...]
    soa: Soa
    ns: tuple[str, ...]
    ns_ttl: int
    ttl: int
    datasets: tuple[Dataset, ...]
    lookup: Callable[[tuple[bytes, ...]], Answer]

    def __init__(
        self, name: str, *, soa: Soa, ns: Sequence[str] = (), ns_ttl: int | None = None,
        ttl: int = DEFAULT_TTL, datasets: Sequence[Dataset] = (),
    ) -> None:
        self.name = normalize_name(name)
        self.labels = tuple(x.encode("ascii") for x in self.name.split(".")) if self.name else ()
        self.soa = soa
        self.ns = tuple(normalize_name(x) for x in ns)
        self.ns_ttl = ttl if ns_ttl is None else ns_ttl
        self.ttl = ttl
        self.datasets = tuple(datasets)
        if len(self.datasets) == 1:
            # the hot path: one dataset answers directly, no merging
            self.lookup = self.datasets[0].lookup
        elif not self.datasets:
            self.lookup = _nothing
        else:
            self.lookup = self._lookup_many

    def _lookup_many(self, sub: tuple[bytes, ...]) -> Answer:
        return merge_answers([ds.lookup(sub) for ds in self.datasets])

    def lookup_ip4(self, q: int) -> Answer:
        """Fast path for IPv4 names: `q` is the address as an int (not reversed)."""
        fast = getattr(self.datasets[0], "lookup_ip4", None) if len(self.datasets) == 1 else None
        if fast is not None:
            return fast(q)  # type: ignore[no-any-return]
        return self.lookup(tuple(str(q >> s & 255).encode() for s in (0, 8, 16, 24)))

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)

    def __repr__(self) -> str:
        return f"<Zone {self.name} serial={self.soa.serial} entries={len(self)}>"


def _nothing(sub: tuple[bytes, ...]) -> Answer:
    return None


def normalize_name(name: str) -> str:
    n = name.strip().rstrip(".").lower()
    if n in ("", "@"):
        return ""
    if ".." in n or any(len(x) > 63 for x in n.split(".")) or len(n) > 253:
        raise BadInput(f"bad domain name: {name!r}")
    return n


class Snapshot:
    """A set of zones answered together; `serial` = SOA serial = version."""

    __slots__ = ("_by_labels", "_depths", "meta", "serial", "warnings", "zones")

    def __init__(
        self, zones: Sequence[Zone] | dict[str, Zone], *, serial: int,
        warnings: Sequence[str] = (), meta: dict[str, Any] | None = None,
    ) -> None:
        zs = list(zones.values()) if isinstance(zones, dict) else list(zones)
        self.serial = serial
        self.zones: dict[str, Zone] = {z.name: z for z in zs}
        self.warnings = tuple(warnings)
        self.meta = dict(meta or {})
        self._by_labels = {z.labels: z for z in zs}
        self._depths = sorted({len(z.labels) for z in zs}, reverse=True)

    def find(self, qlabels: tuple[bytes, ...]) -> tuple[Zone, tuple[bytes, ...]] | None:
        """Longest matching origin for lowercase query labels: (zone, sub) or None."""
        n = len(qlabels)
        by = self._by_labels
        for d in self._depths:
            if d > n:
                continue
            z = by.get(qlabels[n - d :] if d else ())
            if z is not None:
                return z, qlabels[: n - d]
        return None

    def __iter__(self) -> Iterator[Zone]:
        return iter(self.zones.values())

    def __repr__(self) -> str:
        return f"<Snapshot serial={self.serial} zones={sorted(self.zones)}>"


def __getattr__(name: str) -> Any:
    # the contract names these as living here; they live in their own modules
    if name in ("load_snapshot", "save_snapshot"):
        from mailrep.zones import snapshot

        return getattr(snapshot, name)
    if name == "load_rbldnsd":
        from mailrep.zones import rbldnsd

        return rbldnsd.load_rbldnsd
    if name == "build_snapshot":
        from mailrep.zones import build

        return build.build_snapshot
    raise AttributeError(name)
