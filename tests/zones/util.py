"""Small helpers for the zones tests: names -> labels, answers -> comparable tuples."""

from __future__ import annotations

import socket
from pathlib import Path

from mailrep.zones import ENT, Hit, load_rbldnsd


def labels(name: str) -> tuple[bytes, ...]:
    return tuple(name.lower().encode().split(b".")) if name else ()


def rev4(ip: str) -> str:
    return ".".join(reversed(ip.split(".")))


def summary(ans: object) -> object:
    """Hit -> ('hit', sorted A texts, sorted TXTs, ttl); ENT -> 'ENT'; None -> None."""
    if ans is None:
        return None
    if ans is ENT:
        return "ENT"
    assert isinstance(ans, Hit)
    txts = ([ans.txt] if ans.txt is not None else []) + list(ans.more_txt)
    return ("hit", sorted(socket.inet_ntoa(a) for a in ans.a), sorted(t.decode() for t in txts), ans.ttl)


def short(ans: object) -> object:
    """Like summary() without the TTL, and with a single A/TXT unwrapped for short tables."""
    s = summary(ans)
    if not isinstance(s, tuple):
        return s
    _, a, t, _ttl = s
    return (a[0] if len(a) == 1 else tuple(a), t[0] if len(t) == 1 else (tuple(t) or None))


def zone_from(tmp_path: Path, kind: str, text: str, zone: str = "bl.example", name: str = "data.txt"):
    """Write `text` as an rbldnsd data file and load it as one zone; returns (zone, snapshot)."""
    p = tmp_path / name
    p.write_text(text)
    snap = load_rbldnsd([(zone, kind, [p])], serial=7)
    return snap.zones[zone], snap


def ask(zone, name: str) -> object:
    return short(zone.lookup(labels(name)))
