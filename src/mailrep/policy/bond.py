"""The bonded sender rule, published: allowance, debits, standing, the allowlist's encoding. Pure.

    cfg = BondConfig.from_section(settings.section("bond"))
    allowance(2000, cfg) == 2                        threshold x volume, rounded down, exact
    plan = plan_debits(complaints, 2000, debited, cfg)   which complaints are debited now
    standing(sender, balance, trap_hits, cfg)        approved / suspended (and why)
    wl_a(Category.MARKETING, Trust.MEDIUM) == "127.0.15.2"

Debits: in the window (`window_days`, ending now) the sender's complaints (counted user and
feedback-loop reports traced to its networks or domains) are taken in order of arrival; the
first `allowance` are free, each one beyond debits `debit_per_complaint` once, referencing its
report. Nothing is debited while the window holds fewer than `min_complaints`. A recompute
only adds what is owed and not yet debited: the number of debits in the window never exceeds
`complaints - allowance`, and a report is debited at most once (the ledger's key). A debit is
never withdrawn by a later recompute (more volume, an older window): the sender disputes it.

Standing: an approved sender whose balance is below `minimum_balance`, or whose trap hits in
the window (since its last review) exceed `trap_hit_limit`, is suspended by the policy; once
both are fine again (a deposit), the policy brings it back. A suspension by a deputy, a
pending or an expelled sender only changes by a deputy's decision.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from enum import IntEnum, StrEnum
from typing import Any

from mailrep.errors import BadInput
from mailrep.policy.ledger import parse_amount

NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
"""Sender names: they appear in ledger account names and DNS TXT records."""


class Status(StrEnum):
    PENDING = "pending"  # enrolled, not yet reviewed
    APPROVED = "approved"
    SUSPENDED = "suspended"
    EXPELLED = "expelled"


class Hold(StrEnum):
    """Who suspended a sender: the policy lifts its own suspensions, a deputy's stay."""

    POLICY = "policy"
    DEPUTY = "deputy"


class Category(IntEnum):
    """DNSWL.org's categories: the third octet of the allowlist's A record."""

    FINANCIAL = 2
    ESP = 3
    ORGANISATION = 4
    PROVIDER = 5
    PERSONAL = 6
    TRAVEL = 7
    PUBLIC_SECTOR = 8
    MEDIA = 9
    EDUCATION = 11
    HEALTHCARE = 12
    MANUFACTURING = 13
    RETAIL = 14
    MARKETING = 15

    @classmethod
    def parse(cls, text: str | int) -> Category:
        try:
            return cls(int(text)) if str(text).isdigit() else cls[str(text).upper().replace("-", "_")]
        except (KeyError, ValueError) as e:
            raise BadInput(f"unknown category {text!r} (one of {', '.join(c.name.lower() for c in cls)})") from e


class Trust(IntEnum):
    """DNSWL.org's trust levels: the fourth octet."""

    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3


def wl_a(category: int, trust: int) -> str:
    """The allowlist A value `127.0.<category>.<trust>` (DNSWL.org's encoding)."""
    return f"127.0.{Category(category).value}.{Trust(trust).value}"


def _decimal(name: str, value: Any) -> Decimal:
    if isinstance(value, bool | float):
        raise BadInput(f"bond: {name} must be decimal text or an integer, never floating point")
    try:
        return Decimal(str(value))
    except InvalidOperation as e:
        raise BadInput(f"bond: {name} is not a number: {value!r}") from e


