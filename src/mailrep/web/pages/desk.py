"""The deputies' desk: the delisting queue (approve / deny with a reason), manual list / delist /
exempt with a reason, and the policy's explanation of any address."""

from __future__ import annotations

import json

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailrep.errors import BadInput, NotAllowed, NotAuthenticated
from mailrep.net import canonical_ip
from mailrep.roles import STAFF_ROLES
from mailrep.web.api.public import PUBLIC_ID
from mailrep.web.auth import Caller
from mailrep.web.context import ctx
from mailrep.web.pages.render import page, signed_in
from mailrep.web.session import Session

router = APIRouter(include_in_schema=False)
ACTIONS = ("list", "delist", "exempt", "unexempt")


def _staff(request: Request, session: Session | None) -> Caller:
    caller = signed_in(request, session)
    if caller is None:
        raise NotAuthenticated("sign in with a deputy token first")
    if caller.role not in STAFF_ROLES:
        raise NotAllowed(f"the desk is for deputies, not {caller.role}s")
    return caller


def _desk(request: Request, session: Session, caller: Caller, *, notice: str | None = None,
          explain_ip: str | None = None, status: int = 200) -> HTMLResponse:
    c = ctx(request)
    explained = None
    if explain_ip:
        try:
            explained = json.dumps(c.services.lookup.explain(canonical_ip(explain_ip), c.clock()), indent=2)
        except BadInput as e:
            notice, status = e.message, 400
    return page(request, "desk.html", status=status, caller=caller, session=session, notice=notice,
                queue=c.services.delisting.find(status="pending", limit=200), explain_ip=explain_ip,
                explained=explained)


@router.get("/desk", response_class=HTMLResponse)
def desk(request: Request, explain: str | None = Query(None, max_length=64)) -> Response:
    session = ctx(request).sessions.read(request)
    if session is None or session.token_hash is None:
        return RedirectResponse("/login?next=/desk", status_code=303)
    return _desk(request, session, _staff(request, session), explain_ip=(explain or "").strip() or None)


@router.post("/desk/delisting/{public_id}", response_class=HTMLResponse)
def decide(request: Request, public_id: str = Path(pattern=PUBLIC_ID), csrf: str = Form(""),
           decision: str = Form(...), reason: str = Form("", max_length=2000)) -> Response:
    c = ctx(request)
    session = c.sessions.check_csrf(request, csrf)
    caller = _staff(request, session)
    if decision not in ("approve", "deny"):
        raise BadInput("decision is approve or deny")
    r = c.services.delisting.decide(public_id, decision == "approve", reason, caller.account, c.clock())
    return _desk(request, session, caller, notice=f"Request {r['id']} for {r['ip']}: {r['status']}.")


@router.post("/desk/manual", response_class=HTMLResponse)
def manual(request: Request, csrf: str = Form(""), action: str = Form(...),
           key: str = Form(..., max_length=64), reason: str = Form("", max_length=2000)) -> Response:
    c = ctx(request)
    session = c.sessions.check_csrf(request, csrf)
    caller = _staff(request, session)
    if action not in ACTIONS:
        raise BadInput(f"action is one of {', '.join(ACTIONS)}")
    c.services.blocklist.manual(action, key.strip(), reason, caller.account, c.clock())
    return _desk(request, session, caller, notice=f"{action} {key.strip()}: done.")
