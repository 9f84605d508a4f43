"""The listing state machine: previous state + evidence + an optional manual action + now
-> the new state and the public events to append. Pure; the service stores the result.

States: `unlisted` (the default, also "never was"), `listed`, `delisted` (a deputy took it off:
evidence up to that moment no longer counts), `exempt` (a deputy vouches for it: never listed
until unexempted).

Automatic rules (actor `policy`):
- a key in a reserved range or an operator exemption is never listed (a listing of one that
  became exempt by configuration is lifted);
- unlisted/delisted -> listed when the assessment qualifies (see `policy.score`);
- an automatic listing holds while its evidence is unexpired and still independent, then
  -> unlisted; its expiry follows the evidence (24 h after the last, 12 h for short ones);
- a manual listing holds until its own expiry (`manual_listing_hours`), extended by evidence.

Manual actions (actor `deputy` or `admin`, reason mandatory):
- `list`: listed (manual) now; not for reserved/exempt keys, not while exempt;
- `delist`: delisted now, from any state but exempt; sets the evidence floor;
- `exempt`: exempt now, from any state;
- `unexempt`: exempt -> unlisted, then the automatic rules apply at once.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from mailrep.errors import BadInput, Conflict, NotAllowed
from mailrep.net import parse_key
from mailrep.policy.config import PolicyConfig
from mailrep.policy.ranges import never_listed_reason
from mailrep.policy.score import Assessment, Evidence, assess
from mailrep.roles import STAFF_ROLES, Role


class State(StrEnum):
    UNLISTED = "unlisted"
    LISTED = "listed"
    DELISTED = "delisted"
    EXEMPT = "exempt"


class Action(StrEnum):
    LIST = "list"
    DELIST = "delist"
    EXEMPT = "exempt"
    UNEXEMPT = "unexempt"


POLICY_ACTOR = "policy"
MAX_REASON = 2000


class Listing(NamedTuple):
    """The stored state of one key (an IP, or a network for manual listings)."""

    key: str
    state: State = State.UNLISTED
    manual: bool = False
    score: float = 0.0
    first_evidence: datetime | None = None
    last_evidence: datetime | None = None
    listed_since: datetime | None = None
    expires_at: datetime | None = None
    delisted_at: datetime | None = None
    reason: str = ""

    @property
    def family(self) -> int:
        return parse_key(self.key).version

    def listed_at(self, now: datetime) -> bool:
        """Published in the zone at `now` (an overdue expiry counts as not listed)."""
        return self.state == State.LISTED and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True, slots=True)
class Manual:
    action: Action
    reason: str
    actor_role: str = Role.DEPUTY


class Event(NamedTuple):
    key: str
    at: datetime
    old_state: State
    new_state: State
    reason: str
    actor_role: str
    score: float
    expires_at: datetime | None


class Decision(NamedTuple):
    listing: Listing
    events: tuple[Event, ...]
    assessment: Assessment
    never_listed: str | None  # why the key can never be listed, if so


def decide(
    prev: Listing, evidence: Evidence, now: datetime, cfg: PolicyConfig, manual: Manual | None = None,
    *, assessment: Assessment | None = None,
) -> Decision:
    """The new state of `prev.key`. `assessment` may pass in `assess(evidence, now, cfg,
    floor=prev.delisted_at)` when the caller has it already."""
    never = never_listed_reason(prev.key, cfg.exemptions)
    events: list[Event] = []
    cur = prev
    a = assessment if assessment is not None else assess(evidence, now, cfg, floor=cur.delisted_at)
    if manual is not None:
        cur = _apply_manual(cur, manual, never, a, now, cfg, events)
        if cur.delisted_at != prev.delisted_at:
            a = assess(evidence, now, cfg, floor=cur.delisted_at)
    if manual is None or manual.action == Action.UNEXEMPT:
        cur = _automatic(cur, a, never, now, events)
    cur = cur._replace(score=a.score, first_evidence=a.first_evidence, last_evidence=a.last_evidence)
    return Decision(cur, tuple(events), a, never)


def _event(events: list[Event], old: Listing, new: Listing, now: datetime, reason: str,
           actor: str, score: float) -> None:
    events.append(Event(old.key, now, old.state, new.state, reason, actor, score, new.expires_at))


def _apply_manual(cur: Listing, m: Manual, never: str | None, a: Assessment, now: datetime,
                  cfg: PolicyConfig, events: list[Event]) -> Listing:
    reason = " ".join(m.reason.split())
    if not reason:
        raise BadInput("a reason is required for every manual action")
    if len(reason) > MAX_REASON:
        raise BadInput(f"the reason is longer than {MAX_REASON} characters")
    if m.actor_role not in STAFF_ROLES:
        raise NotAllowed("only deputies and admins act on listings")
    if m.action == Action.LIST:
        if never:
            raise NotAllowed(f"{cur.key} is never listed: {never}")
        if cur.state == State.EXEMPT:
            raise Conflict(f"{cur.key} is exempt; unexempt it first")
        if "/" in cur.key:
            net = parse_key(cur.key)
            widest = cfg.min_prefix_v4 if net.version == 4 else cfg.min_prefix_v6
            if not isinstance(net, ipaddress.IPv4Address | ipaddress.IPv6Address) and net.prefixlen < widest:
                raise BadInput(f"networks wider than /{widest} are not listed by hand")
        expires = now + timedelta(hours=cfg.manual_listing_hours)
        if a.qualifies and a.expires_at is not None:
            expires = max(expires, a.expires_at)
        since = cur.listed_since if cur.listed_at(now) and cur.listed_since else now
        new = cur._replace(state=State.LISTED, manual=True, listed_since=since, expires_at=expires, reason=reason)
    elif m.action == Action.DELIST:
        if cur.state == State.EXEMPT:
            raise Conflict(f"{cur.key} is exempt, not listed")
        new = cur._replace(state=State.DELISTED, manual=False, listed_since=None, expires_at=None,
                      delisted_at=now, reason=reason)
    elif m.action == Action.EXEMPT:
        if cur.state == State.EXEMPT:
            raise Conflict(f"{cur.key} is already exempt")
        new = cur._replace(state=State.EXEMPT, manual=True, listed_since=None, expires_at=None, reason=reason)
    else:  # UNEXEMPT
        if cur.state != State.EXEMPT:
            raise Conflict(f"{cur.key} is not exempt")
        new = cur._replace(state=State.UNLISTED, manual=False, reason=reason)
    _event(events, cur, new, now, reason, m.actor_role, a.score)
    return new


def _automatic(cur: Listing, a: Assessment, never: str | None, now: datetime,
               events: list[Event]) -> Listing:
    if cur.state == State.EXEMPT:
        return cur
    if never:
        if cur.state == State.LISTED:
            new = cur._replace(state=State.UNLISTED, manual=False, listed_since=None, expires_at=None,
                          reason=f"never listed: {never}")
            _event(events, cur, new, now, new.reason, POLICY_ACTOR, a.score)
            return new
        return cur
    if cur.state == State.LISTED:
        if cur.manual:
            expires = cur.expires_at
            if a.qualifies and a.expires_at is not None and (expires is None or a.expires_at > expires):
                expires = a.expires_at
            if expires is not None and now >= expires:
                new = cur._replace(state=State.UNLISTED, manual=False, listed_since=None,
                              expires_at=None, reason="manual listing expired")
                _event(events, cur, new, now, new.reason, POLICY_ACTOR, a.score)
                return new
            return cur._replace(expires_at=expires)
        holds = a.independent and a.expires_at is not None and now < a.expires_at
        if holds:
            return cur._replace(expires_at=a.expires_at)
        if a.expires_at is not None and now >= a.expires_at:
            why = f"expired: no new evidence since {a.last_evidence:%Y-%m-%d %H:%M} UTC"
        elif a.last_evidence is None:
            why = "expired: no counted evidence left"
        else:
            why = f"the evidence is no longer independent ({a.why})"
        new = cur._replace(state=State.UNLISTED, listed_since=None, expires_at=None, reason=why)
        _event(events, cur, new, now, why, POLICY_ACTOR, a.score)
        return new
    if a.qualifies:
        why = a.why
        if cur.state == State.DELISTED:
            why = f"new evidence after the delisting: {why}"
        new = cur._replace(state=State.LISTED, manual=False, listed_since=now, expires_at=a.expires_at,
                      reason=why)
        _event(events, cur, new, now, why, POLICY_ACTOR, a.score)
        return new
    return cur


def could_list(evidence: Evidence, cfg: PolicyConfig) -> bool:
    """A cheap upper bound: False when this evidence cannot list anything (no trap hit and
    fewer than `min_reporters` trusted reporters), whatever the times."""
    if evidence.traps:
        return True
    if len(evidence.reports) < cfg.min_reporters:
        return False
    seen: set[int | None] = set()
    for r in evidence.reports:
        if r[2] > 0:
            seen.add(r[1])
            if len(seen) >= cfg.min_reporters:
                return True
    return False


def decide_many(
    prev: Mapping[str, Listing], evidence: Mapping[str, Evidence], now: datetime, cfg: PolicyConfig
) -> list[Decision]:
    """`decide` for many keys at once (keys of `evidence`), skipping the keys that have no stored
    listing and cannot be listed: they would yield no change. Returns the other decisions."""
    out: list[Decision] = []
    for key, ev in evidence.items():
        p = prev.get(key)
        if p is None:
            if not could_list(ev, cfg):
                continue
            a = assess(ev, now, cfg)
            if not a.qualifies:
                continue
            out.append(decide(Listing(key), ev, now, cfg, assessment=a))
        else:
            out.append(decide(p, ev, now, cfg))
    return out
