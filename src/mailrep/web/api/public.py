"""The public: look an address up, ask for a delisting, follow the request (no token)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from mailrep.net import canonical_ip
from mailrep.web.api.common import IP_DESCRIPTION, IP_PATH, IP_PATTERN, error_responses
from mailrep.web.api.schemas import LookupView
from mailrep.web.context import client_host, ctx, delisting_admit, limit_lookup

router = APIRouter(tags=["public"])

PUBLIC_ID = r"^[A-Za-z0-9_-]{1,32}$"


class DelistingRequestIn(BaseModel):
    ip: str = Field(max_length=64, description="the listed address (409 `not_listed` when it is not "
                    "listed): " + IP_DESCRIPTION,
                    examples=["192.0.2.1"], json_schema_extra={"pattern": IP_PATTERN})
    contact_email: str = Field(max_length=320, description="where staff may reach you (never published); "
                               "an address such as `postmaster@example.net`, else 400")
    explanation: str = Field(max_length=5000, description="what was wrong and what was fixed "
                             "(1 to 5000 characters, not only white space, else 400)")


class DelistingStatus(BaseModel):
    id: str
    ip: str
    status: str
    created_at: str | None
    decided_at: str | None
    decision_reason: str | None
    url: str | None = None


@router.get("/lookup/{ip}", response_model=LookupView, responses=error_responses(400, 429),
            summary="Is this address listed, since when, until when, and why (rate-limited per client network)")
def lookup(request: Request, ip: str = IP_PATH) -> dict[str, Any]:
    c = ctx(request)
    limit_lookup(request)
    return c.services.lookup.lookup(canonical_ip(ip), c.clock())


@router.get("/lookup/domain/{domain}", responses=error_responses(400),
            summary="Is this domain on dbl., since when, until when, and why")
def lookup_domain(request: Request, domain: str = Path(max_length=253)) -> dict[str, Any]:
    c = ctx(request)
    return c.services.dbl.lookup(domain, c.clock())


@router.post("/delisting-requests", status_code=201, response_model=DelistingStatus,
             responses=error_responses(400, 409, 422, 429),
             summary="Ask for a listed address to be delisted (rate-limited per client address)",
             description="Only an address the zone publishes (listed itself or inside a listed network) "
                         "can be the subject of a request: any other gets 409 `not_listed`.")
def request_delisting(request: Request, body: DelistingRequestIn) -> JSONResponse:
    c = ctx(request)
    r = c.services.delisting.request(
        canonical_ip(body.ip), body.contact_email, body.explanation, c.clock(),
        client_addr=client_host(request), admit=delisting_admit(request))
    url = str(request.url_for("delisting_status", public_id=r["id"]))
    return JSONResponse({**r, "url": url}, status_code=201, headers={"Location": url})


@router.get("/delisting-requests/{public_id}", name="delisting_status", response_model=DelistingStatus,
            responses=error_responses(404, 422))
def delisting_status(request: Request, public_id: str = Path(pattern=PUBLIC_ID)) -> dict[str, Any]:
    return ctx(request).services.delisting.get(public_id)
