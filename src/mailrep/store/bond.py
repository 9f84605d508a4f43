"""Bonded senders, their ledger and disputes, and the evidence the bond policy reads.

Every function takes an open `Connection` (inside `Database.transaction()` or `.read()`);
none commits. The ledger is append-only here: `append` writes a transaction, its entries
(numbered after the last one and hash-chained to it) and the sender's new balance; nothing
updates or deletes a ledger row. A second append with the same key, or two writers taking the
same entry number, fail on a unique key: `WriteConflict` from `Database`, safe to run again.

Networks are matched in Python (`mailrep.policy.ranges.in_networks`): the evidence queries
read the reports' narrow evidence index (source, time, counted, state) of the whole window
once, and the trace only of reports whose stored trace mentions one of the domains.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailrep.errors import Conflict, NotFound
from mailrep.policy.bond import Complaint, domain_matches, trace_domains
from mailrep.policy.ledger import GENESIS, Entry, Transaction, chain
from mailrep.store.tables import (
    accounts,
    bond_disputes,
    ledger_entries,
    ledger_transactions,
    reporters,
    reports,
    sender_domains,
    sender_events,
    sender_networks,
    senders,
    trap_hits,
    volume,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Sender:
    id: int  # its account id
    name: str
    status: str
    hold: str | None
    category: int
    trust: int
    balance: int
    reviewed_at: datetime | None
    created_at: datetime
    networks: tuple[str, ...]
    domains: tuple[str, ...]

    def nets(self) -> list[Network]:
        return [ipaddress.ip_network(n) for n in self.networks]


# --- senders ----------------------------------------------------------------------------------


def _sender_query() -> sa.Select[Any]:
    return sa.select(senders, accounts.c.name).join(accounts, accounts.c.id == senders.c.account_id)


def _senders(conn: Connection, rows: Sequence[sa.Row[Any]]) -> list[Sender]:
    ids = [r.account_id for r in rows]
    nets: dict[int, list[str]] = {i: [] for i in ids}
    doms: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for sid, net in conn.execute(sa.select(sender_networks.c.sender_id, sender_networks.c.network)
                                     .where(sender_networks.c.sender_id.in_(ids)).order_by(sender_networks.c.id)):
            nets[sid].append(net)
        for sid, dom in conn.execute(sa.select(sender_domains.c.sender_id, sender_domains.c.domain)
                                     .where(sender_domains.c.sender_id.in_(ids)).order_by(sender_domains.c.id)):
            doms[sid].append(dom)
    return [Sender(r.account_id, r.name, r.status, r.hold, r.category, r.trust, int(r.balance), r.reviewed_at,
                   r.created_at, tuple(nets[r.account_id]), tuple(doms[r.account_id])) for r in rows]


def get_sender(conn: Connection, name_or_id: str | int, *, for_update: bool = False) -> Sender:
    col = senders.c.account_id if isinstance(name_or_id, int) else accounts.c.name
    q = _sender_query().where(col == name_or_id)
    if for_update and conn.dialect.name == "postgresql":
        q = q.with_for_update(of=senders)
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(f"no sender {name_or_id!r}")
    return _senders(conn, [row])[0]


def list_senders(conn: Connection, statuses: Iterable[str] | None = None) -> list[Sender]:
    q = _sender_query().order_by(accounts.c.name)
    if statuses is not None:
        q = q.where(senders.c.status.in_(list(statuses)))
    return _senders(conn, conn.execute(q).all())


def create_sender(conn: Connection, account_id: int, *, category: int, trust: int, now: datetime) -> None:
    if conn.execute(sa.select(senders.c.account_id).where(senders.c.account_id == account_id)).first():
        raise Conflict("this account is a sender already")
    conn.execute(senders.insert().values(account_id=account_id, status="pending", hold=None, category=category,
                                         trust=trust, balance=0, created_at=now, updated_at=now))


def add_infrastructure(conn: Connection, sender_id: int, networks: Sequence[str], domains: Sequence[str]) -> None:
    """Add networks (canonical CIDR text) and domains; Conflict when another sender holds one."""
    for table, col, values in ((sender_networks, sender_networks.c.network, networks),
                               (sender_domains, sender_domains.c.domain, domains)):
        for v in values:
            owner = conn.execute(sa.select(table.c.sender_id).where(col == v)).scalar()
            if owner is not None and owner != sender_id:
                raise Conflict(f"{v} belongs to another sender")
            if owner is None:
                conn.execute(table.insert().values({"sender_id": sender_id, col.name: v}))


def set_status(conn: Connection, sender: Sender, status: str, hold: str | None, reason: str, actor_role: str,
               now: datetime, *, reviewed: bool = False) -> None:
    """Change a sender's status (and who holds a suspension); the change is kept in its history."""
    values: dict[str, Any] = {"status": status, "hold": hold, "updated_at": now}
    if reviewed:
        values["reviewed_at"] = now
    conn.execute(senders.update().where(senders.c.account_id == sender.id).values(**values))
    conn.execute(sender_events.insert().values(sender_id=sender.id, at=now, old_status=sender.status,
                                               new_status=status, reason=reason, actor_role=actor_role))


