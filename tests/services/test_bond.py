"""services.bond and services.statement on SQLite and PostgreSQL: enrolment, deposits, debits
(the issue's example), standing, disputes, the allowlist, statements, verify, and two
processes debiting at once."""

from __future__ import annotations

import multiprocessing
import zlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from mailrep.errors import BadInput, Conflict, NotAllowed, NotFound
from mailrep.policy.bond import BondConfig
from mailrep.services.bond import Bond
from mailrep.services.publish import Publish
from mailrep.services.statement import statement, verify
from mailrep.store import accounts
from mailrep.store.db import Database
from mailrep.store.reports import insert_reports, insert_volume
from mailrep.store.tables import ledger_entries

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def add_reports(db: Database, ip: str, n: int, *, start: int = 0, when: datetime = NOW) -> list[int]:
    rows = [{"reporter_id": None, "channel": "http", "received_at": when - timedelta(minutes=n - i),
             "sha256": f"{ip}-{start + i}", "raw_z": zlib.compress(b"x"), "raw_size": 1, "stored_size": 1,
             "source_ip": ip, "counted": True, "state": "accepted", "trace_json": {"source": {"ip": ip}, "hops": []},
             "dedupe_key": f"r:-:{ip}-{start + i}"} for i in range(n)]
    with db.transaction() as conn:
        return insert_reports(conn, rows)


def add_volume(db: Database, ip: str, count: int) -> None:
    with db.transaction() as conn:
        insert_volume(conn, [{"ip": ip, "count": count, "period_start": NOW - timedelta(days=1),
                              "period_end": NOW - timedelta(hours=1), "received_at": NOW}])


def staff(db: Database):
    with db.transaction() as conn:
        return accounts.ensure_account(conn, "dep", "deputy", NOW)


@pytest.fixture
def bond(db):
    return Bond(db, BondConfig())


def enrol_funded(bond: Bond, name: str, net: str, amount: str = "5000.00"):
    bond.enrol(name, NOW, networks=[net])
    bond.review(name, "approve", "identity and practices checked", staff(bond.db), NOW)
    bond.deposit(name, amount, f"wire-{name}", NOW)


def test_the_issue_example(db, bond):
    enrol_funded(bond, "acme", "192.0.2.0/24")
    assert bond.get("acme", NOW)["status"] == "approved"
    add_volume(db, "192.0.2.10", 2000)
    add_reports(db, "192.0.2.10", 5)
    got = bond.recompute(NOW)["acme"]
    assert (got["complaints"], got["volume"], got["allowance"], len(got["debited_now"])) == (5, 2000, 2, 3)
    assert bond.balance("acme") == "4940.00"
    for _ in range(3):
        assert bond.recompute(NOW)["acme"]["debited_now"] == []
    assert bond.balance("acme") == "4940.00"
    assert verify(db).problems == []


def test_deposit_is_idempotent_by_reference(db, bond):
    bond.enrol("acme", NOW, networks=["192.0.2.0/24"])
    first = bond.deposit("acme", "100.00", "ref-1", NOW)
    again = bond.deposit("acme", "100.00", "ref-1", NOW)
    assert again["duplicate"] and again["transaction"] == first["transaction"]
    assert bond.balance("acme") == "100.00"
    with pytest.raises(Conflict):
        bond.deposit("acme", "200.00", "ref-1", NOW)
    with pytest.raises(BadInput):
        bond.deposit("acme", "1.001", "ref-2", NOW)


def test_enrolment_rules(db, bond):
    bond.enrol("acme", NOW, networks=["192.0.2.0/24"], domains=["acme.example"])
    with pytest.raises(Conflict):
        bond.enrol("other", NOW, networks=["192.0.2.0/24"])
    with pytest.raises(BadInput):
        bond.enrol("bad name", NOW, networks=["192.0.3.0/24"])
    with pytest.raises(BadInput):
        bond.enrol("x", NOW, networks=["not-a-net"])
    with pytest.raises(NotAllowed):
        with db.transaction() as conn:
            rep = accounts.create_account(conn, "rep", "reporter", NOW)
        bond.review("acme", "approve", "ok", rep, NOW)
    with pytest.raises(BadInput):
        bond.review("acme", "approve", "  ", staff(db), NOW)


def test_thin_sender_is_suspended_and_a_deposit_brings_it_back(db, bond):
    enrol_funded(bond, "thin", "198.51.100.0/24", amount="1010.00")
    publish = Publish(db, allowlist=bond)
    assert [w.network for w in bond.listed(NOW)] == ["198.51.100.0/24"]
    add_reports(db, "198.51.100.5", 3)
    out = bond.recompute(NOW)["thin"]
    assert out["balance"] == "950.00" and out["status"] == "suspended"
    assert bond.listed(NOW) == [] and not any(e[0] == "wl" for e in publish.entries(NOW))
    m = publish.change_marker()
    bond.deposit("thin", "100.00", "top-up", NOW)
    assert bond.get("thin", NOW)["status"] == "approved" and publish.change_marker() > m
    assert [e[:3] for e in publish.entries(NOW) if e[0] == "wl"] == [("wl", "198.51.100.0/24", "127.0.15.1")]


