"""ISP feedback loops over HTTP: `POST /api/v1/feedback` (feed token), the twin of fbl@<domain>.

The body is one mail as an ISP's feedback loop sends it: an ARF report (RFC 5965, or a provider
variant the trace engine reads), or a mail carrying several reports as attachments. Each
complaint becomes a report of channel `fbl` filed under the feed account, answered 202 only
after every one of them is committed; duplicates answer with the first id.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from mailrep.intake.forward import feedback_reports
from mailrep.intake.service import Submitter
from mailrep.roles import Role
from mailrep.web.api.body import check_mail_type, read_limited
from mailrep.web.api.common import MAIL_BODY, error_responses
from mailrep.web.auth import Caller, role
from mailrep.web.context import ctx

router = APIRouter(tags=["feeds"])


class Complaint(BaseModel):
    id: int
    source_ip: str | None
    duplicate: bool = False


class FeedbackReceipt(BaseModel):
    reports: list[Complaint]


@router.post(
    "/feedback", status_code=202, response_model=FeedbackReceipt, openapi_extra=MAIL_BODY,
    responses=error_responses(400, 401, 403, 413, 415, 422, 429, 503),
    summary="An ISP feedback-loop mail (ARF); one fbl report per complaint, after commit",
)
async def post_feedback(request: Request, caller: Caller = Depends(role(Role.FEED))) -> JSONResponse:
    c = ctx(request)
    check_mail_type(request)
    raw = await read_limited(request, c.limits.max_bytes)
    found = feedback_reports(raw)  # NoFeedbackReport / NotMail are BadInput: 400 in web.errors
    who = Submitter(caller.id, (), c.limits.feed_quota, True)  # [intake] feed_quota per 24 h
    receipts = [await c.intake.submit_report(who, one, channel="fbl") for one in found]
    body = FeedbackReceipt(reports=[Complaint(id=r.id, source_ip=r.source_ip, duplicate=r.duplicate)
                                    for r in receipts])
    return JSONResponse(body.model_dump(), status_code=202)
