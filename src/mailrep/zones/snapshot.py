"""The snapshot file: one file a DNS node loads fast and whole, or not at all.

    header  40 bytes  <8s magic 'MRZSNAP1', u32 format version, u64 serial,
                       u64 meta length, u64 blob length, u32 crc32(meta + blob)>
    meta    JSON: zones (SOA, NS, TTL, dataset ids) and datasets (type, value table,
            level descriptors pointing into the blob)
    blob    the raw arrays (IPv4 keys as native uint32, value indexes, IPv6 keys as
            16-byte big-endian, domain names NUL-separated), each 8-byte aligned

`load_snapshot` reads the file once, checks magic, version, lengths and checksum, then
builds a brand-new `Snapshot` from `array.frombytes` copies; any failure raises
`SnapshotError` before anything is returned, so the caller keeps serving the old one.
`save_snapshot` writes a temp file in the same directory, fsyncs it and renames it.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import tempfile
import zlib
from array import array
from pathlib import Path
from typing import Any, Final

from mailrep.errors import StorageError
from mailrep.zones import heap
from mailrep.zones.build import Mixed
from mailrep.zones.combined import Combined
from mailrep.zones.dnset import DnSet
from mailrep.zones.ip4set import Ip4Set
from mailrep.zones.ip6set import Ip6Set
from mailrep.zones.value import Value
from mailrep.zones.zone import Dataset, Snapshot, Soa, Zone

MAGIC: Final = b"MRZSNAP1"
FORMAT_VERSION: Final = 2  # 2: IPv4 intervals stored
HEADER: Final = struct.Struct("<8sIQQQI")


class SnapshotError(StorageError):
    """The snapshot file is missing, truncated, corrupt or of an unknown format."""

    code = "bad_snapshot"


def _enc_value(v: Value | None) -> Any:
    if v is None:
        return None
    out: dict[str, Any] = {"a": [x.hex() for x in v.a], "ttl": v.ttl}
    if v.txt is not None:
        out["txt"] = [s.decode("latin-1") for s in v.txt]
    if v.more:
        out["more"] = [[s.decode("latin-1") for s in t] for t in v.more]
    return out


def _dec_value(d: Any) -> Value | None:
    if d is None:
        return None
    txt = tuple(s.encode("latin-1") for s in d["txt"]) if "txt" in d else None
    more = tuple(tuple(s.encode("latin-1") for s in t) for t in d.get("more", ()))
    a = tuple(bytes.fromhex(x) for x in d["a"])
    ttl = int(d["ttl"])
    if not a or any(len(x) != 4 for x in a) or not 0 <= ttl <= 0x7FFFFFFF:
        raise SnapshotError("bad value in snapshot")
    return Value(a, txt, ttl, more)


def _check_index(idx: array | None, n: int, single: int, nvalues: int) -> None:
    """Value indexes must fit the value table (else a query would fail, not the load)."""
    if idx is None:
        if not 0 <= single < max(nvalues, 1):
            raise SnapshotError("bad shared value index")
        return
    if idx.typecode not in "BHI" or len(idx) != n or (n and max(idx) >= nvalues):
        raise SnapshotError("bad value index array")


class _Writer:
    def __init__(self) -> None:
        self.blob = bytearray()
        self.datasets: list[Any] = []
        self._ids: dict[int, int] = {}

    def put(self, data: bytes) -> list[int]:
        off = len(self.blob)
        self.blob += data
        self.blob += b"\0" * (-len(self.blob) % 8)
        return [off, len(data)]

    def put_array(self, arr: array | None) -> Any:
        if arr is None:
            return None
        return [arr.typecode, *self.put(arr.tobytes())]

    def dataset(self, ds: Dataset) -> int:
        key = id(ds)
        if key in self._ids:
            return self._ids[key]
        if isinstance(ds, Ip4Set):
            d: dict[str, Any] = {
                "type": "ip4", "values": [_enc_value(v) for v in ds.values],
                "levels": [[plen, self.put_array(addrs), self.put_array(idx), single]
                           for plen, _m, addrs, idx, single, _n in ds.levels],
                "intervals": [self.put_array(x) for x in ds.intervals],
                "index16": self.put_array(ds.index16),
            }
        elif isinstance(ds, Ip6Set):
            d = {"type": "ip6", "values": [_enc_value(v) for v in ds.values], "levels": []}
            for plen, keys, idx, single in ds.levels:
                raw = b"".join((k << (128 - plen)).to_bytes(16, "big") for k in keys)
                d["levels"].append([plen, self.put(raw), None if idx is None else
                                    self.put_array(array("I", idx)), single])
        elif isinstance(ds, DnSet):
            d = {"type": "dn", "values": [_enc_value(v) for v in ds.values]}
            for part, table in (("exact", ds.exact), ("wild", ds.wild)):
                names = sorted(table)
                d[part] = [self.put(b"\0".join(names)), len(names),
                           self.put_array(array("I", [table[n] for n in names]))]
        elif isinstance(ds, Mixed):
            d = {"type": "mixed", "parts": [self.dataset(ds.ip4), self.dataset(ds.ip6), self.dataset(ds.dn)]}
        elif isinstance(ds, Combined):
            d = {"type": "combined", "subzones": [
                [[x.decode("ascii", "surrogateescape") for x in name], [self.dataset(s) for s in dss]]
                for name, dss in ds.subzones.items()]}
        else:
            raise TypeError(f"cannot save dataset {ds!r}")
        self._ids[key] = len(self.datasets)
        self.datasets.append(d)
        return self._ids[key]


def dumps(snapshot: Snapshot) -> bytes:
    w = _Writer()
    zones = []
    for z in snapshot.zones.values():
        s = z.soa
        zones.append({
            "name": z.name, "ttl": z.ttl, "ns": list(z.ns), "ns_ttl": z.ns_ttl,
            "soa": [s.mname, s.rname, s.serial, s.refresh, s.retry, s.expire, s.minimum, s.ttl],
            "datasets": [w.dataset(ds) for ds in z.datasets],
        })
    meta = json.dumps({
        "byteorder": sys.byteorder, "serial": snapshot.serial, "zones": zones,
        "datasets": w.datasets, "warnings": list(snapshot.warnings), "meta": snapshot.meta,
    }, separators=(",", ":")).encode()
    crc = zlib.crc32(w.blob, zlib.crc32(meta))
    return HEADER.pack(MAGIC, FORMAT_VERSION, snapshot.serial, len(meta), len(w.blob), crc) + meta + bytes(w.blob)


def save_snapshot(snapshot: Snapshot, path: str | os.PathLike[str]) -> None:
    """Write atomically: temp file in the same directory, fsync, rename."""
    p = Path(path)
    data = dumps(snapshot)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _Reader:
    def __init__(self, blob: memoryview, swap: bool, datasets: list[Any]) -> None:
        self.blob = blob
        self.swap = swap
        self.raw = datasets
        self.done: dict[int, Dataset] = {}

    def get(self, ref: list[int]) -> memoryview:
        off, n = ref
        if off < 0 or n < 0 or off + n > len(self.blob):
            raise SnapshotError("snapshot block out of range")
        return self.blob[off : off + n]

    def get_array(self, ref: Any) -> array | None:
        if ref is None:
            return None
        code, off, n = ref
        arr = array(code)
        arr.frombytes(self.get([off, n]))
        if self.swap:
            arr.byteswap()
        return arr

    def dataset(self, i: int) -> Dataset:
        if i in self.done:
            return self.done[i]
        d = self.raw[i]
        values = [_dec_value(v) for v in d.get("values", ())]
        t = d["type"]
        ds: Dataset
        if t == "ip4":
            parts = []
            for plen, addrs, idx, single in d["levels"]:
                a = self.get_array(addrs)
                ia = self.get_array(idx)
                if a is None or a.typecode != "I" or not 0 <= plen <= 32:
                    raise SnapshotError("bad IPv4 level")
                _check_index(ia, len(a), single, len(values))
                parts.append((plen, a, ia, single))
            starts, svals = (self.get_array(x) for x in d["intervals"])
            if starts is None or svals is None or starts.typecode != "I":
                raise SnapshotError("bad IPv4 intervals")
            _check_index(svals, len(starts), 0, len(values))
            if len(starts) and starts[0] != 0:
                raise SnapshotError("bad IPv4 intervals")
            ix = self.get_array(d.get("index16"))
            n32 = next((len(a) for p, a, _i, _s in parts if p == 32), 0)
            if ix is not None and (ix.typecode != "I" or len(ix) != 0x10001 or ix[0] != 0 or ix[-1] != n32):
                raise SnapshotError("bad IPv4 index")
            ds = Ip4Set.from_arrays(parts, values, (starts, svals), ix)
        elif t == "ip6":
            levels = []
            for plen, ref, idx, single in d["levels"]:
                raw = self.get(ref)
                shift = 128 - plen
                keys = [int.from_bytes(raw[j : j + 16], "big") >> shift for j in range(0, len(raw), 16)]
                ia = self.get_array(idx)
                if not 0 <= plen <= 128 or len(raw) % 16:
                    raise SnapshotError("bad IPv6 level")
                _check_index(ia, len(keys), single, len(values))
                levels.append((plen, keys, None if ia is None else list(ia), single))
            ds = Ip6Set(levels, values)
        elif t == "dn":
            tables = []
            for part in ("exact", "wild"):
                ref, count, idx = d[part]
                names = bytes(self.get(ref)).split(b"\0") if count else []
                ia = self.get_array(idx)
                if ia is None or len(names) != count or len(ia) != count:
                    raise SnapshotError("bad domain table")
                _check_index(ia, count, 0, len(values))
                tables.append(dict(zip(names, ia, strict=True)))
            ds = DnSet(tables[0], tables[1], values)
        elif t == "mixed":
            ip4, ip6, dn = (self.dataset(j) for j in d["parts"])
            if not (isinstance(ip4, Ip4Set) and isinstance(ip6, Ip6Set) and isinstance(dn, DnSet)):
                raise SnapshotError("bad mixed dataset")
            ds = Mixed(ip4, ip6, dn)
        elif t == "combined":
            ds = Combined({
                tuple(x.encode("ascii", "surrogateescape") for x in name): [self.dataset(j) for j in dss]
                for name, dss in d["subzones"]})
        else:
            raise SnapshotError(f"unknown dataset type {t!r}")
        self.done[i] = ds
        return ds


def loads(data: bytes | memoryview) -> Snapshot:
    mv = memoryview(data)
    if len(mv) < HEADER.size:
        raise SnapshotError("snapshot file truncated (no header)")
    magic, version, serial, meta_len, blob_len, crc = HEADER.unpack_from(mv)
    if magic != MAGIC:
        raise SnapshotError("not a mailrep snapshot (bad magic)")
    if version != FORMAT_VERSION:
        raise SnapshotError(f"unsupported snapshot format version {version}")
    if HEADER.size + meta_len + blob_len != len(mv):
        raise SnapshotError("snapshot file truncated or padded (length mismatch)")
    meta_mv = mv[HEADER.size : HEADER.size + meta_len]
    blob = mv[HEADER.size + meta_len :]
    if zlib.crc32(blob, zlib.crc32(meta_mv)) != crc:
        raise SnapshotError("snapshot checksum mismatch")
    try:
        meta = json.loads(bytes(meta_mv))
        rd = _Reader(blob, meta["byteorder"] != sys.byteorder, meta["datasets"])
        zones = []
        for z in meta["zones"]:
            zones.append(Zone(z["name"], soa=Soa(*z["soa"]), ns=z["ns"], ns_ttl=z["ns_ttl"],
                              ttl=z["ttl"], datasets=[rd.dataset(i) for i in z["datasets"]]))
        if meta["serial"] != serial:
            raise SnapshotError("snapshot serial mismatch")
        return Snapshot(zones, serial=serial, warnings=meta.get("warnings", ()), meta=meta.get("meta"))
    except SnapshotError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, UnicodeError) as e:
        raise SnapshotError(f"malformed snapshot: {e}") from e


def load_snapshot(path: str | os.PathLike[str]) -> Snapshot:
    """Read and verify a snapshot file; returns a new Snapshot or raises SnapshotError."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise SnapshotError(f"cannot read snapshot {path}: {e.strerror}") from e
    snap = loads(data)
    del data
    heap.trim()
    return snap
