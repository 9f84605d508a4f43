"""Deputies (and admins): review delisting requests; list, delist, exempt with a reason."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from mailrep.roles import Role
from mailrep.web.api.common import IP_PATH, KEY_DESCRIPTION, KEY_PATTERN, error_responses
from mailrep.web.api.public import PUBLIC_ID
from mailrep.web.api.schemas import Explanation, ListingView
from mailrep.web.auth import Caller, role
from mailrep.web.context import ctx

router = APIRouter(tags=["deputies"])
staff = role(Role.DEPUTY)


class Decision(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class ManualAction(BaseModel):
    action: Literal["list", "delist", "exempt", "unexempt"]
    key: str = Field(max_length=64, description=KEY_DESCRIPTION, examples=["192.0.2.1", "192.0.2.0/24"],
                     json_schema_extra={"pattern": KEY_PATTERN})
    reason: str = Field(min_length=1, max_length=2000)


@router.get("/delisting-requests", responses=error_responses(401, 403, 422),
            summary="Delisting requests with contact and explanation (deputies)")
def list_requests(
    request: Request, caller: Caller = Depends(staff),
    status: Literal["pending", "approved", "denied", "all"] = Query("pending"),
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    return ctx(request).services.delisting.find(status=None if status == "all" else status, limit=limit)


def _decide(request: Request, public_id: str, approve: bool, body: Decision, caller: Caller) -> dict[str, Any]:
    c = ctx(request)
    return c.services.delisting.decide(public_id, approve, body.reason, caller.account, c.clock())


@router.post("/delisting-requests/{public_id}/approve", responses=error_responses(400, 401, 403, 404, 409, 422))
def approve(request: Request, body: Decision, public_id: str = Path(pattern=PUBLIC_ID),
            caller: Caller = Depends(staff)) -> dict[str, Any]:
    return _decide(request, public_id, True, body, caller)


@router.post("/delisting-requests/{public_id}/deny", responses=error_responses(400, 401, 403, 404, 409, 422))
def deny(request: Request, body: Decision, public_id: str = Path(pattern=PUBLIC_ID),
         caller: Caller = Depends(staff)) -> dict[str, Any]:
    return _decide(request, public_id, False, body, caller)


@router.post("/manual-actions", response_model=ListingView, responses=error_responses(400, 401, 403, 409, 422),
             summary="List, delist, exempt or unexempt an address or network, with a reason")
def manual_action(request: Request, body: ManualAction, caller: Caller = Depends(staff)) -> dict[str, Any]:
    c = ctx(request)
    return c.services.blocklist.manual(body.action, body.key, body.reason, caller.account, c.clock())


@router.get("/explain/{ip}", response_model=Explanation, responses=error_responses(400, 401, 403),
            summary="The policy's calculation for an address (deputies)")
def explain(request: Request, ip: str = IP_PATH, caller: Caller = Depends(staff)) -> dict[str, Any]:
    c = ctx(request)
    return c.services.lookup.explain(ip, c.clock())
