"""The group-commit writer: acknowledge only after the batch's transaction returned."""

from __future__ import annotations

import threading
import time

import pytest

from mailrep.errors import OverQuota, StorageError
from mailrep.intake.writer import Writer


class Recorder:
    def __init__(self, fail_on: set | None = None, gate: threading.Event | None = None) -> None:
        self.batches: list[list] = []
        self.committed: set = set()
        self.fail_on = fail_on or set()
        self.gate = gate

    def __call__(self, batch):
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail_on & set(batch):
            raise RuntimeError("disk on fire")
        self.batches.append(list(batch))
        self.committed.update(batch)
        return [OverQuota() if x == "q" else f"ok:{x}" for x in batch]


def test_results_come_after_commit_in_order():
    rec = Recorder()
    w = Writer(rec, batch_size=10, batch_wait=0.001)
    futs = [w.submit(i) for i in range(25)]
    assert [f.result(5) for f in futs] == [f"ok:{i}" for i in range(25)]
    assert rec.committed == set(range(25))
    assert all(len(b) <= 10 for b in rec.batches)
    w.close()


def test_items_queued_while_a_commit_runs_go_in_one_batch():
    gate = threading.Event()
    rec = Recorder(gate=gate)
    w = Writer(rec, batch_size=100, batch_wait=0.001)
    first = w.submit("first")
    time.sleep(0.05)  # the writer is now blocked inside the first commit
    rest = [w.submit(i) for i in range(50)]
    assert not first.done()  # not acknowledged before its commit returned
    gate.set()
    assert first.result(5) == "ok:first"
    assert [f.result(5) for f in rest] == [f"ok:{i}" for i in range(50)]
    assert rec.batches[1] == list(range(50))
    w.close()


def test_a_failed_commit_fails_every_item_of_its_batch_only():
    gate = threading.Event()
    rec = Recorder(fail_on={"bad"}, gate=gate)
    w = Writer(rec, batch_size=100, batch_wait=0.001)
    w.submit("warmup")
    time.sleep(0.05)
    doomed = [w.submit(x) for x in ("a", "bad", "b")]
    gate.set()
    for f in doomed:
        with pytest.raises(StorageError):
            f.result(5)
    assert w.submit("c").result(5) == "ok:c"
    assert "a" not in rec.committed
    w.close()


def test_per_item_errors_and_close_commits_the_queue():
    rec = Recorder()
    w = Writer(rec, batch_size=3, batch_wait=0.001)
    q = w.submit("q")
    futs = [w.submit(i) for i in range(10)]
    w.close()
    with pytest.raises(OverQuota):
        q.result(0)
    assert all(f.done() for f in futs) and rec.committed >= set(range(10))
    with pytest.raises(StorageError):
        w.submit("late")


def test_a_lone_item_with_nothing_on_its_way_is_committed_at_once():
    rec = Recorder()
    w = Writer(rec, batch_size=100, batch_wait=30.0, coming=lambda: 0)
    assert w.submit("alone").result(10) == "ok:alone"  # not after the 30 s batch wait
    w.close()


def test_a_batch_waits_for_items_still_on_their_way():
    on_the_way = [1]
    rec = Recorder()
    w = Writer(rec, batch_size=100, batch_wait=30.0, coming=lambda: on_the_way[0])
    first = w.submit("first")
    time.sleep(0.2)
    assert not first.done()  # waiting: one more is being prepared
    on_the_way[0] = 0
    second = w.submit("second")
    assert (first.result(10), second.result(10)) == ("ok:first", "ok:second")
    assert rec.batches == [["first", "second"]]
    w.close()


def test_the_wait_for_items_on_their_way_is_bounded_by_batch_wait():
    rec = Recorder()
    w = Writer(rec, batch_size=100, batch_wait=0.3, coming=lambda: 1)  # never arrives
    t0 = time.monotonic()
    assert w.submit("x").result(10) == "ok:x"
    assert time.monotonic() - t0 >= 0.3
    w.close()
