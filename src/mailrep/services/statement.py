"""The bond ledger read back: statements a sender or an auditor can check, and `verify`.

    statement(db, "acme", fmt="ledger", since=None, until=None)   hledger journal text
    statement(db, "acme", fmt="csv")                              one row per posting
    statement(db, "acme", fmt="json")                             transactions with postings
    verify(db).problems                                            [] or the problems, by entry

The ledger format is hledger's journal (plain-text accounting): one transaction per block,
`DATE * DESCRIPTION  ; key`, then its postings with the amount and the currency. A statement
that starts after the first transaction opens with the balance carried forward
(`equity:opening`), so `hledger -f statement.ledger balance` shows the sender's balance as of
the statement's end: `liabilities:bonds:<sender>` at minus the bond (the program owes it).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime

from mailrep.errors import BadInput
from mailrep.policy import ledger
from mailrep.store import bond as store
from mailrep.store.db import Database

FORMATS = ("ledger", "csv", "json")
OPENING = "equity:opening"


def _day(at: datetime) -> str:
    return at.date().isoformat()


def statement(db: Database, name: str, *, fmt: str = "ledger", since: datetime | None = None,
              until: datetime | None = None) -> str:
    if fmt not in FORMATS:
        raise BadInput(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    with db.read() as conn:
        s = store.get_sender(conn, name)
        txns = store.transactions(conn, s.id, until=until)
        posts = store.postings(conn, [t.id for t in txns])
    before = [t for t in txns if since is not None and t.at < since]
    shown = [t for t in txns if since is None or t.at >= since]
    bond = ledger.bond_account(s.name)
    opening = -sum(a for t in before for acct, a in posts[t.id] if acct == bond)  # the bond carried in
    closing = opening + sum(-a for t in shown for acct, a in posts[t.id] if acct == bond)
    cur = shown[0].currency if shown else (before[0].currency if before else "USD")
    if fmt == "json":
        return json.dumps({
            "sender": s.name, "currency": cur, "from": since.isoformat() if since else None,
            "to": until.isoformat() if until else None, "opening_balance": ledger.format_amount(opening),
            "closing_balance": ledger.format_amount(closing),
            "transactions": [{"id": t.id, "at": t.at.isoformat(), "kind": t.kind, "key": t.key, "memo": t.memo,
                              "reference": t.reference, "report": t.report_id, "dispute": t.dispute_id,
                              "postings": [{"account": acct, "amount": ledger.format_amount(a)}
                                           for acct, a in posts[t.id]]} for t in shown],
        }, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["date", "transaction", "kind", "key", "account", "amount", "currency", "memo"])
        for t in shown:
            for acct, a in posts[t.id]:
                w.writerow([t.at.isoformat(), t.id, t.kind, t.key, acct, ledger.format_amount(a), t.currency, t.memo])
        return buf.getvalue()
    lines = [f"; bond statement of {s.name} ({cur}), minor units exact; balance = -({bond})", ""]
    if opening:
        day = _day(since) if since is not None else _day(before[-1].at)
        lines += [f"{day} * balance carried forward",
                  f"    {OPENING}    {ledger.format_amount(opening)} {cur}",
                  f"    {bond}    {ledger.format_amount(-opening)} {cur}", ""]
    for t in shown:
        memo = " ".join(t.memo.replace(";", ",").split())
        lines.append(f"{_day(t.at)} * {t.kind} {t.id}: {memo}  ; key: {t.key}")
        lines += [f"    {acct}    {ledger.format_amount(a)} {t.currency}" for acct, a in posts[t.id]]
        lines.append("")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Verification:
    entries: int
    senders: int
    problems: list[str]


def verify(db: Database) -> Verification:
    """Recompute the hash chain, every transaction's total and every sender's balance from
    the entries; each problem names the entry (or transaction, or sender) at fault."""
    entries: list[ledger.Entry] = []
    totals: dict[int, tuple[store.Stored, int]] = {}
    with db.read() as conn:
        for e, t in store.iter_entries(conn):
            entries.append(e)
            totals[t.id] = (t, totals.get(t.id, (t, 0))[1] + max(e.amount, 0))
        stored = store.stored_balances(conn)
    problems = [str(p) for p in ledger.verify_chain(entries)]
    problems += [f"transaction {t.id} ({t.key}): stored amount {ledger.format_amount(t.amount)}, entries say "
                 f"{ledger.format_amount(total)}" for t, total in totals.values() if t.amount != total]
    for name, balance in stored.items():
        computed = ledger.bond_balance(name, entries)
        if computed != balance:
            problems.append(f"sender {name}: stored balance {ledger.format_amount(balance)}, entries say "
                            f"{ledger.format_amount(computed)}")
    return Verification(len(entries), len(stored), problems)
