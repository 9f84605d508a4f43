"""Listing decisions: the store and the pure policy glued together (no SQL here).

    blocklist = Blocklist(db, config)
    blocklist.reevaluate(keys, now)      re-decide keys whose evidence changed; returns the events
    blocklist.sweep(now)                 expire listings whose time has come
    blocklist.recompute(now)             re-decide everything (after a policy change)
    blocklist.manual(action, key, reason, actor, now)   a deputy's list / delist / exempt / unexempt

A write that loses a race with another writer (`WriteConflict` from the store) is run again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from mailrep.errors import BadInput, NotAllowed
from mailrep.net import canonical
from mailrep.policy import explain as explaining
from mailrep.policy.config import PolicyConfig
from mailrep.policy.listing import (
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
from mailrep.roles import STAFF_ROLES
from mailrep.store import audit, evidence, listings
from mailrep.store.accounts import Account
from mailrep.store.db import Database, WriteConflict

T = TypeVar("T")
BATCH = 2000
RETRIES = 3


def retry(fn: Callable[[], T], attempts: int = RETRIES) -> T:
    """Run a write again when a concurrent writer inserted the same listing first (or, on
    PostgreSQL, when the server broke a deadlock by aborting us)."""
    for _ in range(attempts - 1):
        try:
            return fn()
        except WriteConflict:
            continue
    return fn()


def require_staff(actor: Account, what: str) -> None:
    if actor.role not in STAFF_ROLES or not actor.active:
        raise NotAllowed(f"only active deputies and admins {what}")


def public_listing(lst: Listing, now: datetime) -> dict[str, Any]:
    iso = explaining.iso
    return {"key": lst.key, "state": str(lst.state), "listed": lst.listed_at(now), "manual": lst.manual,
            "since": iso(lst.listed_since), "expires": iso(lst.expires_at), "reason": lst.reason}


def _is_key(text: str) -> bool:
    try:
        return canonical(text) == text
    except BadInput:
        return False


class Blocklist:
    """Decides listings from the evidence in `db` under the policy `config`."""

    def __init__(self, db: Database, config: PolicyConfig) -> None:
        self.db = db
        self.config = config

    def reevaluate(self, ips: Sequence[str], now: datetime) -> list[Event]:
        """Re-decide each key from its current evidence; store changes; return the new events.

        Keys that are not addresses or networks are skipped (a report without a usable source).
        """
        keys: list[str] = []
        for ip in dict.fromkeys(ips):
            try:
                keys.append(canonical(ip))
            except BadInput:
                continue
        keys = sorted(set(keys))  # one lock order for every writer (PostgreSQL row locks)
        out: list[Event] = []
        for i in range(0, len(keys), BATCH):
            part = keys[i:i + BATCH]
            out.extend(retry(lambda part=part: self._reevaluate_batch(part, now)))  # type: ignore[misc]
        return out

    def _reevaluate_batch(self, keys: Sequence[str], now: datetime) -> list[Event]:
        """Decide from a read snapshot, then write under the write lock: the intake writer keeps
        committing meanwhile (on SQLite it would otherwise wait for the evidence reads). Keys
        whose stored listing changed in between (a staff action, another evaluation) are decided
        again inside the write transaction; newer evidence always comes with a new evaluation of
        its own (the intake processor is told of every commit), so a decision from the snapshot
        is at worst one step behind, never left standing."""
        cfg = self.config
        with self.db.read() as conn:
            seen = listings.get(conn, keys)
            ev = evidence.load(conn, keys, now, cfg.max_age_days)
        decisions = decide_many(seen, ev, now, cfg)
        with self.db.transaction() as conn:
            prev = listings.get(conn, keys, lock=True)
            moved = [k for k in keys if prev.get(k) != seen.get(k)]
            if moved:
                again = set(moved)
                decisions = [d for d in decisions if d.listing.key not in again]
                decisions += decide_many(prev, evidence.load(conn, moved, now, cfg.max_age_days), now, cfg)
            events = [e for d in decisions for e in d.events]
            listings.save(conn, [d.listing for d in decisions], prev, events, now)
        return events

    def sweep(self, now: datetime) -> list[Event]:
        """Expire every listing whose expiry has come (run periodically)."""
        with self.db.read() as conn:
            keys = listings.due(conn, now)
        return self.reevaluate(keys, now) if keys else []

    def recompute(self, now: datetime) -> list[Event]:
        """Re-decide every address with evidence in the window and every listing in force (after
        a change of the policy configuration, or to repair). One streamed pass over the evidence
        (a read snapshot), decisions written in batches; then the listings that had no evidence
        left."""
        out: list[Event] = []
        seen: set[str] = set()
        with self.db.read() as conn:
            listed = set(listings.keys_in_state(conn, str(State.LISTED)))
            for chunk in evidence.iter_all(conn, now, self.config.max_age_days, batch=BATCH):
                chunk = {k: v for k, v in chunk.items() if _is_key(k)}
                seen.update(chunk)
                out.extend(retry(lambda c=chunk: self._decide_batch(c, now)))  # type: ignore[misc]
        out.extend(self.reevaluate(sorted(listed - seen), now))
        return out

    def _decide_batch(self, ev: dict[str, Evidence], now: datetime) -> list[Event]:
        with self.db.transaction() as conn:
            prev = listings.get(conn, sorted(ev), lock=True)
            decisions = decide_many(prev, ev, now, self.config)
            events = [e for d in decisions for e in d.events]
            listings.save(conn, [d.listing for d in decisions], prev, events, now)
        return events

    def manual(self, action: Action | str, key: str, reason: str, actor: Account, now: datetime) -> dict[str, Any]:
        """A staff action on a listing; returns the listing's new public state."""
        try:
            act = Action(action)
        except ValueError as e:
            raise BadInput(f"unknown action {action!r}") from e
        require_staff(actor, "act on listings")
        k = canonical(key)
        cfg = self.config

        def run() -> Decision:
            with self.db.transaction() as conn:
                stored = listings.get(conn, [k], lock=True)
                prev = stored.get(k) or Listing(k)
                ev = evidence.load(conn, [k], now, cfg.max_age_days)[k]
                d = decide(prev, ev, now, cfg, Manual(act, reason, actor.role))
                listings.save(conn, [d.listing], stored, d.events, now)
                audit.record(conn, at=now, actor_account_id=actor.id, action=f"listing.{act}", target=k,
                             reason=" ".join(reason.split()),
                             detail={"from": str(prev.state), "to": str(d.listing.state)})
                return d

        return public_listing(retry(run).listing, now)
