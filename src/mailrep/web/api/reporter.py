"""The calling reporter's own profile: `GET /api/v1/reporter` (reporter token).

Shows what `mailrep reporter show NAME` shows the operator, notably the secret submission
address `submit.<code>@<intake domain>` to forward spam to.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from mailrep.errors import NotAllowed
from mailrep.intake.addresses import SmtpConfig, submit_address
from mailrep.roles import Role
from mailrep.web.api.common import error_responses
from mailrep.web.auth import Caller, role
from mailrep.web.context import ctx

router = APIRouter(tags=["reports"])


class ReporterView(BaseModel):
    name: str
    status: str
    kind: str
    daily_quota: int
    mailhosts: list[str]
    submit_address: str | None


@router.get("/reporter", response_model=ReporterView, responses=error_responses(401, 403),
            summary="Your reporter profile and secret submission address")
def get_reporter(request: Request, caller: Caller = Depends(role(Role.REPORTER))) -> ReporterView:
    rep = caller.reporter
    if rep is None:
        raise NotAllowed("this account has no reporter profile")
    settings = ctx(request).settings
    cfg = SmtpConfig.from_section(settings.section("smtp"), default_domain=settings.zone_base)
    return ReporterView(
        name=caller.account.name, status=rep.status, kind=rep.kind, daily_quota=rep.daily_quota,
        mailhosts=list(rep.mailhosts),
        submit_address=submit_address(rep.submit_code, cfg) if rep.submit_code else None,
    )
