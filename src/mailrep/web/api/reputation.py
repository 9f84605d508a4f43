"""Sender reputation (public): an IP, its network, a domain; score, confidence, magnitudes,
counts per day and month, explanation and daily history. No data: 200 with `score: null`.
An organisation (an enrolled sender: its addresses summed, its domains beside them) is shown
to that sender's own token and to staff."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request

from mailrep.errors import NotAllowed
from mailrep.roles import Role
from mailrep.web.api.common import error_responses
from mailrep.web.auth import Caller, role
from mailrep.web.context import ctx

router = APIRouter(tags=["public"])


@router.get("/reputation/network/{cidr:path}", responses=error_responses(400),
            summary="Reputation of a network (/24 IPv4, /48 IPv6; a narrower one gets its covering network)")
def network(request: Request, cidr: str = Path(max_length=64)) -> dict[str, Any]:
    c = ctx(request)
    return c.services.reputation.network(cidr, c.clock())


@router.get("/reputation/org/{name}", responses=error_responses(401, 403, 404),
            summary="Reputation of an organisation (an enrolled sender: its own token, or staff): "
                    "score over its addresses, its addresses and domains, daily history")
def organisation(request: Request, name: str = Path(max_length=64),
                 caller: Caller = Depends(role(Role.SENDER, Role.DEPUTY, Role.ADMIN))) -> dict[str, Any]:
    c = ctx(request)
    if caller.role == Role.SENDER and caller.account.name != name:
        raise NotAllowed("a sender token shows its own organisation only")
    now = c.clock()
    return c.services.organisations.view(c.services.bond.get(name, now), now)


@router.get("/reputation/domain/{domain}", responses=error_responses(400),
            summary="Reputation of a registered domain (complaints about the mail that advertises it)")
def domain(request: Request, domain: str = Path(max_length=253)) -> dict[str, Any]:
    c = ctx(request)
    return c.services.reputation.domain(domain, c.clock())


@router.get("/reputation/{ip}", responses=error_responses(400),
            summary="Reputation of an address: score with confidence, magnitudes, counts, why, history")
def ip(request: Request, ip: str = Path(max_length=64)) -> dict[str, Any]:
    c = ctx(request)
    return c.services.reputation.ip(ip, c.clock())
