"""Zone exports for other servers: an rbldnsd data file, or a BIND master file (also loaded by NSD).

    write_export(zone, path, fmt="rbldnsd"|"bind")   # temp file in the same directory + rename
    rbldnsd_lines(zone) -> (dataset type, lines)
    bind_lines(zone) -> lines

The rbldnsd export is one `combined` file (an `ip4trie`, an `ip6trie` and a `dnset` at the
origin, each entry with its own `:A:TXT`), so any zone (ranges, exclusions, several values)
round-trips: serve it with `rbldnsd ... ZONE:combined:FILE`. The BIND export is the zone of
`mailrep.zones.axfr` in master-file syntax. A reader of the target path sees the old file or
the new one, never half of one (rsync-friendly: mirrors pull complete files).
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mailrep.errors import BadInput
from mailrep.zones.axfr import ns_names, rdata_text, records
from mailrep.zones.rrtype import RRType
from mailrep.zones.value import Value
from mailrep.zones.zone import Zone

FORMATS = ("rbldnsd", "bind")
EXCLUDED = 0


def _value_text(v: Value) -> list[str]:
    """` :A:TXT` suffixes for one value: one line per A value and per further TXT template
    (rbldnsd answers a key listed several times with all their values, like a merged value)."""
    from mailrep.zones.value import template_text

    texts = [template_text(t) for t in v.templates()]
    addrs = [".".join(str(b) for b in a) for a in v.a] or ["127.0.0.2"]
    n = max(len(addrs), len(texts), 1)
    return [f" :{addrs[min(i, len(addrs) - 1)]}:{texts[min(i, len(texts) - 1)] if texts else ''}"
            for i in range(n)]


def _entries(ds: Any, sub: str = "@") -> Iterator[tuple[str, str, str, Value | None]]:
    """(subzone, dataset kind 'ip4'|'ip6'|'dn', entry text, value or None for an exclusion)."""
    kind = getattr(ds, "kind", "")
    if kind == "mixed":
        for part in (ds.ip4, ds.ip6, ds.dn):
            yield from _entries(part, sub)
    elif kind == "ip4":
        for net, plen, vi in ds.entries():
            yield sub, "ip4", f"{ipaddress.IPv4Address(net)}/{plen}", ds.values[vi] if vi else None
    elif kind == "ip6":
        for net, plen, vi in ds.entries():
            yield sub, "ip6", f"{ipaddress.IPv6Address(net)}/{plen}", ds.values[vi] if vi else None
    elif kind == "dn":
        for name, wild, vi in ds.entries():
            key = ("*." if wild else "") + name.decode("ascii")
            yield sub, "dn", key, ds.values[vi] if vi else None
    elif kind == "combined":
        for labels, dss in ds.subzones.items():
            inner = ".".join(x.decode("ascii") for x in labels) or "@"
            for d in dss:
                yield from _entries(d, inner)
    else:
        raise BadInput(f"cannot export a {kind or type(ds).__name__} dataset in rbldnsd format")


def rbldnsd_lines(zone: Zone) -> list[str]:
    """The zone as one rbldnsd `combined` data file."""
    s = zone.soa
    out = [f"# mailrep export of {zone.name}, serial {s.serial}",
           f"$SOA {s.ttl} {s.mname} {s.rname} {s.serial} {s.refresh} {s.retry} {s.expire} {s.minimum}",
           f"$NS {zone.ns_ttl} " + " ".join(ns_names(zone)),
           f"$TTL {zone.ttl}"]
    groups: dict[tuple[str, str], list[str]] = {}
    for ds in zone.datasets:
        for sub, kind, key, v in _entries(ds):
            lines = groups.setdefault((sub, kind), [])
            if v is None:
                lines.append(f"!{key}")
                continue
            if v.ttl != zone.ttl:
                raise BadInput(f"{zone.name}: per-entry TTLs cannot be exported to rbldnsd")
            lines.extend(key + suffix for suffix in _value_text(v))
    dtypes = {"ip4": "ip4trie", "ip6": "ip6trie", "dn": "dnset"}
    for (sub, kind), lines in groups.items():
        if lines:
            out.append(f"$DATASET {dtypes[kind]} {sub}")
            out.extend(lines)
    return out


def bind_lines(zone: Zone) -> list[str]:
    """The zone as a BIND master file ($ORIGIN + one record a line, owners relative)."""
    out = [f"; mailrep export of {zone.name}, serial {zone.soa.serial}", f"$ORIGIN {zone.name}."]
    for rec in records(zone):
        owner = rec.owner or "@"
        out.append(f"{owner}\t{rec.ttl}\tIN\t{RRType(rec.rtype).name}\t{rdata_text(rec)}")
    return out


def write_export(zone: Zone, path: str | os.PathLike[str], fmt: str = "rbldnsd") -> int:
    """Write the export atomically (temp file + fsync + rename); returns the number of lines."""
    if fmt not in FORMATS:
        raise BadInput(f"unknown export format {fmt!r} (use {' or '.join(FORMATS)})")
    lines = rbldnsd_lines(zone) if fmt == "rbldnsd" else bind_lines(zone)
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
            for line in lines:
                f.write(line)
                f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(lines)


def pick(snap: Any, zone: str) -> Zone:
    name = zone.rstrip(".").lower()
    z = snap.zones.get(name)
    if z is None:
        raise BadInput(f"no zone {zone!r} (have: {', '.join(sorted(snap.zones))})")
    return z  # type: ignore[no-any-return]
