"""The blocklist service: the store and the pure policy glued together (no SQL here).

    reevaluate(db, ips, now)          re-decide keys whose evidence changed; returns the events
    sweep(db, now)                    expire listings whose time has come
    recompute(db, now)                re-decide everything (after a policy change)
    manual(db, action, key, reason, actor, now)   a deputy's list / delist / exempt / unexempt
    lookup(db, ip, now)               the public JSON of GET /api/v1/lookup/{ip}
    explain(db, ip, now)              the calculation (part of lookup)
    active_listings(db, now)          what the DNS zone publishes; change_marker(db) to poll
    request_delisting / delisting_request / delisting_requests / decide_delisting
    create_account / create_token / add_reporter / authenticate / revoke

The policy configuration comes from `configure(PolicyConfig.from_section(settings.section(
"policy")))` once at start-up, or per call with `config=`; without either the brief's defaults
apply. Every function takes `now` (the caller's clock).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mailrep.config import Settings
from mailrep.errors import BadInput, Conflict, NotAllowed, NotFound, OverQuota, StorageError
from mailrep.net import canonical, parse_ip
from mailrep.policy import explain as explaining
from mailrep.policy.config import PolicyConfig
from mailrep.policy.listing import (
    STAFF_ROLES,
    Action,
    Decision,
    Event,
    Listing,
    Manual,
    State,
    decide,
    decide_many,
)
from mailrep.policy.score import Evidence
from mailrep.store import accounts, audit, delisting, evidence, listings
from mailrep.store.accounts import Account, Reporter
from mailrep.store.db import Database

A_LISTED = "127.0.0.2"
TXT_TEMPLATE = "Blocked - see {site}/lookup?ip=$"  # `$` is the queried address (rbldnsd style)
DELISTING_REQUESTS_PER_DAY = 5  # per client address
_EMAIL = re.compile(r"^[^@\s<>\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
_BATCH = 2000

_config = PolicyConfig()


def configure(config: PolicyConfig) -> None:
    """Set the policy configuration used when a call passes none."""
    global _config
    _config = config


def config_from(settings: Settings) -> PolicyConfig:
    return PolicyConfig.from_section(settings.section("policy"))


def _cfg(config: PolicyConfig | None) -> PolicyConfig:
    return config if config is not None else _config


# --- decisions ---------------------------------------------------------------------------------


def reevaluate(db: Database, ips: Sequence[str], now: datetime, *, config: PolicyConfig | None = None) -> list[Event]:
    """Re-decide each key from its current evidence; store changes; return the new events.

    Keys that are not addresses or networks are skipped (a report without a usable source).
    """
    cfg = _cfg(config)
    keys: list[str] = []
    for ip in dict.fromkeys(ips):
        try:
            keys.append(canonical(ip))
        except BadInput:
            continue
    keys = sorted(set(keys))  # one lock order for every writer (PostgreSQL row locks)
    out: list[Event] = []
    for i in range(0, len(keys), _BATCH):
        out.extend(_retry(lambda part=keys[i:i + _BATCH]: _reevaluate_batch(db, part, now, cfg)))
    return out


def _retry(fn: Any, attempts: int = 3) -> Any:
    """Run a write again when a concurrent writer inserted the same listing first (or, on
    PostgreSQL, when the server broke a deadlock by aborting us)."""
    for attempt in range(attempts):
        try:
            return fn()
        except StorageError as e:
            text = str(e).lower()
            if attempt == attempts - 1 or not ("unique" in text or "deadlock" in text):
                raise
    raise AssertionError("unreachable")


def _reevaluate_batch(db: Database, keys: Sequence[str], now: datetime, cfg: PolicyConfig) -> list[Event]:
    """Decide from a read snapshot, then write under the write lock: the intake writer keeps
    committing meanwhile (on SQLite it would otherwise wait for the evidence reads). Keys whose
    stored listing changed in between (a staff action, another evaluation) are decided again
    inside the write transaction; newer evidence always comes with a new evaluation of its
    own (the intake processor is told of every commit), so a decision from the snapshot is at
    worst one step behind, never left standing."""
    with db.read() as conn:
        seen = listings.get(conn, keys)
        ev = evidence.load(conn, keys, now, cfg.max_age_days)
    decisions = decide_many(seen, ev, now, cfg)
    with db.transaction() as conn:
        prev = listings.get(conn, keys, lock=True)
        moved = [k for k in keys if prev.get(k) != seen.get(k)]
        if moved:
            again = set(moved)
            decisions = [d for d in decisions if d.listing.key not in again]
            decisions += decide_many(prev, evidence.load(conn, moved, now, cfg.max_age_days), now, cfg)
        events = [e for d in decisions for e in d.events]
        listings.save(conn, [d.listing for d in decisions], prev, events, now)
    return events


def sweep(db: Database, now: datetime, *, config: PolicyConfig | None = None) -> list[Event]:
    """Expire every listing whose expiry has come (run periodically)."""
    with db.read() as conn:
        keys = listings.due(conn, now)
    return reevaluate(db, keys, now, config=config) if keys else []


def recompute(db: Database, now: datetime, *, config: PolicyConfig | None = None) -> list[Event]:
    """Re-decide every address with evidence in the window and every listing in force (after a
    change of the policy configuration, or to repair). One streamed pass over the evidence (a
    read snapshot), decisions written in batches; then the listings that had no evidence left."""
    cfg = _cfg(config)
    out: list[Event] = []
    seen: set[str] = set()
    with db.read() as conn:
        listed = set(listings.keys_in_state(conn, str(State.LISTED)))
        for chunk in evidence.iter_all(conn, now, cfg.max_age_days, batch=_BATCH):
            chunk = {k: v for k, v in chunk.items() if _is_key(k)}
            seen.update(chunk)
            out.extend(_retry(lambda c=chunk: _decide_batch(db, c, now, cfg)))
    out.extend(reevaluate(db, sorted(listed - seen), now, config=cfg))
    return out


def _is_key(text: str) -> bool:
    try:
        return canonical(text) == text
    except BadInput:
        return False


def _decide_batch(db: Database, ev: dict[str, Evidence], now: datetime, cfg: PolicyConfig) -> list[Event]:
    with db.transaction() as conn:
        prev = listings.get(conn, sorted(ev), lock=True)
        decisions = decide_many(prev, ev, now, cfg)
        events = [e for d in decisions for e in d.events]
        listings.save(conn, [d.listing for d in decisions], prev, events, now)
    return events


def manual(db: Database, action: Action | str, key: str, reason: str, actor: Account, now: datetime,
           *, config: PolicyConfig | None = None) -> dict[str, Any]:
    """A staff action on a listing; returns the listing's new public state."""
    cfg = _cfg(config)
    try:
        act = Action(action)
    except ValueError as e:
        raise BadInput(f"unknown action {action!r}") from e
    if actor.role not in STAFF_ROLES or not actor.active:
        raise NotAllowed("only active deputies and admins act on listings")
    k = canonical(key)

    def run() -> Decision:
        with db.transaction() as conn:
            stored = listings.get(conn, [k], lock=True)
            prev = stored.get(k) or Listing(k)
            ev = evidence.load(conn, [k], now, cfg.max_age_days)[k]
            d = decide(prev, ev, now, cfg, Manual(act, reason, actor.role))
            listings.save(conn, [d.listing], stored, d.events, now)
            audit.record(conn, at=now, actor_account_id=actor.id, action=f"listing.{act}", target=k,
                         reason=" ".join(reason.split()),
                         detail={"from": str(prev.state), "to": str(d.listing.state)})
            return d

    d = _retry(run)
    return _public_listing(d.listing, now)