def history(conn: Connection, sender_id: int) -> list[dict[str, Any]]:
    q = (sa.select(sender_events.c.at, sender_events.c.old_status, sender_events.c.new_status,
                   sender_events.c.reason, sender_events.c.actor_role)
         .where(sender_events.c.sender_id == sender_id).order_by(sender_events.c.id))
    return [dict(r) for r in conn.execute(q).mappings()]


def change_marker(conn: Connection) -> int:
    """Grows with every status change and every ledger entry (what `wl.` depends on)."""
    events = conn.execute(sa.select(sa.func.coalesce(sa.func.max(sender_events.c.id), 0))).scalar_one()
    entries = conn.execute(sa.select(sa.func.coalesce(sa.func.max(ledger_entries.c.seq), 0))).scalar_one()
    return int(events) + int(entries)


# --- the ledger -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored ledger transaction."""

    id: int
    key: str
    kind: str
    sender_id: int
    at: datetime
    amount: int
    currency: str
    memo: str
    reference: str | None
    report_id: int | None
    dispute_id: int | None


def _stored(r: sa.Row[Any]) -> Stored:
    return Stored(r.id, r.key, r.kind, r.sender_id, r.at, int(r.amount), r.currency, r.memo, r.reference,
                  r.report_id, r.dispute_id)


def find_transaction(conn: Connection, key: str) -> Stored | None:
    row = conn.execute(sa.select(ledger_transactions).where(ledger_transactions.c.key == key)).first()
    return _stored(row) if row is not None else None


def get_transaction(conn: Connection, txn_id: int) -> Stored:
    row = conn.execute(sa.select(ledger_transactions).where(ledger_transactions.c.id == txn_id)).first()
    if row is None:
        raise NotFound(f"no ledger transaction {txn_id}")
    return _stored(row)


def append(conn: Connection, txn: Transaction, sender_id: int, currency: str, *, reference: str | None = None,
           report_id: int | None = None, dispute_id: int | None = None) -> Stored:
    """Write `txn` (balanced by construction) after the last entry, and the sender's balance."""
    last = conn.execute(sa.select(ledger_entries.c.seq, ledger_entries.c.hash)
                        .order_by(ledger_entries.c.seq.desc()).limit(1)).first()
    seq, prev = (int(last.seq) + 1, last.hash) if last is not None else (1, GENESIS)
    key = conn.execute(ledger_transactions.insert().values(
        key=txn.key, kind=txn.kind.value, sender_id=sender_id, at=txn.at, amount=txn.amount, currency=currency,
        memo=txn.memo, reference=reference, report_id=report_id, dispute_id=dispute_id)).inserted_primary_key
    assert key is not None
    txn_id = int(key[0])
    conn.execute(ledger_entries.insert(), [
        {"seq": e.seq, "transaction_id": txn_id, "account": e.account, "amount": e.amount,
         "prev_hash": e.prev_hash, "hash": e.hash} for e in chain(prev, seq, txn)])
    conn.execute(senders.update().where(senders.c.account_id == sender_id)
                 .values(balance=senders.c.balance + txn.bond_delta()))
    return Stored(txn_id, txn.key, txn.kind.value, sender_id, txn.at, txn.amount, currency, txn.memo, reference,
                  report_id, dispute_id)


