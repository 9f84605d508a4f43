"""Differences between consecutive versions of a zone, for IXFR (RFC 1995).

    hist = ZoneHistory(keep=K)
    hist.add(serial, records)              # records: the zone's data (axfr.data_records)
    hist.changes_since(old_serial) -> list[Delta] | None   # None: too old or unknown -> AXFR

Only the newest record set is kept whole; older versions survive as the K most recent deltas
(deleted and added records between two serials), so memory is one zone plus the churn.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from mailrep.zones.axfr import Record


class Delta(NamedTuple):
    old_serial: int
    new_serial: int
    deleted: tuple[Record, ...]
    added: tuple[Record, ...]


def diff(old: Iterable[Record], new: Iterable[Record]) -> tuple[list[Record], list[Record]]:
    """(deleted, added): records of `old` not in `new`, and of `new` not in `old` (by owner, type,
    rdata; a TTL change is a delete plus an add)."""
    o = {(r.owner, r.rtype, r.ttl, r.rdata): r for r in old}
    n = {(r.owner, r.rtype, r.ttl, r.rdata): r for r in new}
    return [r for k, r in o.items() if k not in n], [r for k, r in n.items() if k not in o]


def serial_gt(a: int, b: int) -> bool:
    """RFC 1982 serial number arithmetic on 32 bits: a is newer than b."""
    a &= 0xFFFFFFFF
    b &= 0xFFFFFFFF
    return a != b and ((a - b) & 0xFFFFFFFF) < 0x80000000


class ZoneHistory:
    """The current record set of one zone plus the last `keep` deltas."""

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self.serial: int | None = None
        self.current: tuple[Record, ...] = ()
        self.deltas: deque[Delta] = deque(maxlen=keep)

    def add(self, serial: int, records: Sequence[Record]) -> Delta | None:
        """Record a new version; returns its delta from the previous one (None for the first or
        an unchanged serial)."""
        if self.serial is None:
            self.serial, self.current = serial, tuple(records)
            return None
        if serial == self.serial:
            return None
        if not serial_gt(serial, self.serial):
            # a serial going backwards: earlier deltas no longer lead here
            self.deltas.clear()
            self.serial, self.current = serial, tuple(records)
            return None
        deleted, added = diff(self.current, records)
        delta = Delta(self.serial, serial, tuple(deleted), tuple(added))
        if self.keep:
            self.deltas.append(delta)
        self.serial, self.current = serial, tuple(records)
        return delta

    def changes_since(self, old_serial: int) -> list[Delta] | None:
        """The chain of deltas from `old_serial` to the current serial, [] when already current,
        None when the history does not reach back that far (the caller sends AXFR)."""
        if self.serial is None:
            return None
        if old_serial == self.serial:
            return []
        chain = list(self.deltas)
        for i, d in enumerate(chain):
            if d.old_serial == old_serial:
                return chain[i:]
        return None
