"""A tiny in-test implementation of the zones contract (mailrep.zones.zone), for pure answer tests.

IPv4 exact entries only; ENT for any valid octet prefix with an entry beneath it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ENT = object()


@dataclass(frozen=True, slots=True)
class Soa:
    mname: str = "ns.bl.mailrep.test"
    rname: str = "hostmaster.mailrep.test"
    serial: int = 7
    refresh: int = 3600
    retry: int = 600
    expire: int = 86400
    minimum: int = 60
    ttl: int = 300


@dataclass(frozen=True, slots=True)
class Hit:
    a: tuple[bytes, ...]
    txt: bytes | None
    ttl: int


def _octet(label: bytes) -> bool:
    return label.isdigit() and len(label) <= 3 and int(label) <= 255 and (label == b"0" or label[:1] != b"0")


@dataclass
class FakeZone:
    name: str
    entries: dict[str, tuple[bytes, str | None]]  # dotted IPv4 -> (A value, TXT template)
    soa: Soa = field(default_factory=Soa)
    ns: tuple[str, ...] = ("ns.bl.mailrep.test", "ns2.elsewhere.example")
    ns_ttl: int = 3600
    ttl: int = 2100

    def __post_init__(self) -> None:
        self.labels = tuple(x.encode() for x in self.name.split("."))
        self._prefixes = set()
        for ip in self.entries:
            rev = tuple(ip.encode().split(b".")[::-1])
            for n in range(1, 4):
                self._prefixes.add(rev[4 - n :])

    def __hash__(self) -> int:
        return id(self)

    def lookup(self, sub):
        if not sub or not all(_octet(x) for x in sub):
            return None
        if len(sub) == 4:
            ip = b".".join(sub[::-1]).decode()
            e = self.entries.get(ip)
            if e is None:
                return None
            a, txt = e
            return Hit((a,), None if txt is None else txt.replace("$", ip).encode(), self.ttl)
        return ENT if tuple(sub) in self._prefixes else None


@dataclass
class FakeSnapshot:
    zones: dict[str, FakeZone]
    serial: int = 1

    def find(self, qlabels):
        best = None
        for z in self.zones.values():
            n = len(z.labels)
            if len(qlabels) >= n and tuple(qlabels[len(qlabels) - n :]) == z.labels and (
                best is None or n > len(best.labels)
            ):
                best = z
        if best is None:
            return None
        return best, tuple(qlabels[: len(qlabels) - len(best.labels)])


A2 = bytes([127, 0, 0, 2])


def fake_snapshot(extra: dict[str, tuple[bytes, str | None]] | None = None) -> FakeSnapshot:
    entries = {"127.0.0.2": (A2, "Blocked - see https://mailrep.test/lookup?ip=$"),
               "192.0.2.10": (bytes([127, 0, 0, 3]), None),
               "198.51.100.7": (A2, "x" * 600)}
    entries.update(extra or {})
    return FakeSnapshot({"bl.mailrep.test": FakeZone("bl.mailrep.test", entries)})