def test_unapproved_and_deputy_suspended_senders_are_never_listed(db, bond):
    bond.enrol("new", NOW, networks=["203.0.113.0/24"])
    bond.deposit("new", "9000.00", "w", NOW)
    assert bond.listed(NOW) == []
    bond.review("new", "approve", "ok", staff(db), NOW)
    assert len(bond.listed(NOW)) == 1
    bond.review("new", "suspend", "sending practices", staff(db), NOW)
    bond.deposit("new", "9000.00", "w2", NOW)
    assert bond.get("new", NOW)["status"] == "suspended" and bond.listed(NOW) == []


def test_dispute_reversal_restores_the_debit(db, bond):
    enrol_funded(bond, "acme", "192.0.2.0/24")
    add_reports(db, "192.0.2.10", 5)
    bond.recompute(NOW)
    with db.read() as conn:
        acc = accounts.get_account(conn, "acme")
    me = bond.me(acc, NOW)
    assert len(me["debits"]) == 5 and me["debits"][0]["report"]["source_ip"] == "192.0.2.10"
    assert "reporter" not in me["debits"][0]["report"]
    debit = me["debits"][0]["transaction"]
    d = bond.dispute(acc, debit, "our unsubscribe page was down", NOW)
    with pytest.raises(Conflict):
        bond.dispute(acc, debit, "again", NOW)
    with pytest.raises(NotFound):
        bond.dispute(acc, 10**6, "none", NOW)
    before = bond.balance("acme")
    bond.decide_dispute(d["id"], True, "the complaints came from a forwarder", staff(db), NOW)
    assert bond.balance("acme") == "4920.00" != before
    with pytest.raises(Conflict):
        bond.decide_dispute(d["id"], False, "twice", staff(db), NOW)
    d2 = bond.dispute(acc, me["debits"][1]["transaction"], "also", NOW)
    bond.decide_dispute(d2["id"], False, "the reports stand", staff(db), NOW)
    assert bond.balance("acme") == "4920.00"
    assert bond.recompute(NOW)["acme"]["debited_now"] == []  # a reversed debit is not debited again
    assert verify(db).problems == []


def test_statements(db, bond):
    enrol_funded(bond, "acme", "192.0.2.0/24")
    add_reports(db, "192.0.2.10", 4)
    bond.recompute(NOW + timedelta(days=1))
    text = statement(db, "acme", fmt="ledger")
    assert "liabilities:bonds:acme    -5000.00 USD" in text and text.count("* debit") == 4
    later = statement(db, "acme", fmt="json", since=NOW + timedelta(hours=1))
    assert '"opening_balance": "5000.00"' in later and '"closing_balance": "4920.00"' in later
    csv = statement(db, "acme", fmt="csv").splitlines()
    assert csv[0].startswith("date,transaction,kind") and len(csv) == 1 + 2 * 5


def test_verify_names_an_entry_changed_by_hand(db, bond):
    enrol_funded(bond, "acme", "192.0.2.0/24")
    add_reports(db, "192.0.2.10", 4)
    bond.recompute(NOW)
    assert verify(db).problems == []
    with db.transaction() as conn:
        conn.execute(ledger_entries.update().where(ledger_entries.c.seq == 3).values(amount=1000))
    problems = verify(db).problems
    assert problems and problems[0].startswith("entry 3: hash mismatch")


def _recompute_in_process(url: str, rounds: int) -> None:
    db = Database(url)
    bond = Bond(db, BondConfig())
    for _ in range(rounds):
        bond.recompute(NOW)
    db.dispose()


def test_two_processes_debiting_at_once_never_double_debit(db, bond):
    enrol_funded(bond, "acme", "192.0.2.0/24", amount="9000.00")
    enrol_funded(bond, "bulk", "198.51.100.0/24", amount="9000.00")
    add_reports(db, "192.0.2.10", 30)
    add_reports(db, "198.51.100.1", 30)
    url = db.url.render_as_string(hide_password=False)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_recompute_in_process, args=(url, 3)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert bond.balance("acme") == bond.balance("bulk") == "8400.00"
    with db.read() as conn:
        keys = conn.execute(sa.text("SELECT key FROM ledger_transactions WHERE kind = 'debit'")).scalars().all()
    assert len(keys) == len(set(keys)) == 60
    assert verify(db).problems == []