def _public_listing(lst: Listing, now: datetime) -> dict[str, Any]:
    return {"key": lst.key, "state": str(lst.state), "listed": lst.listed_at(now), "manual": lst.manual,
            "since": _iso(lst.listed_since), "expires": _iso(lst.expires_at), "reason": lst.reason}


def _iso(t: datetime | None) -> str | None:
    return explaining.iso(t)


# --- public lookup -----------------------------------------------------------------------------


def _load_one(db: Database, ip: str, now: datetime, cfg: PolicyConfig) -> tuple[Listing, Evidence, Any]:
    with db.read() as conn:
        prev = listings.get(conn, [ip]).get(ip) or Listing(ip)
        ev = evidence.load(conn, [ip], now, cfg.max_age_days)[ip]
        extra = (evidence.counts(conn, ip, now, cfg.max_age_days), listings.history(conn, ip),
                 listings.covering_networks(conn, ip))
    return prev, ev, extra


def explain(db: Database, ip: str, now: datetime, *, config: PolicyConfig | None = None) -> dict[str, Any]:
    """How the policy sees `ip` now: evidence, weights, volume term, threshold, expiry, why."""
    cfg = _cfg(config)
    key = str(parse_ip(ip))
    prev, ev, _ = _load_one(db, key, now, cfg)
    return explaining.explain(decide(prev, ev, now, cfg), ev, now, cfg)


