"""Delisting requests: anyone asks about a listed address, staff decide with a reason,
approval delists.

Only an address the zone publishes (listed itself, or inside a network listing in force) can be
the subject of a request (`NotListed`, HTTP 409, otherwise). Approval delists what publishes it
at that moment: its own listing and any network listing covering it; when nothing does any more
(the listing expired meanwhile) the request is approved and no listing is touched, so no
history entry is written for an address that was not listed.

    desk = Delisting(db, blocklist)
    desk.request(ip, contact_email, explanation, now, client_addr=..., admit=...)   the public status
    desk.get(public_id)                                                  the public status
    desk.find(status="pending")                                          for staff, with contacts
    desk.decide(public_id, approve, reason, actor, now)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from mailrep.errors import BadInput, Conflict, NotListed, OverQuota
from mailrep.net import parse_ip
from mailrep.policy.explain import iso
from mailrep.policy.listing import Action
from mailrep.services.blocklist import Blocklist, require_staff
from mailrep.store import audit, delisting, listings
from mailrep.store.accounts import Account
from mailrep.store.db import Database

REQUESTS_PER_DAY = 5  # per client address
MAX_EXPLANATION = 5000
_EMAIL = re.compile(r"^[^@\s<>\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


def _public(r: delisting.Request) -> dict[str, Any]:
    """What the requester's status URL shows (no contact address, no client address)."""
    return {"id": r.public_id, "ip": r.ip, "status": r.status, "created_at": iso(r.created_at),
            "decided_at": iso(r.decided_at), "decision_reason": r.decision_reason}


class Delisting:
    def __init__(self, db: Database, blocklist: Blocklist) -> None:
        self.db = db
        self.blocklist = blocklist

    def request(self, ip: str, contact_email: str, explanation: str, now: datetime, *,
                client_addr: str | None = None, per_day: int = REQUESTS_PER_DAY,
                admit: Callable[[], None] | None = None) -> dict[str, Any]:
        """A new pending request. `admit` (a door's rate limit) is called once the request is
        known to be valid, so an invalid one costs the client nothing; it may raise OverQuota."""
        key = str(parse_ip(ip))
        email = contact_email.strip()
        if len(email) > 320 or not _EMAIL.match(email):
            raise BadInput("contact_email is not an e-mail address")
        text = explanation.strip()
        if not text or len(text) > MAX_EXPLANATION:
            raise BadInput(f"explanation must be 1 to {MAX_EXPLANATION} characters")
        if admit is not None:
            admit()
        with self.db.transaction() as conn:
            if not listings.publishing(conn, key, now):
                raise NotListed(f"{key} is not listed: there is nothing to delist (see /api/v1/lookup/{key})")
            if client_addr and delisting.count_recent(conn, client_addr, now - timedelta(days=1)) >= per_day:
                raise OverQuota(f"at most {per_day} delisting requests per day from one address")
            r = delisting.create(conn, ip=key, contact_email=email, explanation=text,
                                 client_addr=client_addr, now=now)
        return _public(r)

    def get(self, public_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            return _public(delisting.get(conn, public_id))

    def find(self, *, status: str | None = "pending", limit: int = 100) -> list[dict[str, Any]]:
        """For staff: requests with their contact and explanation."""
        with self.db.read() as conn:
            rows = delisting.find(conn, status=status, limit=limit)
        return [{**_public(r), "contact_email": r.contact_email, "explanation": r.explanation,
                 "client_addr": r.client_addr} for r in rows]

    def decide(self, public_id: str, approve: bool, reason: str, actor: Account, now: datetime) -> dict[str, Any]:
        """Approve (delists every listing in force that publishes the address: its own and any
        network listing covering it; nothing when none is left) or deny, with a mandatory reason."""
        why = " ".join(reason.split())
        if not why:
            raise BadInput("a reason is required")
        require_staff(actor, "decide delisting requests")
        with self.db.transaction() as conn:
            r = delisting.get(conn, public_id)
            if r.status != "pending" or not delisting.decide(
                conn, public_id, status="approved" if approve else "denied", by=actor.id, reason=why, now=now
            ):
                raise Conflict(f"request {public_id} is already {r.status}")
            targets = listings.publishing(conn, r.ip, now) if approve else []
            audit.record(conn, at=now, actor_account_id=actor.id,
                         action="delisting.approve" if approve else "delisting.deny", target=r.ip, reason=why,
                         detail={"request": public_id, "delisted": targets})
        for key in targets:
            self.blocklist.manual(Action.DELIST, key, f"delisting request {public_id} approved: {why}", actor, now)
        return self.get(public_id)
