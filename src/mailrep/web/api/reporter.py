"""The calling reporter's own profile: `GET /api/v1/reporter` (reporter token), and its mail
hosts: `PUT /api/v1/reporter/mailhosts` with `{"mailhosts": [...]}`.

Shows what `mailrep reporter show NAME` shows the operator, notably the secret submission
address `submit.<code>@<intake domain>` to forward spam to. Setting the mail hosts confirms
them (see `services.accounts.Accounts.set_mailhosts`): the reporter's reports of the policy
window are traced and decided again, and no source of its reports is a probable forwarder.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, StringConstraints

from mailrep.errors import NotAllowed
from mailrep.intake.addresses import SmtpConfig, submit_address
from mailrep.roles import Role
from mailrep.services.accounts import MAX_MAILHOSTS
from mailrep.store.accounts import Account, Reporter
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
    mailhosts_confirmed: bool = Field(description="you set your mail hosts yourself: no source of your "
                                      "reports is taken for a forwarder of yours")
    submit_address: str | None


MailHost = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class MailHosts(BaseModel):
    mailhosts: list[MailHost] = Field(
        max_length=MAX_MAILHOSTS,
        description="your own relays, as `mailrep trace --mailhosts` takes them: CIDR networks, IP "
                    "addresses, host names (`mx.example.com`), domains (`*.example.com`, `.example.com`); "
                    "an empty list clears them",
        examples=[["198.51.100.0/24", "mx.example.net", "*.forwarder.example"]])


@router.get("/reporter", response_model=ReporterView, responses=error_responses(401, 403),
            summary="Your reporter profile and secret submission address")
def get_reporter(request: Request, caller: Caller = Depends(role(Role.REPORTER))) -> ReporterView:
    rep = caller.reporter
    if rep is None:
        raise NotAllowed("this account has no reporter profile")
    return _view(request, caller.account, rep)


def _view(request: Request, account: Account, rep: Reporter) -> ReporterView:
    settings = ctx(request).settings
    cfg = SmtpConfig.from_section(settings.section("smtp"), default_domain=settings.zone_base)
    return ReporterView(
        name=account.name, status=rep.status, kind=rep.kind, daily_quota=rep.daily_quota,
        mailhosts=list(rep.mailhosts), mailhosts_confirmed=rep.mailhosts_confirmed,
        submit_address=submit_address(rep.submit_code, cfg) if rep.submit_code else None,
    )


@router.put("/reporter/mailhosts", response_model=ReporterView, responses=error_responses(400, 401, 403, 413, 422),
            summary="Set your mail hosts; your recent reports are traced and decided again",
            description="Validated as the trace configuration is (400 names a bad entry). Setting them "
                        "also confirms them: a source that other reporters' traces show receiving their "
                        "mail (`probable_forwarder`) counts in your reports from then on. Your reports of "
                        "the policy window are traced again with the new list before the answer.")
async def put_mailhosts(request: Request, body: MailHosts,
                        caller: Caller = Depends(role(Role.REPORTER))) -> ReporterView:
    if caller.reporter is None:
        raise NotAllowed("this account has no reporter profile")
    c = ctx(request)
    rep = await asyncio.to_thread(c.services.accounts.set_mailhosts, caller.id, body.mailhosts, caller.account,
                                  c.clock(), redecide=c.intake.redecide)
    c.auth.forget(caller.id)
    return _view(request, caller.account, rep)
