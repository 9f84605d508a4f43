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

from mailrep.dns.constants import RRType
from mailrep.errors import BadInput
from mailrep.zones.axfr import ns_names, rdata_text, records
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


def _zone_from_store(zone: str) -> Zone:
    """Build the store's zones now (as `mailrep serve` does) and pick one."""
    from datetime import UTC, datetime

    from mailrep import serve
    from mailrep.config import load_settings
    from mailrep.store.db import Database

    settings = load_settings()
    db = Database.from_settings(settings)
    try:
        marker = serve.change_marker(db)
        snap = serve.build_snapshot(db, settings, datetime.now(UTC), serve._serial(marker))
    finally:
        db.dispose()
    return _pick(snap, zone)


def _pick(snap: Any, zone: str) -> Zone:
    name = zone.rstrip(".").lower()
    z = snap.zones.get(name)
    if z is None:
        raise BadInput(f"no zone {zone!r} (have: {', '.join(sorted(snap.zones))})")
    return z  # type: ignore[no-any-return]


def register(app: Any) -> None:
    """`mailrep zone export --format rbldnsd|bind ZONE [-o FILE] [--snapshot FILE | --rbldnsd SPEC]`."""
    import sys

    import typer

    zone_app = typer.Typer(no_args_is_help=True, help="zone files for other DNS servers and mirrors")

    @zone_app.command("export")
    def export(
        zone: str = typer.Argument(..., help="zone name, e.g. bl.mailrep.test"),
        fmt: str = typer.Option("rbldnsd", "--format", "-f", help="rbldnsd or bind"),
        output: str = typer.Option(None, "--output", "-o",
                                   help="file to write (temp file + rename); default stdout"),
        snapshot: str = typer.Option(None, "--snapshot", help="export from this snapshot file"),
        rbldnsd: list[str] = typer.Option(None, "--rbldnsd",
                                          help="export from rbldnsd data (zone:type:file[,file])"),
    ) -> None:
        """Write ZONE as an rbldnsd data file or a BIND master file (default: from the store)."""
        from mailrep.errors import MailrepError

        try:
            if fmt not in FORMATS:
                raise BadInput(f"unknown format {fmt!r} (use rbldnsd or bind)")
            if snapshot:
                from mailrep.zones.snapshot import load_snapshot

                z = _pick(load_snapshot(snapshot), zone)
            elif rbldnsd:
                from mailrep.dns.command import parse_zone_spec
                from mailrep.zones.rbldnsd import load_rbldnsd

                z = _pick(load_rbldnsd([parse_zone_spec(s) for s in rbldnsd]), zone)
            else:
                z = _zone_from_store(zone)
            if output:
                n = write_export(z, output, fmt)
                typer.echo(f"{zone}: {n} lines written to {output} (serial {z.soa.serial})", err=True)
            else:
                lines = rbldnsd_lines(z) if fmt == "rbldnsd" else bind_lines(z)
                sys.stdout.write("\n".join(lines) + "\n")
        except MailrepError as e:
            typer.echo(f"mailrep zone export: {e.message}", err=True)
            raise typer.Exit(2) from None
        except OSError as e:
            typer.echo(f"mailrep zone export: {e}", err=True)
            raise typer.Exit(2) from None

    app.add_typer(zone_app, name="zone")
