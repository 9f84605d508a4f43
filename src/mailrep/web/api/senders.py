"""Bonded senders over HTTP.

    POST /api/v1/senders/{name}/deposits   admin: credit a bond (idempotent by reference)
    GET  /api/v1/senders/me                sender: balance, the window's complaint rate and
                                           allowance, debits with their redacted reports,
                                           disputes, allowlist status
    POST /api/v1/senders/me/disputes       sender: dispute one of its debits, with a reason
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from mailrep.roles import Role
from mailrep.web.api.common import error_responses
from mailrep.web.auth import Caller, role
from mailrep.web.context import ctx

router = APIRouter(tags=["bonded senders"])


class Deposit(BaseModel):
    amount: str = Field(pattern=r"^\d{1,13}(\.\d{1,2})?$", description='decimal text, e.g. "5000.00"')
    reference: str = Field(min_length=1, max_length=120, description="payment reference: a retry counts once")


class Dispute(BaseModel):
    transaction: int = Field(ge=1, description="the debit's ledger transaction id")
    reason: str = Field(min_length=1, max_length=2000)


@router.post("/senders/{name}/deposits", responses=error_responses(400, 401, 403, 404, 409, 422),
             summary="Credit a sender's bond (admin; idempotent by reference)")
def deposit(request: Request, body: Deposit, name: str = Path(max_length=64),
            caller: Caller = Depends(role(Role.ADMIN))) -> dict[str, Any]:
    c = ctx(request)
    return c.services.bond.deposit(name, body.amount, body.reference, c.clock())


@router.get("/senders/me", responses=error_responses(401, 403),
            summary="Your bond: balance, complaint rate, allowance, debits, disputes, allowlist status")
def me(request: Request, caller: Caller = Depends(role(Role.SENDER))) -> dict[str, Any]:
    c = ctx(request)
    return c.services.bond.me(caller.account, c.clock())


@router.post("/senders/me/disputes", status_code=201, responses=error_responses(400, 401, 403, 404, 409, 422),
             summary="Dispute one of your debits, with a reason")
def dispute(request: Request, body: Dispute, caller: Caller = Depends(role(Role.SENDER))) -> dict[str, Any]:
    c = ctx(request)
    return c.services.bond.dispute(caller.account, body.transaction, body.reason, c.clock())