def lookup(db: Database, ip: str, now: datetime, *, config: PolicyConfig | None = None) -> dict[str, Any]:
    """Public status of one address. `listed`, `since` and `expires` are what the zone publishes
    (the stored state); `explanation` is the policy's view of the current evidence."""
    cfg = _cfg(config)
    key = str(parse_ip(ip))
    prev, ev, (counts, hist, nets) = _load_one(db, key, now, cfg)
    d = decide(prev, ev, now, cfg)
    net = next((n for n in nets if n.listed_at(now)), None)
    shown = prev if prev.listed_at(now) or net is None else net
    counts["last_seen"] = _iso(counts["last_seen"])
    return {
        "ip": key,
        "listed": shown.listed_at(now),
        "state": str(shown.state) if shown.listed_at(now) or shown.state != State.LISTED else "unlisted",
        "listing": shown.key if shown.listed_at(now) else None,
        "since": _iso(shown.listed_since) if shown.listed_at(now) else None,
        "expires": _iso(shown.expires_at) if shown.listed_at(now) else None,
        "score": round(d.assessment.score, 3),
        "evidence": counts,
        "history": [{**h, "at": _iso(h["at"]), "expires": _iso(h["expires"])} for h in hist],
        "explanation": explaining.explain(d, ev, now, cfg),
    }


# --- for the DNS side --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActiveListing:
    key: str  # an address or a network
    family: int
    a: str  # the A value (127.0.0.2)
    txt: str  # TXT template; `$` stands for the queried address
    expires_at: datetime | None


def iter_active(db: Database, now: datetime, *, site_url: str = "http://127.0.0.1:8080",
                a_value: str = A_LISTED) -> Iterator[ActiveListing]:
    """Every listing in force at `now`, streamed (one read snapshot)."""
    txt = TXT_TEMPLATE.format(site=site_url.rstrip("/"))
    with db.read() as conn:
        for key, family, expires in listings.iter_listed(conn, now):
            yield ActiveListing(key, family, a_value, txt, expires)


def active_listings(db: Database, now: datetime, **kw: Any) -> list[ActiveListing]:
    return list(iter_active(db, now, **kw))


def change_marker(db: Database) -> int:
    """Grows whenever any listing changes state (the newest listing event id)."""
    with db.read() as conn:
        return listings.change_marker(conn)


# --- delisting requests ------------------------------------------------------------------------


def _public_request(r: delisting.Request) -> dict[str, Any]:
    """What the requester's status URL shows (no contact address, no client address)."""
    return {"id": r.public_id, "ip": r.ip, "status": r.status, "created_at": _iso(r.created_at),
            "decided_at": _iso(r.decided_at), "decision_reason": r.decision_reason}


def request_delisting(db: Database, ip: str, contact_email: str, explanation: str, now: datetime, *,
                      client_addr: str | None = None,
                      per_day: int = DELISTING_REQUESTS_PER_DAY) -> dict[str, Any]:
    key = str(parse_ip(ip))
    email = contact_email.strip()
    if len(email) > 320 or not _EMAIL.match(email):
        raise BadInput("contact_email is not an e-mail address")
    text = explanation.strip()
    if not text or len(text) > 5000:
        raise BadInput("explanation must be 1 to 5000 characters")
    with db.transaction() as conn:
        if client_addr and delisting.count_recent(conn, client_addr, now - timedelta(days=1)) >= per_day:
            raise OverQuota(f"at most {per_day} delisting requests per day from one address")
        r = delisting.create(conn, ip=key, contact_email=email, explanation=text,
                             client_addr=client_addr, now=now)
    return _public_request(r)


def delisting_request(db: Database, public_id: str) -> dict[str, Any]:
    with db.read() as conn:
        return _public_request(delisting.get(conn, public_id))


def delisting_requests(db: Database, *, status: str | None = "pending", limit: int = 100) -> list[dict[str, Any]]:
    """For staff: requests with their contact and explanation."""
    with db.read() as conn:
        rows = delisting.find(conn, status=status, limit=limit)
    return [{**_public_request(r), "contact_email": r.contact_email, "explanation": r.explanation,
             "client_addr": r.client_addr} for r in rows]


