"""The defences in C (mailrep.dns.shield.FastGuard, _fastpath.Shield) decide as the Python
guard does (mailrep.dns.guard.Guard, the reference): over generated query streams from
generated client addresses, at generated times, the C loop's per-query path
(`_fastpath.process`, the code `serve` runs) sends the same bytes or the same silence as the
responder + Guard.filter, and afterwards the RRL figures, the metrics text and the flushed
query counts are the same. Also: the memory of the C tables stays bounded under a flood
from a million random sources."""

from __future__ import annotations

import os
import random
import socket

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mailrep.dns import fastpath
from mailrep.dns.answer import Responder, servfail
from mailrep.dns.guard import Guard
from mailrep.dns.node import Node, NodeConfig
from mailrep.dns.rrl import RateLimiter, RrlConfig
from tests.dns.test_fastpath_parity import CASES, ZONE, build_query, queries, rev

if not fastpath.AVAILABLE:
    if os.environ.get("CI") == "true":  # CI builds the extension: its absence is a failure
        pytest.fail(f"mailrep.dns._fastpath is not built: {fastpath.MISSING}", pytrace=False)
    pytest.skip(f"mailrep.dns._fastpath is not built: {fastpath.MISSING}", allow_module_level=True)

from mailrep.dns import _fastpath  # after the skip: only there when built
from mailrep.dns.shield import FastGuard

Z2 = "very.long.origin.name.example"


def packed(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)


CLIENTS = [packed(c) for c in (
    "10.9.1.1", "10.9.1.200", "10.9.2.3", "192.0.2.1", "198.51.100.7", "8.8.8.8", "8.8.4.4",
    "127.0.0.1", "2001:db8:7::1", "2001:db8:7:1::2", "2001:db8:8::1", "::ffff:8.8.8.8",
    "::ffff:10.9.1.7", "2a00::1")] + [b""]
clients = st.one_of(st.sampled_from(CLIENTS), st.binary(min_size=4, max_size=4),
                    st.binary(min_size=16, max_size=16))
steps = st.sampled_from([0.0, 0.0, 0.001, 0.01, 0.1, 0.37, 1.0, 2.5])
EXEMPTS = [[], ["10.9.0.0/16"], ["2001:db8:7::/48", "127.0.0.0/8"], ["0.0.0.0/0"], ["::/0"]]


@st.composite
def rrl_configs(draw: st.DrawFn) -> RrlConfig:
    rate = st.sampled_from([0, 1, 2, 5, 7.5, 50])
    return RrlConfig(answers=draw(rate), negative=draw(rate), errors=draw(rate),
                     window=draw(st.sampled_from([0.5, 1, 3, 5.0])), slip=draw(st.integers(0, 3)),
                     ipv4_prefix=draw(st.sampled_from([24, 16, 32, 0])),
                     ipv6_prefix=draw(st.sampled_from([56, 48, 64, 128])),
                     exempt=draw(st.sampled_from(EXEMPTS)), log_only=draw(st.booleans()),
                     max_buckets=draw(st.integers(1, 12)))


@settings(max_examples=400, deadline=None)
@given(cfg=rrl_configs(), stream=st.lists(st.tuples(clients, st.integers(0, 2), steps), max_size=250))
def test_rrl_verdicts_and_figures_equal(cfg: RrlConfig, stream: list[tuple[bytes, int, float]]) -> None:
    py = RateLimiter(cfg)
    c = FastGuard(Guard(rrl=RateLimiter(cfg))).shield
    now = 1000.0
    for client, rclass, dt in stream:
        now += dt
        assert c.rrl_check(client, rclass, now) == int(py.check(client, rclass, now))
    assert (c.drops, c.slips, c.limited, c.would_limit, c.evictions, c.size) == (
        py.drops, py.slips, py.limited, py.would_limit, py.evictions, py.size)


ACL_RULES = [
    {"networks": ["10.9.1.0/24"], "action": "error", "zones": [ZONE]},
    {"networks": ["8.8.8.0/24", "2a00::/16"], "action": "refuse"},
    {"networks": ["198.51.100.0/24", "2001:db8:7::/48"], "action": "ignore", "zones": [Z2]},
    {"networks": ["10.9.0.0/16"], "action": "allow"},
    {"networks": ["0.0.0.0/0"], "action": "error", "zones": ["k3y." + ZONE]},
]


def node_guard(data: st.DataObject) -> Guard:
    """A guard as `mailrep dns`/`serve` build it from [dns], with small tables."""
    draw = data.draw
    rrl = draw(st.one_of(st.none(), rrl_configs()))
    cfg = NodeConfig(
        acl=draw(st.lists(st.sampled_from(ACL_RULES), max_size=4)),
        query_budget=draw(st.sampled_from([0, 0, 3, 20])),
        query_budget_window=draw(st.sampled_from([1.0, 10.0])),
        count_queries=draw(st.booleans()), count_zones=draw(st.sampled_from([[], [ZONE], [Z2, ZONE]])),
        metrics=draw(st.sampled_from(["", "127.0.0.1:0"])))
    if rrl is not None:
        cfg.rrl, cfg.rrl_answers, cfg.rrl_negative, cfg.rrl_errors = True, rrl.answers, rrl.negative, rrl.errors
        cfg.rrl_window, cfg.rrl_slip, cfg.rrl_exempt = rrl.window, rrl.slip, rrl.exempt
        cfg.rrl_log_only, cfg.rrl_max_buckets = rrl.log_only, rrl.max_buckets
    node = Node(cfg, volume_flush=lambda counts: None)
    guard = node.guard or Guard()
    if guard.counter is not None:
        guard.counter.max_keys = draw(st.sampled_from([2, 5, 500_000]))
    if guard.budget is not None:
        guard.budget.max_clients = draw(st.sampled_from([2, 1_000_000]))
    return guard


