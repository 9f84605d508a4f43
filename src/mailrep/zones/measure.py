"""Measurements of zone data that tests and `benchmarks/dns.py` share.

    ips = random_public_ipv4(1_000_000, seed=1)       # array('I'), sorted, unique, public
    write_ip4set(path, ips)                            # an rbldnsd ip4set file (+127.0.0.2)
    snap = ip4_snapshot(ips, zone="bl.mailrep.test")  # the same data, without text parsing
    save_snapshot(snap, p); load_seconds(p)            # best of N loads, seconds
    bytes_per_entry(p_big, p_empty, n)                 # tracemalloc, retained after load
    rss_growth(lambda: load_snapshot(p))               # (RSS bytes added, snapshot)
"""

from __future__ import annotations

import gc
import os
import random
import time
import tracemalloc
from array import array
from collections.abc import Callable
from pathlib import Path

from mailrep.zones import heap
from mailrep.zones.ip4set import Ip4Set
from mailrep.zones.rbldnsd import synthetic_soa
from mailrep.zones.snapshot import load_snapshot
from mailrep.zones.value import LISTED_A, Value, compile_template
from mailrep.zones.zone import DEFAULT_TTL, Snapshot, Zone

# first-octet and CIDR ranges that are not public unicast (RFC 6890 and friends)
_RESERVED = [
    (0x00000000, 8), (0x0A000000, 8), (0x64400000, 10), (0x7F000000, 8), (0xA9FE0000, 16),
    (0xAC100000, 12), (0xC0000000, 24), (0xC0000200, 24), (0xC0A80000, 16), (0xC6120000, 15),
    (0xC6336400, 24), (0xCB007100, 24), (0xE0000000, 3),
]
TXT = "Blocked - see http://127.0.0.1:8080/lookup?ip=$"


_FIRST = frozenset(net >> 24 for net, _ in _RESERVED) | frozenset(range(224, 256))


def is_public(a: int) -> bool:
    if a >> 24 not in _FIRST:
        return True
    return not any(a >> (32 - p) == net >> (32 - p) for net, p in _RESERVED)


def random_public_ipv4(n: int, *, seed: int = 1) -> array:
    """n distinct random public IPv4 addresses as a sorted array('I')."""
    rng = random.Random(seed)
    got: set[int] = set()
    while len(got) < n:
        for a in rng.sample(range(1 << 24, 0xE0000000), min(n - len(got) + 1000, 0xDF000000)):
            if is_public(a):
                got.add(a)
                if len(got) == n:
                    break
    return array("I", sorted(got))


def write_ip4set(path: str | os.PathLike[str], ips: array, *, txt: str = TXT) -> None:
    """An rbldnsd ip4set file listing `ips` and 127.0.0.2, all with one :A:TXT default."""
    tmp = Path(f"{path}.tmp")
    with open(tmp, "w") as f:
        f.write(f":127.0.0.2:{txt}\n127.0.0.2\n")
        chunk = 100_000
        for i in range(0, len(ips), chunk):
            f.write("".join(f"{a >> 24}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}\n"
                            for a in ips[i : i + chunk]))
    os.replace(tmp, path)


def ip4_snapshot(ips: array, *, zone: str = "bl.mailrep.test", serial: int = 1, txt: str = TXT,
                 ttl: int = DEFAULT_TTL) -> Snapshot:
    """A one-zone snapshot listing `ips` (+127.0.0.2) with one shared value, built directly."""
    keys = sorted(set(ips) | {0x7F000002})
    value = Value((LISTED_A,), compile_template(txt), ttl)
    ds = Ip4Set.from_arrays([(32, array("I", keys), None, 1)], [None, value])
    z = Zone(zone, soa=synthetic_soa(zone, serial, ttl), ns=(f"ns.{zone}",), ttl=ttl, datasets=[ds])
    return Snapshot([z], serial=serial, meta={"source": "measure"})


def load_seconds(path: str | os.PathLike[str], *, repeat: int = 3) -> float:
    """Best wall time of `repeat` loads of a snapshot file."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        snap = load_snapshot(path)
        best = min(best, time.perf_counter() - t0)
        del snap
    return best


def retained_bytes(path: str | os.PathLike[str]) -> int:
    """Python heap bytes a loaded snapshot keeps (tracemalloc, after the load finished)."""
    gc.collect()
    was = tracemalloc.is_tracing()
    if not was:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        snap = load_snapshot(path)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        del snap
    finally:
        if not was:
            tracemalloc.stop()
    return after - before


def bytes_per_entry(path: str | os.PathLike[str], empty_path: str | os.PathLike[str], n: int) -> float:
    """Extra retained bytes per listed address of `path` over the empty-zone snapshot."""
    return (retained_bytes(path) - retained_bytes(empty_path)) / n


def rss() -> int:
    """Resident set size of this process in bytes (Linux /proc), 0 elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss_growth(load: Callable[[], object]) -> tuple[int, object]:
    """RSS the result of `load()` adds to this process, after freed memory went back to the
    OS: (bytes, result). Use a fresh process for clean figures (the benchmark does)."""
    gc.collect()
    heap.trim()
    before = rss()
    result = load()
    gc.collect()
    heap.trim()
    return rss() - before, result
