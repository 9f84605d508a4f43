"""The bond ledger as data: money in integer minor units, balanced double-entry transactions,
and the hash chain that makes the stored entries tamper-evident. Pure.

    cents = parse_amount("20.00")                 2000   (Decimal on the way in, never float)
    format_amount(494000) == "4940.00"
    txn = deposit("acme", "wire-17", 500000, at)  postings: escrow +5000.00, bond:acme -5000.00
    chained = chain(previous_hash, seq, txn, posting)   sha256 over the canonical entry text

The books are the program's (hledger's sign convention: debits positive, credits negative):

    deposit    assets:escrow            +amount     liabilities:bonds:<sender>  -amount
    debit      liabilities:bonds:<s>    +amount     income:complaints           -amount
    reversal   income:complaints        +amount     liabilities:bonds:<s>       -amount

so a sender's bond balance is minus the balance of its `liabilities:bonds:<sender>` account
(what the program owes it). Every transaction's postings sum to zero (`Unbalanced`
otherwise); a reversal is a new transaction, never an edit. Each stored entry carries
`hash = sha256(prev_hash | seq | transaction key | kind | at | account | amount)`, so changing
any stored amount breaks the chain at that entry (`verify_chain` names it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from mailrep.errors import BadInput, MailrepError

ESCROW = "assets:escrow"
FORFEITS = "income:complaints"
BONDS = "liabilities:bonds"
GENESIS = "0" * 64
MINOR_DIGITS = 2  # cents: every currency the program takes has two decimals
MAX_AMOUNT = 10**15  # minor units per transaction (ten trillion in major units)


class Kind(StrEnum):
    DEPOSIT = "deposit"
    DEBIT = "debit"
    REVERSAL = "reversal"


class Unbalanced(MailrepError):
    """A transaction's postings do not sum to zero."""

    code = "unbalanced"


def parse_amount(text: str | int | Decimal) -> int:
    """A positive amount in major units ("20.00", "20", Decimal) -> minor units; BadInput for
    a float, a negative or zero amount, more than two decimals, or garbage."""
    if isinstance(text, bool | float):
        raise BadInput("amounts are decimal text, never floating point")
    try:
        d = Decimal(str(text).strip())
        minor = d.scaleb(MINOR_DIGITS)
        exact = d.is_finite() and minor == minor.to_integral_value()
    except (InvalidOperation, ValueError) as e:
        raise BadInput(f"not an amount: {text!r}") from e
    if not exact:
        raise BadInput(f"not an amount with at most {MINOR_DIGITS} decimals: {text!r}")
    if minor <= 0 or minor > MAX_AMOUNT:
        raise BadInput(f"an amount must be positive and at most {MAX_AMOUNT // 10**MINOR_DIGITS}: {text!r}")
    return int(minor)


def format_amount(minor: int) -> str:
    """Minor units -> "-12.34" (exact)."""
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(int(minor)), 10**MINOR_DIGITS)
    return f"{sign}{whole}.{frac:0{MINOR_DIGITS}d}"


def bond_account(sender: str) -> str:
    return f"{BONDS}:{sender}"


@dataclass(frozen=True, slots=True)
class Posting:
    account: str
    amount: int  # minor units; debit positive, credit negative


@dataclass(frozen=True, slots=True)
class Transaction:
    key: str  # the idempotency key, unique in the ledger
    kind: Kind
    sender: str
    at: datetime
    memo: str
    postings: tuple[Posting, ...]

    def __post_init__(self) -> None:
        if any(type(p.amount) is not int for p in self.postings):
            raise Unbalanced(f"transaction {self.key}: amounts must be integer minor units")
        if len(self.postings) < 2 or sum(p.amount for p in self.postings) != 0:
            raise Unbalanced(f"transaction {self.key} does not balance")

    @property
    def amount(self) -> int:
        """The transaction's size (the sum of its debits)."""
        return sum(p.amount for p in self.postings if p.amount > 0)

    def bond_delta(self) -> int:
        """How the sender's bond balance moves: minus the postings to its bond account."""
        acct = bond_account(self.sender)
        return -sum(p.amount for p in self.postings if p.account == acct)