def transactions(conn: Connection, sender_id: int | None = None, *, since: datetime | None = None,
                 until: datetime | None = None, kind: str | None = None) -> list[Stored]:
    q = sa.select(ledger_transactions).order_by(ledger_transactions.c.id)
    if sender_id is not None:
        q = q.where(ledger_transactions.c.sender_id == sender_id)
    if since is not None:
        q = q.where(ledger_transactions.c.at >= since)
    if until is not None:
        q = q.where(ledger_transactions.c.at < until)
    if kind is not None:
        q = q.where(ledger_transactions.c.kind == kind)
    return [_stored(r) for r in conn.execute(q)]


def postings(conn: Connection, txn_ids: Sequence[int]) -> dict[int, list[tuple[str, int]]]:
    """(account, amount) per transaction id, in entry order."""
    out: dict[int, list[tuple[str, int]]] = {i: [] for i in txn_ids}
    for i in range(0, len(txn_ids), 500):
        q = (sa.select(ledger_entries.c.transaction_id, ledger_entries.c.account, ledger_entries.c.amount)
             .where(ledger_entries.c.transaction_id.in_(txn_ids[i:i + 500])).order_by(ledger_entries.c.seq))
        for tid, account, amount in conn.execute(q):
            out[tid].append((account, int(amount)))
    return out


def iter_entries(conn: Connection) -> Iterator[tuple[Entry, Stored]]:
    """Every entry in order, as the chain sees it, with its stored transaction."""
    q = (sa.select(ledger_entries, ledger_transactions.c.id.label("tid"), ledger_transactions.c.key,
                   ledger_transactions.c.kind, ledger_transactions.c.sender_id, ledger_transactions.c.at,
                   ledger_transactions.c.amount.label("txn_amount"), ledger_transactions.c.currency,
                   ledger_transactions.c.memo, ledger_transactions.c.reference, ledger_transactions.c.report_id,
                   ledger_transactions.c.dispute_id)
         .join(ledger_transactions, ledger_transactions.c.id == ledger_entries.c.transaction_id)
         .order_by(ledger_entries.c.seq).execution_options(yield_per=5000))
    for r in conn.execute(q):
        yield (Entry(int(r.seq), r.key, r.kind, r.at, r.account, int(r.amount), r.prev_hash, r.hash),
               Stored(r.tid, r.key, r.kind, r.sender_id, r.at, int(r.txn_amount), r.currency, r.memo, r.reference,
                      r.report_id, r.dispute_id))


def debited_reports(conn: Connection, sender_id: int) -> set[int]:
    q = sa.select(ledger_transactions.c.report_id).where(
        ledger_transactions.c.sender_id == sender_id, ledger_transactions.c.kind == "debit")
    return {int(r) for r in conn.execute(q).scalars() if r is not None}


def stored_balances(conn: Connection) -> dict[str, int]:
    q = sa.select(accounts.c.name, senders.c.balance).join(accounts, accounts.c.id == senders.c.account_id)
    return {name: int(b) for name, b in conn.execute(q)}


# --- disputes ---------------------------------------------------------------------------------


def create_dispute(conn: Connection, sender_id: int, txn_id: int, reason: str, now: datetime) -> int:
    if conn.execute(sa.select(bond_disputes.c.id).where(bond_disputes.c.transaction_id == txn_id)).first():
        raise Conflict("this debit has been disputed already")
    key = conn.execute(bond_disputes.insert().values(sender_id=sender_id, transaction_id=txn_id, reason=reason,
                                                     status="pending", created_at=now)).inserted_primary_key
    assert key is not None
    return int(key[0])


def get_dispute(conn: Connection, dispute_id: int) -> dict[str, Any]:
    row = conn.execute(sa.select(bond_disputes).where(bond_disputes.c.id == dispute_id)).mappings().first()
    if row is None:
        raise NotFound(f"no dispute {dispute_id}")
    return dict(row)


