"""The sender dashboard (SNDS-like): per IP of the signed-in sender's networks, per day, volume,
complaint rate, trap hits and a filter colour; the same rows as CSV."""

from __future__ import annotations

import csv
import io
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


def _data(request: Request) -> tuple[Any, Any, dict[str, Any], list[dict[str, Any]]] | None:
    c = ctx(request)
    session = c.sessions.read(request)
    if session is None or session.token_hash is None:
        return None
    caller = signed_in(request, session)
    if caller is None:
        raise NotAuthenticated("sign in with a sender token first")
    if caller.role != Role.SENDER:
        raise NotAllowed(f"the sender dashboard is for senders, not {caller.role}s")
    now = c.clock()
    sender = c.services.bond.get(caller.account.name, now)
    rows = views.sender_rows(c.services.reputation.ip_days(sender["networks"], now, DAYS))
    return session, caller, sender, rows


@router.get("/sender", response_class=HTMLResponse)
def dashboard(request: Request) -> Response:
    got = _data(request)
    if got is None:
        return RedirectResponse("/login?next=/sender", status_code=303)
    session, caller, sender, rows = got
    return page(request, "sender.html", caller=caller, session=session, sender=sender, rows=rows, days=DAYS,
                rule=views.FILTER_RULE)


@router.get("/sender.csv")
def dashboard_csv(request: Request) -> Response:
    got = _data(request)
    if got is None:
        return RedirectResponse("/login?next=/sender", status_code=303)
    _, _, sender, rows = got
    out = io.StringIO()
    w = csv.DictWriter(out, CSV_FIELDS, extrasaction="ignore", lineterminator="\r\n")
    w.writeheader()
    w.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="mailrep-{sender["name"]}.csv"'})
