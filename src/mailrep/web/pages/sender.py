"""The sender dashboard (SNDS-like) of the signed-in sender's organisation: its score over its
addresses with the explanation; per IP of its networks and per domain it enrolled, per day,
volume, complaint rate, trap hits and a filter colour; the same rows as CSV (/sender.csv for
the addresses, /sender-domains.csv for the domains)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailrep.errors import NotAllowed, NotAuthenticated
from mailrep.roles import Role
from mailrep.web.context import ctx
from mailrep.web.pages import views
from mailrep.web.pages.render import page, signed_in

router = APIRouter(include_in_schema=False)
DAYS = 30
CSV_FIELDS = ("day", "ip", "volume", "complaints", "complaint_rate", "trap_hits", "dns_queries", "colour")
DOMAIN_CSV_FIELDS = ("day", "domain", "volume", "complaints", "complaint_rate", "trap_hits", "colour")


def _sender(request: Request) -> tuple[Any, Any, dict[str, Any]] | None:
    c = ctx(request)
    session = c.sessions.read(request)
    if session is None or session.token_hash is None:
        return None
    caller = signed_in(request, session)
    if caller is None:
        raise NotAuthenticated("sign in with a sender token first")
    if caller.role != Role.SENDER:
        raise NotAllowed(f"the sender dashboard is for senders, not {caller.role}s")
    return session, caller, c.services.bond.get(caller.account.name, c.clock())


def _ip_rows(request: Request, sender: dict[str, Any]) -> list[dict[str, Any]]:
    c = ctx(request)
    return views.sender_rows(c.services.reputation.ip_days(sender["networks"], c.clock(), DAYS))


def _domain_rows(request: Request, sender: dict[str, Any]) -> list[dict[str, Any]]:
    c = ctx(request)
    return views.sender_rows(c.services.organisations.domain_days(sender["domains"], c.clock(), DAYS))


def _csv(rows: list[dict[str, Any]], fields: tuple[str, ...], name: str) -> Response:
    out = io.StringIO()
    w = csv.DictWriter(out, fields, extrasaction="ignore", lineterminator="\r\n")
    w.writeheader()
    w.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@router.get("/sender", response_class=HTMLResponse)
def dashboard(request: Request) -> Response:
    got = _sender(request)
    if got is None:
        return RedirectResponse("/login?next=/sender", status_code=303)
    session, caller, sender = got
    c = ctx(request)
    org = c.services.organisations.view(sender, c.clock(), DAYS)
    return page(request, "sender.html", caller=caller, session=session, sender=sender, org=org,
                rows=_ip_rows(request, sender), domain_rows=_domain_rows(request, sender), days=DAYS,
                rule=views.FILTER_RULE)


def _export(request: Request, rows_of: Callable[[Request, dict[str, Any]], list[dict[str, Any]]],
            fields: tuple[str, ...], suffix: str) -> Response:
    got = _sender(request)
    if got is None:
        return RedirectResponse("/login?next=/sender", status_code=303)
    sender = got[2]
    return _csv(rows_of(request, sender), fields, f"mailrep-{sender['name']}{suffix}")


@router.get("/sender.csv")
def dashboard_csv(request: Request) -> Response:
    return _export(request, _ip_rows, CSV_FIELDS, "")


@router.get("/sender-domains.csv")
def domains_csv(request: Request) -> Response:
    return _export(request, _domain_rows, DOMAIN_CSV_FIELDS, "-domains")