@dataclass(frozen=True, slots=True)
class BondConfig:
    complaint_rate_threshold: Decimal = Decimal("0.001")  # 0.1% of accepted volume
    window_days: int = 30
    debit_per_complaint: int = 2000  # minor units
    minimum_balance: int = 100000
    currency: str = "USD"
    trap_hit_limit: int = 10  # more trap hits in the window suspend the sender
    min_complaints: int = 3  # fewer complaints in the window: no debit at all
    program: str = "mailrep bonded sender program"

    def __post_init__(self) -> None:
        if not (Decimal(0) <= self.complaint_rate_threshold < Decimal(1)):
            raise BadInput("bond: complaint_rate_threshold must be in [0, 1)")
        if self.window_days < 1 or self.trap_hit_limit < 0 or self.min_complaints < 0:
            raise BadInput("bond: window_days >= 1, trap_hit_limit >= 0, min_complaints >= 0")
        if self.debit_per_complaint <= 0 or self.minimum_balance < 0:
            raise BadInput("bond: debit_per_complaint > 0, minimum_balance >= 0")
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            raise BadInput("bond: currency is an ISO 4217 code such as USD")
        if "$" in self.program or not self.program.strip():
            raise BadInput("bond: program is a name without `$`")

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> BondConfig:
        """From the `[bond]` table: money as decimal text ("20.00"); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise BadInput(f"bond: unknown setting(s) {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in section.items():
            if name == "complaint_rate_threshold":
                values[name] = _decimal(name, value)
            elif name in ("debit_per_complaint", "minimum_balance"):
                values[name] = 0 if _decimal(name, value) == 0 else parse_amount(_decimal(name, value))
            elif name in ("currency", "program"):
                values[name] = str(value).strip().upper() if name == "currency" else str(value).strip()
            elif isinstance(value, bool) or not isinstance(value, int):
                raise BadInput(f"bond: {name} must be a whole number")
            else:
                values[name] = value
        return cls(**values)


def allowance(volume: int, cfg: BondConfig) -> int:
    """Complaints allowed free in the window: threshold x volume, rounded down (exact)."""
    return int((cfg.complaint_rate_threshold * max(0, int(volume))).to_integral_value(rounding=ROUND_FLOOR))


def complaint_rate(complaints: int, volume: int) -> Decimal | None:
    """Complaints per accepted message; None without volume."""
    return Decimal(complaints) / Decimal(volume) if volume > 0 else None


@dataclass(frozen=True, slots=True, order=True)
class Complaint:
    at: datetime
    report_id: int


@dataclass(frozen=True, slots=True)
class DebitPlan:
    complaints: int  # in the window
    volume: int
    allowance: int
    owed: int  # debits the window calls for
    debited: int  # of them already in the ledger (complaints of the window)
    new: tuple[int, ...]  # report ids to debit now, in order


def plan_debits(complaints: Sequence[Complaint], volume: int, debited: Collection[int],
                cfg: BondConfig) -> DebitPlan:
    """Which of the window's `complaints` to debit now, given the report ids `debited` before."""
    ordered = sorted(complaints)
    allowed = allowance(volume, cfg)
    n = len(ordered)
    owed = max(0, n - allowed) if n >= max(1, cfg.min_complaints) else 0
    done = sum(1 for c in ordered if c.report_id in debited)
    room = max(0, owed - done)
    beyond = [c.report_id for c in ordered[allowed:] if c.report_id not in debited]
    return DebitPlan(n, volume, allowed, owed, done, tuple(beyond[:room]))


@dataclass(frozen=True, slots=True)
class Standing:
    status: Status
    hold: Hold | None
    reason: str


def standing(status: str, hold: str | None, balance: int, trap_hits: int, cfg: BondConfig) -> Standing:
    """The sender's standing after the policy looked at its balance and trap hits."""
    st, h = Status(status), Hold(hold) if hold else None
    problems = []
    if balance < cfg.minimum_balance:
        problems.append("balance below the minimum")
    if trap_hits > cfg.trap_hit_limit:
        problems.append(f"{trap_hits} spamtrap hits, over the limit of {cfg.trap_hit_limit}")
    if st is Status.APPROVED and problems:
        return Standing(Status.SUSPENDED, Hold.POLICY, "; ".join(problems))
    if st is Status.SUSPENDED and h is Hold.POLICY and not problems:
        return Standing(Status.APPROVED, None, "back in good standing")
    return Standing(st, h, "")


def on_allowlist(status: str, balance: int, cfg: BondConfig) -> bool:
    """Published on `wl.`: approved and funded."""
    return status == Status.APPROVED and balance >= cfg.minimum_balance


def wl_txt(sender: str, cfg: BondConfig) -> str:
    return f"{sender}: bonded sender in good standing, {cfg.program}"


def check_name(name: str) -> str:
    n = name.strip().lower()
    if not NAME.match(n):
        raise BadInput("a sender name is 1 to 64 of a-z 0-9 . _ - (it is used in DNS and the ledger)")
    return n


def domain_matches(name: str | None, domains: Collection[str]) -> bool:
    """`name` is one of `domains` or below one."""
    if not name:
        return False
    n = name.strip().rstrip(".").lower()
    return any(n == d or n.endswith("." + d) for d in domains)


def trace_domains(trace: Mapping[str, Any]) -> set[str]:
    """The name a trace gives its source: the rDNS of the source hop, which the owner of the
    address sets. HELO and the envelope sender are the client's say-so (a joe job would debit
    the innocent), so they do not count."""
    src = (trace.get("source") or {}).get("ip")
    return {str(hop["rdns"]).lower().rstrip(".") for hop in trace.get("hops") or ()
            if src and hop.get("ip") == src and hop.get("rdns")}
