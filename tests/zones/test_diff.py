"""IXFR deltas: applying the kept deltas to an old version gives the new one; the history
reaches back K versions and no further."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mailrep.zones.axfr import Record, data_records
from mailrep.zones.build import build_snapshot
from mailrep.zones.diff import ZoneHistory, diff, serial_gt


def _rec(i: int, ttl: int = 60) -> Record:
    return Record(f"{i}.0.0.10", 1, ttl, bytes((127, 0, 0, 2)))


def _apply(current: set, deltas) -> set:
    for d in deltas:
        current = (current - set(d.deleted)) | set(d.added)
    return current


@given(st.lists(st.frozensets(st.integers(0, 40), max_size=20), min_size=1, max_size=12),
       st.integers(1, 5))
@settings(max_examples=200, deadline=None)
def test_deltas_replay_to_every_later_version(versions, keep):
    hist = ZoneHistory(keep=keep)
    snaps = []
    for serial, members in enumerate(versions, start=100):
        recs = [_rec(i) for i in sorted(members)]
        hist.add(serial, recs)
        snaps.append((serial, set(recs)))
    last_serial, last = snaps[-1]
    for serial, recs in snaps:
        chain = hist.changes_since(serial)
        age = last_serial - serial
        if age == 0:
            assert chain == []
        elif age <= keep:
            assert chain is not None and _apply(recs, chain) == last
            assert chain[0].old_serial == serial and chain[-1].new_serial == last_serial
        else:
            assert chain is None  # too old: the caller falls back to AXFR
    assert hist.changes_since(99) is None


def test_ttl_change_is_delete_plus_add():
    deleted, added = diff([_rec(1, 60)], [_rec(1, 120)])
    assert deleted == [_rec(1, 60)] and added == [_rec(1, 120)]


def test_unchanged_and_backwards_serials():
    hist = ZoneHistory(keep=3)
    assert hist.add(5, [_rec(1)]) is None
    d = hist.add(6, [_rec(2)])
    assert d is not None and d.deleted == (_rec(1),) and d.added == (_rec(2),)
    assert hist.add(6, [_rec(3)]) is None  # same serial: nothing new
    assert hist.add(4, [_rec(4)]) is None  # serial went backwards: history restarts
    assert hist.changes_since(5) is None and hist.changes_since(4) == []


def test_serial_arithmetic_wraps():
    assert serial_gt(1, 0xFFFFFFFF)
    assert not serial_gt(0xFFFFFFFF, 1)
    assert serial_gt(10, 5) and not serial_gt(5, 5)
    hist = ZoneHistory()
    hist.add(0xFFFFFFFF, [_rec(1)])
    assert hist.add(1, [_rec(2)]) is not None and hist.changes_since(0xFFFFFFFF) is not None


def test_a_listing_change_is_a_small_delta():
    base = [("bl", f"192.0.2.{i}", "127.0.0.2", None) for i in range(1, 200)]
    old = data_records(build_snapshot(base, serial=1).zones["bl.mailrep.test"])
    new = data_records(build_snapshot([*base[1:], ("bl", "198.51.100.1", "127.0.0.2", None)],
                                      serial=2).zones["bl.mailrep.test"])
    deleted, added = diff(old, new)
    assert {r.owner for r in deleted} == {"1.2.0.192"} and {r.owner for r in added} == {"1.100.51.198"}
    assert len(deleted) == len(added) == 2  # A and TXT
