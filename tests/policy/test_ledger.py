"""The ledger's pure core: exact money, balanced transactions, the hash chain; properties over
random deposit/debit/reversal sequences."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailrep.errors import BadInput
from mailrep.policy import ledger
from mailrep.policy.ledger import (
    GENESIS,
    Kind,
    Posting,
    Transaction,
    Unbalanced,
    bond_balance,
    chain,
    format_amount,
    parse_amount,
    verify_chain,
)

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("text, minor", [
    ("20.00", 2000), ("20", 2000), ("0.01", 1), ("5000.00", 500000), (Decimal("1.5"), 150),
    (7, 700), (" 12.30 ", 1230), ("1e2", 10000),
])
def test_parse_amount(text, minor):
    assert parse_amount(text) == minor


@pytest.mark.parametrize("bad", ["0", "-1.00", "0.001", "abc", "", "NaN", "Infinity", 20.0, True, "1e20"])
def test_parse_amount_refuses(bad):
    with pytest.raises(BadInput):
        parse_amount(bad)


@pytest.mark.parametrize("minor, text", [(0, "0.00"), (1, "0.01"), (494000, "4940.00"), (-2000, "-20.00"),
                                         (-5, "-0.05"), (123456789, "1234567.89")])
def test_format_amount(minor, text):
    assert format_amount(minor) == text


def test_transactions_must_balance_and_be_integers():
    with pytest.raises(Unbalanced):
        Transaction("k", Kind.DEPOSIT, "acme", AT, "", (Posting("a", 100), Posting("b", -99)))
    with pytest.raises(Unbalanced):
        Transaction("k", Kind.DEPOSIT, "acme", AT, "", (Posting("a", 100),  # one leg
                                                        ))
    with pytest.raises(Unbalanced):
        Transaction("k", Kind.DEPOSIT, "acme", AT, "", (Posting("a", 1.0), Posting("b", -1.0)))  # type: ignore[arg-type]
    with pytest.raises(BadInput):
        ledger.deposit("k", "acme", 0, AT, "")


@pytest.mark.parametrize("make, escrow, bond, forfeits, delta", [
    (ledger.deposit, 500, -500, 0, 500),
    (ledger.debit, 0, 500, -500, -500),
    (ledger.reversal, 0, -500, 500, 500),
])
def test_postings_of_each_kind(make, escrow, bond, forfeits, delta):
    txn = make("k", "acme", 500, AT, "memo")
    got = ledger.balances(txn.postings)
    assert got.get(ledger.ESCROW, 0) == escrow
    assert got.get("liabilities:bonds:acme", 0) == bond
    assert got.get(ledger.FORFEITS, 0) == forfeits
    assert txn.bond_delta() == delta and txn.amount == 500


def test_the_issue_example():
    txns = [ledger.deposit("d", "acme", parse_amount("5000.00"), AT, "")]
    txns += [ledger.debit(f"r{i}", "acme", parse_amount("20.00"), AT, "") for i in range(3)]
    entries, prev = [], GENESIS
    for t in txns:
        new = chain(prev, len(entries) + 1, t)
        entries += new
        prev = new[-1].hash
    assert format_amount(bond_balance("acme", entries)) == "4940.00"
    assert verify_chain(entries) == []


def _ledger(txns):
    entries, prev = [], GENESIS
    for t in txns:
        new = chain(prev, len(entries) + 1, t)
        entries += new
        prev = new[-1].hash
    return entries


def test_verify_names_the_changed_entry():
    entries = _ledger([ledger.deposit("d", "acme", 500000, AT, ""), ledger.debit("x", "acme", 2000, AT, "")])
    entries[2] = dataclasses.replace(entries[2], amount=200)
    problems = verify_chain(entries)
    assert [p.seq for p in problems if p.seq is not None] == [3]
    assert "hash mismatch" in str(problems[0]) and "entry 3" in str(problems[0])
    assert any("does not balance" in str(p) for p in problems)


def test_verify_finds_a_removed_entry_and_a_broken_link():
    entries = _ledger([ledger.deposit("d", "acme", 500000, AT, ""), ledger.debit("x", "acme", 2000, AT, "")])
    problems = verify_chain(entries[:1] + entries[2:])
    assert any(p.seq == 3 and "gap" in p.what for p in problems)
    assert any(p.seq == 3 and "chain" in p.what for p in problems)


# --- properties -------------------------------------------------------------------------------

ops = st.lists(st.tuples(st.sampled_from(["deposit", "debit", "reverse"]),
                         st.sampled_from(["acme", "bulk.example", "z"]),
                         st.integers(min_value=1, max_value=10**9)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(ops)
def test_random_sequences_stay_balanced_and_exact(sequence):
    txns: list[Transaction] = []
    expected: dict[str, int] = {}
    debits: list[Transaction] = []
    for i, (op, sender, amount) in enumerate(sequence):
        at = AT + timedelta(seconds=i)
        if op == "deposit":
            t = ledger.deposit(f"d{i}", sender, amount, at, "")
        elif op == "debit":
            t = ledger.debit(f"b{i}", sender, amount, at, "")
            debits.append(t)
        elif debits:
            d = debits.pop(0)  # a dispute reverses an earlier debit, once
            t = ledger.reversal(f"r{i}", d.sender, d.amount, at, "")
        else:
            continue
        txns.append(t)
        expected[t.sender] = expected.get(t.sender, 0) + t.bond_delta()
    entries = _ledger(txns)
    # every transaction balanced; the whole ledger sums to zero
    for t in txns:
        assert sum(p.amount for p in t.postings) == 0
    assert sum(e.amount for e in entries) == 0
    # the balance is the sum of the entries, and what the operations say
    for sender, want in expected.items():
        assert bond_balance(sender, entries) == want
    # no float anywhere: every stored amount is an int
    assert all(type(e.amount) is int for e in entries)
    assert all(type(v) is int for v in ledger.balances(entries).values())
    assert verify_chain(entries) == []


@settings(max_examples=100, deadline=None)
@given(ops.filter(lambda s: len(s) > 0), st.data())
def test_any_changed_amount_is_found(sequence, data):
    txns = [ledger.deposit(f"d{i}", s, a, AT, "") for i, (_, s, a) in enumerate(sequence)]
    entries = _ledger(txns)
    k = data.draw(st.integers(min_value=0, max_value=len(entries) - 1))
    delta = data.draw(st.integers(min_value=1, max_value=10**6))
    entries[k] = dataclasses.replace(entries[k], amount=entries[k].amount + delta)
    problems = verify_chain(entries)
    assert problems and problems[0].seq == entries[k].seq


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=ledger.MAX_AMOUNT))
def test_format_and_parse_round_trip(minor):
    assert parse_amount(format_amount(minor)) == minor