def disputes(conn: Connection, *, sender_id: int | None = None, status: str | None = None) -> list[dict[str, Any]]:
    q = sa.select(bond_disputes, accounts.c.name.label("sender")).join(
        accounts, accounts.c.id == bond_disputes.c.sender_id).order_by(bond_disputes.c.id)
    if sender_id is not None:
        q = q.where(bond_disputes.c.sender_id == sender_id)
    if status is not None:
        q = q.where(bond_disputes.c.status == status)
    return [dict(r) for r in conn.execute(q).mappings()]


def decide_dispute(conn: Connection, dispute_id: int, status: str, reason: str, actor_id: int, now: datetime) -> None:
    n = conn.execute(bond_disputes.update().where(bond_disputes.c.id == dispute_id,
                                                  bond_disputes.c.status == "pending")
                     .values(status=status, decided_at=now, decided_by=actor_id, decision_reason=reason)).rowcount
    if n != 1:
        raise Conflict(f"dispute {dispute_id} has been decided already")


# --- evidence ---------------------------------------------------------------------------------


def _in(ip: str | None, nets: Sequence[Network]) -> bool:
    if not ip:
        return False
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr.version == n.version and addr in n for n in nets)


def complaints(conn: Connection, sender: Sender, now: datetime, window_days: int) -> list[Complaint]:
    """Counted, unparked reports in the window traced to the sender's networks or, by the
    source's rDNS, its domains (a reporter's own relays never count, as for the blocklist)."""
    since = now - timedelta(days=window_days)
    nets = sender.nets()
    base = (sa.select(reports.c.id, reports.c.received_at, reports.c.source_ip)
            .select_from(reports.outerjoin(reporters, reporters.c.account_id == reports.c.reporter_id))
            .where(reports.c.received_at > since, reports.c.received_at <= now, reports.c.counted.is_(True),
                   reports.c.state != "parked", reports.c.source_ip.is_not(None),
                   sa.or_(reports.c.reporter_id.is_(None), reporters.c.status == "active",
                          reporters.c.account_id.is_(None))))
    found: dict[int, Complaint] = {}
    if nets:
        for rid, at, ip in conn.execute(base.execution_options(yield_per=10_000)):
            if _in(ip, nets):
                found[rid] = Complaint(at, rid)
    if sender.domains:
        text = sa.cast(reports.c.trace_json, sa.Text)
        q = base.add_columns(reports.c.trace_json).where(sa.or_(*(text.contains(d) for d in sender.domains)))
        for rid, at, _ip, trace in conn.execute(q):
            if rid not in found and any(domain_matches(n, sender.domains) for n in trace_domains(trace or {})):
                found[rid] = Complaint(at, rid)
    return sorted(found.values())


def sent_volume(conn: Connection, sender: Sender, now: datetime, window_days: int) -> int:
    """Accepted messages (telemetry volume rows) from the sender's networks in the window."""
    since = now - timedelta(days=window_days)
    nets = sender.nets()
    q = (sa.select(volume.c.ip, sa.func.sum(volume.c.count)).where(volume.c.period_end > since)
         .group_by(volume.c.ip))
    return sum(int(n or 0) for ip, n in conn.execute(q) if _in(ip, nets))


def trap_count(conn: Connection, sender: Sender, since: datetime) -> int:
    nets = sender.nets()
    q = sa.select(trap_hits.c.source_ip).where(trap_hits.c.received_at > since, trap_hits.c.counted.is_(True),
                                               trap_hits.c.source_ip.is_not(None))
    return sum(1 for ip in conn.execute(q).scalars() if _in(ip, nets))


def report_views(conn: Connection, report_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """What a sender sees of the reports behind its debits, redacted as the public lookup is:
    when, which address, which channel and reporter kind; never who reported or the message."""
    out: dict[int, dict[str, Any]] = {}
    for i in range(0, len(report_ids), 500):
        q = (sa.select(reports.c.id, reports.c.received_at, reports.c.source_ip, reports.c.channel,
                       sa.func.coalesce(reporters.c.kind, "simp").label("kind"))
             .select_from(reports.outerjoin(reporters, reporters.c.account_id == reports.c.reporter_id))
             .where(reports.c.id.in_(report_ids[i:i + 500])))
        for r in conn.execute(q):
            out[r.id] = {"report": r.id, "received_at": r.received_at, "source_ip": r.source_ip,
                         "channel": r.channel, "reporter_kind": r.kind}
    return out