def guarded(resp: Responder, fg: FastGuard):  # type: ignore[no-untyped-def]
    """What DnsServer hands the C loop for the queries the Table hands back."""
    def udp(client: bytes, query: bytes, now: float) -> bytes | None:
        return fg.filter(client, query, resp.udp(query), resp.snapshot, now)
    return udp


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.integers(0, len(CASES) - 1), data=st.data())
def test_the_c_loop_guards_as_the_python_guard(case: int, data: st.DataObject) -> None:
    snap, _keys = CASES[case]
    ref = node_guard(data)
    fg = FastGuard(_copy_guard(ref))  # the same configuration, its own (C) state
    py_resp, c_resp = Responder(snap), Responder(snap)
    table = fastpath.table_for(snap, fg.zone_info)
    udp = guarded(c_resp, fg)
    now = 500.0
    stream = data.draw(st.lists(st.tuples(clients, queries(case), steps), min_size=1, max_size=120))
    for client, q, dt in stream:
        now += dt
        want = ref.filter(client, q, py_resp.udp(q), snap, now)
        got = _fastpath.process(table, fg.shield, client, q, now, udp, servfail)
        assert got == want, (client, q)
        event("silence" if got is None else f"rcode {got[3] & 0xF}{' TC' if got[2] & 0x02 else ''}")
    event(f"answered in C: {bool(table is not None and table.answered)}")
    if ref.rrl is not None:
        c = fg.shield
        assert (c.drops, c.slips, c.limited, c.would_limit, c.evictions, c.size) == (
            ref.rrl.drops, ref.rrl.slips, ref.rrl.limited, ref.rrl.would_limit, ref.rrl.evictions, ref.rrl.size)
    if ref.metrics is not None:
        assert fg.metrics is not None
        assert fg.metrics.render(now=0.0) == ref.metrics.render(now=0.0)
    if ref.counter is not None:
        assert fg.counter is not None
        assert fg.counter.take() == ref.counter.take()


def _copy_guard(g: Guard) -> Guard:
    """A fresh guard of the same configuration (empty state)."""
    from mailrep.dns.acl import Budget
    from mailrep.dns.metrics import DnsMetrics
    from mailrep.dns.querycount import QueryCounter

    rrl = RateLimiter(g.rrl.cfg) if g.rrl is not None else None
    metrics = DnsMetrics() if g.metrics is not None else None
    if metrics is not None:
        metrics.rrl = rrl
    budget = Budget(g.budget.limit, g.budget.window, max_clients=g.budget.max_clients) if g.budget else None
    counter = None
    if g.counter is not None:
        counter = QueryCounter(lambda counts: None, max_keys=g.counter.max_keys)
    return Guard(acl=g.acl, budget=budget, rrl=rrl, counter=counter, count_zones=g.count_zones, metrics=metrics)


def test_a_flood_from_a_million_random_sources_keeps_the_tables_bounded() -> None:
    """RRL buckets, budget networks and query counts: at most their configured sizes, and the
    memory of the tables stops growing, while the one real flooder stays limited."""
    cfg = NodeConfig(rrl=True, rrl_negative=5, rrl_answers=5, rrl_window=1, rrl_max_buckets=20_000,
                     query_budget=1_000, count_queries=True, metrics="127.0.0.1:0")
    node = Node(cfg, volume_flush=lambda counts: None)
    assert node.guard is not None and node.guard.budget is not None and node.counter is not None
    node.guard.budget.max_clients = 30_000
    node.counter.max_keys = 40_000
    fg = FastGuard(node.guard)
    snap, _ = CASES[0]
    table = fastpath.table_for(snap, fg.zone_info)
    resp = Responder(snap)
    udp = guarded(resp, fg)
    rnd = random.Random(19)
    sources = rnd.randbytes(4 * 1_000_000)
    names = [build_query(7, 0x0100, [*rev(rnd.getrandbits(32)), b"bl", b"mailrep", b"test"], 1, 1, None)
             for _ in range(50_000)]
    flooder = packed("203.0.113.9")
    shield, process = fg.shield, _fastpath.process
    sizes = []
    limited = 0
    for i in range(1_000_000):
        now = i / 500_000  # half a million queries a second
        process(table, shield, sources[4 * i : 4 * i + 4], names[i % 50_000], now, udp, servfail)
        if i % 100 == 0:
            reply = process(table, shield, flooder, names[i % 50_000], now, udp, servfail)
            limited += reply is None or bool(reply[2] & 0x02)  # dropped or slipped (TC=1)
        if i % 100_000 == 99_999:
            sizes.append((shield.table_bytes, shield.size, shield.clients, shield.counted))
    assert table.answered > 1_000_000  # all of it in C
    assert max(s[1] for s in sizes) <= 20_000
    assert max(s[2] for s in sizes) <= 30_000
    assert max(s[3] for s in sizes) < 40_000
    assert len({s[0] for s in sizes[3:]}) == 1  # the tables reached their size and stay there
    # 2 x 20,002 RRL buckets of 48 B + their index, 64k budget slots, 128k count slots: ~5.3 MB
    assert sizes[-1][0] < 6 << 20
    assert shield.evictions > 900_000
    # 5 of credit + 5/s over 2 s for its NXDOMAINs, as much again for the error answers once it
    # is over budget (another response class): ~30 pass, the rest is dropped or slipped
    assert 10_000 - 60 < limited < 10_000 - 20
    assert node.counter.pending_text  # full C tables went to the flusher's queue
    taken = node.counter.take()
    assert len(taken) == 50_000 and sum(taken.values()) == 1_010_000  # every query counted once
