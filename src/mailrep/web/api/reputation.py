"""Sender reputation (public): an IP, its network, a domain; score, confidence, magnitudes,
counts per day and month, explanation and daily history. No data: 200 with `score: null`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request

from mailrep.web.api.common import error_responses
from mailrep.web.context import ctx

router = APIRouter(tags=["public"])


@router.get("/reputation/network/{cidr:path}", responses=error_responses(400),
            summary="Reputation of a network (/24 IPv4, /48 IPv6; a narrower one gets its covering network)")
def network(request: Request, cidr: str = Path(max_length=64)) -> dict[str, Any]:
    c = ctx(request)
    return c.services.reputation.network(cidr, c.clock())


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
