"""Bonded senders: enrolment and review, deposits, debits, disputes, what a sender sees.

    bond = Bond(db, BondConfig.from_section(settings.section("bond")))
    bond.enrol("acme", now, networks=["192.0.2.0/24"], domains=["acme.example"])
    bond.review("acme", "approve", "identity checked", actor, now)      approve|suspend|expel
    bond.deposit("acme", "5000.00", "wire-17", now)                     idempotent by reference
    bond.recompute(now)                                                  debits, then standing
    bond.dispute(account, transaction_id, "not ours", now)               the sender
    bond.decide_dispute(dispute_id, True, "forged", actor, now)           a reversal entry
    bond.me(account, now)                                                 GET /senders/me
    bond.listed(now)                                                      `wl.` entries

The rule is `policy.bond`, the books `policy.ledger`. Every write runs in one transaction and
is retried when it lost a race (`WriteConflict`): two processes debiting at once write each
debit once, because a debit's key is its (sender, report) and the loser re-reads what the
winner wrote. Statements (ledger text for hledger, CSV, JSON) and `verify` are in
`services/statement.py`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from mailrep.errors import BadInput, Conflict, NotAllowed, NotFound
from mailrep.policy import bond as rule
from mailrep.policy import ledger
from mailrep.policy.bond import BondConfig, Category, Hold, Status, Trust
from mailrep.roles import Role
from mailrep.services.blocklist import require_staff
from mailrep.store import accounts, audit
from mailrep.store import bond as store
from mailrep.store.accounts import Account
from mailrep.store.db import Database, WriteConflict

T = TypeVar("T")
RETRIES = 8
REVIEW_ACTIONS = {"approve": Status.APPROVED, "suspend": Status.SUSPENDED, "expel": Status.EXPELLED}


def _reason(text: str) -> str:
    why = " ".join(text.split())
    if not why:
        raise BadInput("a reason is required")
    return why[:2000]


def _networks(items: Sequence[str]) -> list[str]:
    out = []
    for item in items:
        try:
            out.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError as e:
            raise BadInput(f"not a network: {item!r}") from e
    return out


def _domains(items: Sequence[str]) -> list[str]:
    out = []
    for item in items:
        d = item.strip().rstrip(".").lower()
        if not d or "." not in d or len(d) > 253 or any(not p or len(p) > 63 for p in d.split(".")):
            raise BadInput(f"not a domain: {item!r}")
        out.append(d)
    return out


@dataclass(frozen=True, slots=True)
class Listed:
    network: str
    a: str
    txt: str


class Bond:
    def __init__(self, db: Database, config: BondConfig) -> None:
        self.db = db
        self.config = config

    def _write(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` in a write transaction, again when it lost a race with another writer."""
        for attempt in range(RETRIES):
            try:
                with self.db.transaction() as conn:
                    return fn(conn)
            except WriteConflict:
                if attempt == RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    # --- enrolment and review -----------------------------------------------------------------

    def enrol(self, name: str, now: datetime, *, networks: Sequence[str] = (), domains: Sequence[str] = (),
              category: str | int = Category.MARKETING, trust: int = Trust.LOW) -> dict[str, Any]:
        """A new sender (pending review) with its infrastructure; its account has role `sender`."""
        name = rule.check_name(name)
        cat, tr = rule.Category.parse(category), Trust(trust) if 0 <= trust <= 3 else None
        if tr is None:
            raise BadInput("trust is 0..3")
        nets, doms = _networks(networks), _domains(domains)
        if not nets and not doms:
            raise BadInput("a sender needs at least one network or domain")

        def go(conn: Connection) -> dict[str, Any]:
            acc = accounts.ensure_account(conn, name, Role.SENDER, now)
            store.create_sender(conn, acc.id, category=cat, trust=tr, now=now)
            store.add_infrastructure(conn, acc.id, nets, doms)
            return self._view(conn, store.get_sender(conn, acc.id), now)

        return self._write(go)

    def review(self, name: str, action: str, reason: str, actor: Account, now: datetime) -> dict[str, Any]:
        """A deputy's decision: approve (after checking identity and practices), suspend, expel."""
        why = _reason(reason)
        require_staff(actor, "review senders")
        status = REVIEW_ACTIONS.get(action)
        if status is None:
            raise BadInput(f"unknown action {action!r} (one of {', '.join(REVIEW_ACTIONS)})")

        def go(conn: Connection) -> dict[str, Any]:
            s = store.get_sender(conn, name, for_update=True)
            if s.status == Status.EXPELLED and status is not Status.EXPELLED:
                raise Conflict(f"sender {s.name} was expelled")
            hold = Hold.DEPUTY.value if status is Status.SUSPENDED else None
            store.set_status(conn, s, status.value, hold, why, actor.role, now, reviewed=True)
            audit.record(conn, at=now, actor_account_id=actor.id, action=f"sender.{action}", target=s.name,
                         reason=why, detail={"status": [s.status, status.value]})
            self._settle(conn, store.get_sender(conn, s.id), now)
            return self._view(conn, store.get_sender(conn, s.id), now)

        return self._write(go)

    def get(self, name: str, now: datetime) -> dict[str, Any]:
        with self.db.read() as conn:
            return self._view(conn, store.get_sender(conn, name), now)

    def list(self, now: datetime) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return [self._view(conn, s, now, brief=True) for s in store.list_senders(conn)]

    # --- money --------------------------------------------------------------------------------

    def deposit(self, name: str, amount: str, reference: str, now: datetime) -> dict[str, Any]:
        """Credit the bond; a retry with the same reference counts once (Conflict if its amount
        differs). A deposit that restores the minimum brings a policy suspension back."""
        minor = ledger.parse_amount(amount)
        ref = reference.strip()
        if not ref or len(ref) > 120:
            raise BadInput("a deposit needs a reference (1 to 120 characters)")

        def go(conn: Connection) -> dict[str, Any]:
            s = store.get_sender(conn, name, for_update=True)
            if s.status == Status.EXPELLED:
                raise Conflict(f"sender {s.name} was expelled")
            key = ledger.deposit_key(s.id, ref)
            old = store.find_transaction(conn, key)
            if old is not None:
                if old.amount != minor:
                    raise Conflict(f"reference {ref!r} was used for a deposit of {ledger.format_amount(old.amount)}")
                return {"transaction": old.id, "duplicate": True, "balance": ledger.format_amount(s.balance)}
            txn = ledger.deposit(key, s.name, minor, now, f"deposit {ref}")
            stored = store.append(conn, txn, s.id, self.config.currency, reference=ref)
            self._settle(conn, store.get_sender(conn, s.id), now)
            after = store.get_sender(conn, s.id)
            return {"transaction": stored.id, "duplicate": False, "balance": ledger.format_amount(after.balance),
                    "status": after.status}

        return self._write(go)

    def recompute(self, now: datetime, names: Sequence[str] | None = None) -> dict[str, Any]:
        """Debit every complaint beyond the allowance not debited yet, then settle each
        sender's standing. Running it again (or twice at once) debits nothing more."""
        with self.db.read() as conn:
            targets = [s.name for s in store.list_senders(conn) if s.status != Status.EXPELLED
                       and (names is None or s.name in names)]
        out: dict[str, Any] = {}
        for name in targets:
            out[name] = self._write(lambda conn, n=name: self._recompute_one(conn, n, now))  # type: ignore[misc]
        return out

    def _recompute_one(self, conn: Connection, name: str, now: datetime) -> dict[str, Any]:
        s = store.get_sender(conn, name, for_update=True)
        cfg = self.config
        plan = rule.plan_debits(store.complaints(conn, s, now, cfg.window_days),
                                store.sent_volume(conn, s, now, cfg.window_days),
                                store.debited_reports(conn, s.id), cfg)
        for rid in plan.new:
            txn = ledger.debit(ledger.debit_key(s.id, rid), s.name, cfg.debit_per_complaint, now,
                               f"complaint report {rid} beyond the allowance of {plan.allowance} "
                               f"on {plan.volume} messages")
            store.append(conn, txn, s.id, cfg.currency, report_id=rid)
        self._settle(conn, store.get_sender(conn, s.id), now)
        after = store.get_sender(conn, s.id)
        return {"complaints": plan.complaints, "volume": plan.volume, "allowance": plan.allowance,
                "debited_now": list(plan.new), "balance": ledger.format_amount(after.balance),
                "status": after.status}

    def _settle(self, conn: Connection, s: store.Sender, now: datetime) -> None:
        """Apply the standing rule (balance, trap hits since the window or the last review)."""
        since = now - timedelta(days=self.config.window_days)
        if s.reviewed_at is not None and s.reviewed_at > since:
            since = s.reviewed_at
        st = rule.standing(s.status, s.hold, s.balance, store.trap_count(conn, s, since), self.config)
        if (st.status.value, st.hold.value if st.hold else None) != (s.status, s.hold):
            store.set_status(conn, s, st.status.value, st.hold.value if st.hold else None, st.reason, "policy", now)

    # --- disputes -----------------------------------------------------------------------------

    def dispute(self, account: Account, transaction_id: int, reason: str, now: datetime) -> dict[str, Any]:
        """The sender disputes one of its debits, with a reason."""
        why = _reason(reason)

        def go(conn: Connection) -> dict[str, Any]:
            s = store.get_sender(conn, account.id)
            txn = store.get_transaction(conn, transaction_id)
            if txn.sender_id != s.id or txn.kind != ledger.Kind.DEBIT:
                raise NotFound(f"no debit {transaction_id} of sender {s.name}")
            return _dispute_view(store.get_dispute(conn, store.create_dispute(conn, s.id, txn.id, why, now)))

        return self._write(go)

    def disputes(self, status: str | None = "pending") -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return [_dispute_view(d) for d in store.disputes(conn, status=status)]

    def decide_dispute(self, dispute_id: int, approve: bool, reason: str, actor: Account,
                       now: datetime) -> dict[str, Any]:
        """Approve (reverse the debit: a new ledger entry) or deny (uphold it), with a reason."""
        why = _reason(reason)
        require_staff(actor, "decide disputes")

        def go(conn: Connection) -> dict[str, Any]:
            d = store.get_dispute(conn, dispute_id)
            store.decide_dispute(conn, dispute_id, "approved" if approve else "denied", why, actor.id, now)
            if approve:
                debit = store.get_transaction(conn, d["transaction_id"])
                s = store.get_sender(conn, debit.sender_id, for_update=True)
                txn = ledger.reversal(ledger.reversal_key(dispute_id), s.name, debit.amount, now,
                                      f"dispute {dispute_id} upheld the sender: reverses transaction {debit.id}")
                store.append(conn, txn, s.id, debit.currency, report_id=debit.report_id, dispute_id=dispute_id)
                self._settle(conn, store.get_sender(conn, s.id), now)
            audit.record(conn, at=now, actor_account_id=actor.id, action="bond.dispute." +
                         ("approve" if approve else "deny"), target=str(dispute_id), reason=why)
            return _dispute_view(store.get_dispute(conn, dispute_id))

        return self._write(go)

    # --- views --------------------------------------------------------------------------------

    def balance(self, name: str) -> str:
        with self.db.read() as conn:
            return ledger.format_amount(store.get_sender(conn, name).balance)

    def me(self, account: Account, now: datetime) -> dict[str, Any]:
        """What `GET /api/v1/senders/me` shows: balance, the window's complaint rate and
        allowance, debits with their (redacted) reports, disputes, allowlist status."""
        with self.db.read() as conn:
            try:
                s = store.get_sender(conn, account.id)
            except NotFound:
                raise NotAllowed("this account has no sender profile") from None
            return self._view(conn, s, now, detail=True)

    def _view(self, conn: Connection, s: store.Sender, now: datetime, *, brief: bool = False,
              detail: bool = False) -> dict[str, Any]:
        cfg = self.config
        view: dict[str, Any] = {
            "name": s.name, "status": s.status, "hold": s.hold, "category": Category(s.category).name.lower(),
            "trust": s.trust, "balance": ledger.format_amount(s.balance), "currency": cfg.currency,
            "minimum_balance": ledger.format_amount(cfg.minimum_balance),
            "allowlisted": rule.on_allowlist(s.status, s.balance, cfg),
            "networks": list(s.networks), "domains": list(s.domains),
        }
        if brief:
            return view
        complaints = store.complaints(conn, s, now, cfg.window_days)
        vol = store.sent_volume(conn, s, now, cfg.window_days)
        rate = rule.complaint_rate(len(complaints), vol)
        view["window"] = {"days": cfg.window_days, "volume": vol, "complaints": len(complaints),
                          "complaint_rate": str(rate) if rate is not None else None,
                          "threshold": str(cfg.complaint_rate_threshold), "allowance": rule.allowance(vol, cfg),
                          "min_complaints": cfg.min_complaints}
        view["history"] = [{**e, "at": e["at"].isoformat()} for e in store.history(conn, s.id)]
        if detail:
            txns = store.transactions(conn, s.id)
            debits = [t for t in txns if t.kind == ledger.Kind.DEBIT]
            reports = store.report_views(conn, [t.report_id for t in debits if t.report_id is not None])
            disputed = {d["transaction_id"]: d for d in store.disputes(conn, sender_id=s.id)}
            view["debits"] = [{"transaction": t.id, "at": t.at.isoformat(), "amount": ledger.format_amount(t.amount),
                               "report": _iso(reports.get(t.report_id or 0)),
                               "dispute": _dispute_view(disputed[t.id]) if t.id in disputed else None}
                              for t in debits]
            view["disputes"] = [_dispute_view(d) for d in disputed.values()]
            view["transactions"] = [{"transaction": t.id, "kind": t.kind, "at": t.at.isoformat(),
                                     "amount": ledger.format_amount(t.amount), "memo": t.memo} for t in txns]
        return view

    def listed(self, now: datetime) -> list[Listed]:
        """The `wl.` zone: every network of every approved, funded sender."""
        with self.db.read() as conn:
            return [Listed(net, rule.wl_a(s.category, s.trust), rule.wl_txt(s.name, self.config))
                    for s in store.list_senders(conn, [Status.APPROVED.value])
                    if rule.on_allowlist(s.status, s.balance, self.config) for net in s.networks]

    def change_marker(self) -> int:
        with self.db.read() as conn:
            return store.change_marker(conn)


def _iso(d: dict[str, Any] | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in d.items()}


def _dispute_view(d: dict[str, Any]) -> dict[str, Any]:
    return {"id": d["id"], "transaction": d["transaction_id"], "status": d["status"], "reason": d["reason"],
            "created_at": d["created_at"].isoformat(),
            "decided_at": d["decided_at"].isoformat() if d["decided_at"] else None,
            "decision_reason": d["decision_reason"], **({"sender": d["sender"]} if "sender" in d else {})}
