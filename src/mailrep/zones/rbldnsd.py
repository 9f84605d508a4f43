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

import os
from collections.abc import Sequence

from mailrep.zones import heap
from mailrep.zones.datafile import DatasetState, RbldnsdError, dn_key, parse_a_txt
from mailrep.zones.datasets import LOADERS
from mailrep.zones.zone import DEFAULT_TTL, Dataset, Snapshot, Soa, Zone, normalize_name

__all__ = ["LOADERS", "RbldnsdError", "dn_key", "load_rbldnsd", "parse_a_txt", "synthetic_soa"]


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
    snap = Snapshot(out, serial=ser, warnings=warnings, meta={"source": "rbldnsd"})
    heap.trim()
    return snap