def decide_delisting(db: Database, public_id: str, approve: bool, reason: str, actor: Account,
                     now: datetime, *, config: PolicyConfig | None = None) -> dict[str, Any]:
    """Approve (delists the address, unless it is exempt) or deny, with a mandatory reason."""
    why = " ".join(reason.split())
    if not why:
        raise BadInput("a reason is required")
    if actor.role not in STAFF_ROLES or not actor.active:
        raise NotAllowed("only active deputies and admins decide delisting requests")
    with db.transaction() as conn:
        r = delisting.get(conn, public_id)
        if r.status != "pending" or not delisting.decide(
            conn, public_id, status="approved" if approve else "denied", by=actor.id, reason=why, now=now
        ):
            raise Conflict(f"request {public_id} is already {r.status}")
        audit.record(conn, at=now, actor_account_id=actor.id,
                     action="delisting.approve" if approve else "delisting.deny", target=r.ip, reason=why,
                     detail={"request": public_id})
        state = listings.get(conn, [r.ip]).get(r.ip)
    if approve and (state is None or state.state != State.EXEMPT):
        manual(db, Action.DELIST, r.ip, f"delisting request {public_id} approved: {why}", actor, now, config=config)
    return delisting_request(db, public_id)


# --- accounts ----------------------------------------------------------------------------------


def create_account(db: Database, name: str, role: str, now: datetime) -> Account:
    with db.transaction() as conn:
        return accounts.create_account(conn, name, role, now)


def create_token(db: Database, name: str, role: str, now: datetime, *, label: str = "") -> str:
    """A new token for account `name` (created with `role` if missing); the secret, shown once."""
    with db.transaction() as conn:
        acc = accounts.ensure_account(conn, name, role, now)
        if role == "reporter":
            try:
                accounts.get_reporter(conn, acc.id)
            except NotFound:
                accounts.add_reporter(conn, acc.id)
        return accounts.create_token(conn, acc.id, now, label=label)


def add_reporter(db: Database, name: str, now: datetime, *, mailhosts: Sequence[str] | str = (),
                 trust_weight: float = 1.0, daily_quota: int = 5000, kind: str = "user") -> tuple[Account, Reporter, str]:
    """A new reporter account with its profile and a first token (account, profile, secret)."""
    with db.transaction() as conn:
        acc = accounts.create_account(conn, name, "reporter", now)
        rep = accounts.add_reporter(conn, acc.id, mailhosts=list(mailhosts) if not isinstance(mailhosts, str)
                                    else mailhosts, trust_weight=trust_weight, daily_quota=daily_quota, kind=kind)
        secret = accounts.create_token(conn, acc.id, now, label="initial")
    return acc, rep, secret


def set_reporter(db: Database, name: str, reason: str, actor: Account, now: datetime, *,
                 status: str | None = None, trust_weight: float | None = None,
                 config: PolicyConfig | None = None) -> Reporter:
    """Suspend/reactivate a reporter or change its trust weight (staff, with a reason), then
    re-evaluate every address it reported inside the policy window."""
    cfg = _cfg(config)
    why = " ".join(reason.split())
    if not why:
        raise BadInput("a reason is required")
    if actor.role not in STAFF_ROLES or not actor.active:
        raise NotAllowed("only active deputies and admins change reporters")
    if trust_weight is not None and not (0.0 <= trust_weight <= 100.0):
        raise BadInput("trust weight must be 0..100")
    with db.transaction() as conn:
        acc = accounts.get_account(conn, name)
        before = accounts.get_reporter(conn, acc.id)
        rep = accounts.update_reporter(conn, acc.id, status=status, trust_weight=trust_weight)
        audit.record(conn, at=now, actor_account_id=actor.id, action="reporter.update", target=acc.name,
                     reason=why, detail={"status": [before.status, rep.status],
                                         "trust_weight": [before.trust_weight, rep.trust_weight]})
        ips = evidence.reported_by(conn, acc.id, now, cfg.max_age_days)
    reevaluate(db, ips, now, config=cfg)
    return rep


def authenticate(db: Database, secret: str) -> Account:
    with db.read() as conn:
        return accounts.authenticate(conn, secret)


def revoke(db: Database, secret: str, now: datetime) -> None:
    with db.transaction() as conn:
        accounts.revoke_token(conn, secret, now)