def _transaction(key: str, kind: Kind, sender: str, at: datetime, memo: str,
                 debit: str, credit: str, amount: int) -> Transaction:
    if type(amount) is not int or amount <= 0:
        raise BadInput("a transaction amount is a positive integer of minor units")
    return Transaction(key, kind, sender, at, memo, (Posting(debit, amount), Posting(credit, -amount)))


def deposit_key(sender_id: int, reference: str) -> str:
    return f"deposit:{sender_id}:{reference}"


def debit_key(sender_id: int, report_id: int) -> str:
    return f"debit:{sender_id}:{report_id}"


def reversal_key(dispute_id: int) -> str:
    return f"reversal:{dispute_id}"


def deposit(key: str, sender: str, amount: int, at: datetime, memo: str) -> Transaction:
    return _transaction(key, Kind.DEPOSIT, sender, at, memo, ESCROW, bond_account(sender), amount)


def debit(key: str, sender: str, amount: int, at: datetime, memo: str) -> Transaction:
    return _transaction(key, Kind.DEBIT, sender, at, memo, bond_account(sender), FORFEITS, amount)


def reversal(key: str, sender: str, amount: int, at: datetime, memo: str) -> Transaction:
    return _transaction(key, Kind.REVERSAL, sender, at, memo, FORFEITS, bond_account(sender), amount)


# --- the hash chain ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored posting, as the chain sees it."""

    seq: int
    key: str  # its transaction's key
    kind: str
    at: datetime
    account: str
    amount: int
    prev_hash: str
    hash: str


def entry_hash(prev_hash: str, seq: int, key: str, kind: str, at: datetime, account: str, amount: int) -> str:
    text = "|".join((prev_hash, str(seq), key, kind, at.isoformat(timespec="microseconds"), account, str(amount)))
    return hashlib.sha256(text.encode()).hexdigest()


def chain(prev_hash: str, first_seq: int, txn: Transaction) -> list[Entry]:
    """The entries of `txn` appended after `prev_hash` (the last entry's hash, or GENESIS)."""
    out: list[Entry] = []
    for i, p in enumerate(txn.postings):
        seq = first_seq + i
        h = entry_hash(prev_hash, seq, txn.key, txn.kind.value, txn.at, p.account, p.amount)
        out.append(Entry(seq, txn.key, txn.kind.value, txn.at, p.account, p.amount, prev_hash, h))
        prev_hash = h
    return out


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int | None  # the entry at fault (None: a whole transaction or a balance)
    what: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.what}" if self.seq is not None else self.what


def verify_chain(entries: Iterable[Entry]) -> list[Problem]:
    """Recompute the chain over `entries` (in seq order): each hash, each link, no gaps, and
    every transaction balanced. Empty when the ledger is intact."""
    problems: list[Problem] = []
    prev, expect = GENESIS, 1
    sums: dict[str, int] = {}
    for e in entries:
        if e.seq != expect:
            problems.append(Problem(e.seq, f"sequence gap: expected entry {expect}"))
        if e.prev_hash != prev:
            problems.append(Problem(e.seq, "does not chain to the entry before it"))
        if entry_hash(e.prev_hash, e.seq, e.key, e.kind, e.at, e.account, e.amount) != e.hash:
            problems.append(Problem(e.seq, f"hash mismatch: stored data changed (transaction {e.key}, "
                                           f"{e.account} {format_amount(e.amount)})"))
        sums[e.key] = sums.get(e.key, 0) + e.amount
        prev, expect = e.hash, e.seq + 1
    problems += [Problem(None, f"transaction {k} does not balance (off by {format_amount(s)})")
                 for k, s in sums.items() if s != 0]
    return problems


def balances(entries: Iterable[Entry] | Sequence[Posting]) -> dict[str, int]:
    """Sum per account."""
    out: dict[str, int] = {}
    for e in entries:
        out[e.account] = out.get(e.account, 0) + e.amount
    return out


def bond_balance(sender: str, entries: Iterable[Entry]) -> int:
    """A sender's bond balance: minus the balance of its bond account."""
    return -balances(entries).get(bond_account(sender), 0)
