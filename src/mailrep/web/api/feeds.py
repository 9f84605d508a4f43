"""Feeds: spamtrap hits (raw messages) and volume telemetry (JSON batches)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator, model_validator

from mailrep.errors import BadInput
from mailrep.intake.service import VolumeItem
from mailrep.net import canonical_ip
from mailrep.roles import Role
from mailrep.web.api.body import check_mail_type, read_limited
from mailrep.web.api.common import IP_DESCRIPTION, IP_PATTERN, MAIL_BODY, error_responses
from mailrep.web.auth import Caller, role
from mailrep.web.context import ctx

router = APIRouter(tags=["feeds"])
MAX_PERIOD = timedelta(days=31)
MAX_COUNT = 10**12


class TrapReceipt(BaseModel):
    id: int
    source_ip: str | None
    duplicate: bool = False


class Volume(BaseModel):
    ip: str = Field(max_length=64, description=IP_DESCRIPTION, examples=["192.0.2.1", "2001:db8::1"],
                    json_schema_extra={"pattern": IP_PATTERN})
    count: int = Field(ge=0, le=MAX_COUNT, description="messages seen from the IP in the period")
    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            v = v.replace(tzinfo=UTC)
        try:
            return v.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValueError("a time outside the representable range") from None

    @model_validator(mode="after")
    def _period(self) -> Volume:
        if self.end < self.start:
            raise ValueError("end is before start")
        if self.end - self.start > MAX_PERIOD:
            raise ValueError(f"a period is at most {MAX_PERIOD.days} days")
        return self


class VolumeReceipt(BaseModel):
    stored: int


@router.post("/trap-hits", status_code=202, response_model=TrapReceipt, openapi_extra=MAIL_BODY,
             responses=error_responses(400, 401, 403, 413, 415, 422, 503),
             summary="A raw message that reached a spamtrap (traced with the operator's mailhosts)")
async def post_trap_hit(
    request: Request, caller: Caller = Depends(role(Role.FEED)),
    trap: str | None = Query(None, max_length=320, description="the trap address (never published)"),
) -> JSONResponse:
    c = ctx(request)
    check_mail_type(request)
    raw = await read_limited(request, c.limits.max_bytes)
    r = await c.intake.submit_trap_hit(caller.id, raw, trap_address=trap)
    return JSONResponse(TrapReceipt(id=r.id, source_ip=r.source_ip, duplicate=r.duplicate).model_dump(),
                        status_code=202)


@router.post("/volume", status_code=202, response_model=VolumeReceipt,
             responses=error_responses(400, 401, 403, 413, 422, 503),
             summary="A batch of volume observations from a participating mail server")
async def post_volume(request: Request, items: list[Volume] = Body(..., max_length=100_000),
                      caller: Caller = Depends(role(Role.FEED))) -> JSONResponse:
    c = ctx(request)
    if len(items) > c.limits.volume_batch_max:
        raise BadInput(f"at most {c.limits.volume_batch_max} items per batch")
    batch = [VolumeItem(canonical_ip(v.ip), v.count, v.start, v.end) for v in items]  # BadIP: 400
    n = await c.intake.submit_volume(caller.id, batch)
    return JSONResponse(VolumeReceipt(stored=n).model_dump(), status_code=202)


