"""The C fast path (mailrep.dns._fastpath): the common IPv4 A/TXT query answered in C, and a
recvmmsg/sendmmsg loop that hands everything else to the Python responder.

    table = table_for(snapshot)     # a _fastpath.Table, or None (nothing it can answer)
    table.answer(query)             # reply bytes, byte-identical to answer.answer(), or None
    serve(sock, state, failed, stopping)   # the UDP loop; state() -> (table | None, udp)

What the Table answers, and why each reply equals the Python one (tests/dns/test_fastpath_parity.py):

- Zones whose one dataset is an `Ip4Set` (rbldnsd ip4set/ip4tset/ip4trie, snapshots): every
  four-label name below the origin (hits, NXDOMAIN, exclusions, ranges), types A and TXT.
- Zones whose one dataset is a `Mixed` (mailrep serve: ip4 + ip6 + dn): hits of the IPv4
  part only, unless the IPv6 and domain parts are empty. An IPv4 miss there goes on to the
  other parts in `Mixed.lookup` (four one-digit labels are IPv6 nibbles and may be an empty
  non-terminal, and the domain set may hold any name), so C hands such a query back.
- Nothing else: other datasets, several datasets in a zone (merged answers), and a zone with
  another zone's origin beneath it (the longest origin would win) are not in the Table, so
  their queries fall through to Python, as do all other names, types, classes and opcodes.

Defences and counts (mailrep.dns.guard: ACL, query budget, query counting, RRL, metrics)
run in C too: the server turns its Guard into a FastGuard (mailrep.dns.shield) whose state
is a C Shield; the loop passes every reply the Table makes through it, and the queries it
hands back are answered and guarded in Python against the same state. A Responder subclass
gets no Table (DnsServer._fast_state). Keyed access needs nothing: the Table is built from
the responder's snapshot, which is the keyed view (`<key>.<zone>` only). Replies answered
in C are not put in the reply cache (they cost less than a cache lookup) and are counted
in `Table.answered`, the queries handed on in `Table.handed`.

Without the extension (no compiler at install time) `AVAILABLE` is False, `table_for`
returns None and the server keeps its Python loops; it logs that once.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

from mailrep.dns.answer import _ZoneWire
from mailrep.zones.build import Mixed
from mailrep.zones.ip4set import Ip4Set
from mailrep.zones.value import Value

log = logging.getLogger("mailrep.dns")

try:
    from mailrep.dns import _fastpath
except ImportError as e:  # built with optional=True: a missing compiler leaves no module
    _fastpath = None
    MISSING = str(e)
else:
    MISSING = ""

AVAILABLE = _fastpath is not None
APEX_OFFSETS = range(20, 29)  # where the origin starts after four labels of 1-3 octets
BATCH = 64

Spec = tuple[Any, ...]
ZoneInfo = Callable[[str], tuple[bool, int, bool, int]]


def origin_wire(labels: tuple[bytes, ...]) -> bytes:
    """An origin in wire form (lowercase labels, then the root octet), as the C code matches it."""
    return b"".join(bytes((len(x),)) + x for x in labels) + b"\x00"


def value_spec(v: Value | None) -> tuple[bytes, tuple[bytes, ...] | None, int] | None:
    """(A values concatenated, TXT template segments, TTL); None = the exclusion slot.

    Only the first TXT template is answered (`Value.more` never reaches a reply: the
    responder answers `Hit.txt` alone), so it is all the C code needs."""
    if v is None:
        return None
    return b"".join(v.a), v.txt, v.ttl


def ip4_arrays(ds: Ip4Set) -> tuple[Any, ...]:
    """(addrs, idx, single, index16, starts, svals, values) of an Ip4Set, the arrays as they are."""
    exact = next((lv for lv in ds.levels if lv[0] == 32), None)
    if exact is None:
        addrs, idx, single = None, None, 0
    else:
        _plen, _mask, addrs, idx, single, _n = exact
    starts, svals = ds.intervals
    values = tuple(value_spec(v) for v in ds.values)
    return addrs, idx, single, ds.index16, starts or None, svals if starts else None, values


def zone_spec(zone: Any, zone_info: ZoneInfo | None = None) -> Spec | None:
    """The Table's tuple for one zone, or None when C cannot answer for it exactly. With
    `zone_info` (a FastGuard's) the zone carries what the C Shield needs to know of it."""
    datasets = getattr(zone, "datasets", ())  # duck-typed zones (test fakes) have none
    if len(datasets) != 1:
        return None
    ds = datasets[0]
    if isinstance(ds, Ip4Set):
        ip4, misses_to_python = ds, False
    elif isinstance(ds, Mixed):
        ip4, misses_to_python = ds.ip4, bool(len(ds.ip6) or len(ds.dn))
    else:
        return None
    addrs, idx, single, ix, starts, svals, values = ip4_arrays(ip4)
    wire = _ZoneWire(zone)
    neg = tuple(wire.negative(off) for off in APEX_OFFSETS)
    spec = (origin_wire(tuple(zone.labels)), addrs, idx, single, ix, starts, svals, neg, values,
            misses_to_python)
    if zone_info is not None:
        _known, acl_mask, counted, row = zone_info(zone.name)
        spec += (acl_mask, counted, row)
    return spec


def _has_zone_beneath(labels: tuple[bytes, ...], origins: list[tuple[bytes, ...]]) -> bool:
    n = len(labels)
    return any(len(o) > n and o[len(o) - n :] == labels for o in origins)


def table_for(snapshot: Any, zone_info: ZoneInfo | None = None) -> Any:
    """A Table for the zones of `snapshot` C can answer exactly; None without any (or without
    the extension). `zone_info`: see zone_spec."""
    if _fastpath is None:
        return None
    zones = list(getattr(snapshot, "zones", {}).values())
    origins = [tuple(z.labels) for z in zones]
    specs = []
    for z in zones:
        # a zone below this one owns some four-label names (Snapshot.find: longest origin)
        if _has_zone_beneath(tuple(z.labels), origins):
            continue
        spec = zone_spec(z, zone_info)
        if spec is not None:
            specs.append(spec)
    return _fastpath.Table(tuple(specs)) if specs else None


def usable(sock: socket.socket) -> bool:
    """Whether the C loop can serve this socket (the extension is there, a datagram socket)."""
    return _fastpath is not None and sock.type == socket.SOCK_DGRAM


def serve(sock: socket.socket, state: Callable[[], tuple[Any, Callable[..., bytes | None]]],
          failed: Callable[[bytes], bytes | None], stopping: Callable[[], bool],
          batch: int = BATCH, shield: Any = None, clock: Callable[[], float] | None = None) -> None:
    """Serve `sock` until stopping() (checked before each burst; wake a blocked loop with a
    datagram). state() is read once per burst: (Table | None, udp(query) -> reply | None); a
    query the Table hands back goes to udp, and if that raises, failed(query) answers (it runs
    as in an `except` block, so it may log the exception). With a `shield` (a FastGuard's) every
    reply made in C passes it, and udp is called as udp(client, query, now) and guards its own
    reply; `now` is clock() (default: the monotonic clock) read once per burst."""
    assert _fastpath is not None
    _fastpath.serve(sock.fileno(), state, failed, stopping, batch, shield, clock)


def note_missing() -> None:
    """One log line when the server answers in Python because the extension is not built."""
    if not AVAILABLE:
        log.info("dns: C fast path not built (%s); answering every query in Python", MISSING)
