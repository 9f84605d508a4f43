"""Signing in with an API token, and the reporter's pages: paste a spam, preview, send, list."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailrep import links
from mailrep.errors import BadInput, NotAuthenticated
from mailrep.roles import Role
from mailrep.trace.message import read_message
from mailrep.web.api.reports import submitter
from mailrep.web.auth import Caller, token_key
from mailrep.web.context import ctx
from mailrep.web.pages import views
from mailrep.web.pages.render import page, signed_in, signed_in_async
from mailrep.web.session import Session

router = APIRouter(include_in_schema=False)
SAFE_NEXT = ("/report", "/reports", "/desk", "/sender", "/lookup", "/stats", "/")


def _next_for(caller: Caller, wanted: str) -> str:
    if wanted in SAFE_NEXT:
        return wanted
    if caller.role == Role.SENDER:
        return "/sender"
    return "/desk" if caller.role in (Role.DEPUTY, Role.ADMIN) else "/report"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = Query("", max_length=200)) -> HTMLResponse:
    c = ctx(request)
    session = c.sessions.get(request)
    return page(request, "login.html", caller=signed_in(request, session), session=session,
                next=next, error=None)


@router.post("/login")
def login(request: Request, csrf: str = Form(""), token: str = Form("", max_length=400),
          next: str = Form("", max_length=200)) -> Response:
    c = ctx(request)
    session = c.sessions.check_csrf(request, csrf)
    try:
        key = token_key(token.strip())
        caller = c.auth.by_hash(key)
    except NotAuthenticated:
        return page(request, "login.html", status=401, caller=None, session=session, next=next,
                    error="That token is unknown or revoked.")
    response = RedirectResponse(_next_for(caller, next), status_code=303)
    c.sessions.save(response, c.sessions.start(key))
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    c = ctx(request)
    c.sessions.check_csrf(request, csrf)
    response = RedirectResponse("/", status_code=303)
    c.sessions.save(response, c.sessions.start(None))
    return response


async def _reporter(request: Request) -> tuple[Session | None, Caller | None]:
    session = ctx(request).sessions.read(request)
    caller = await signed_in_async(request, session)
    return session, caller


def _to_login(path: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={path}", status_code=303)


def _require_reporter(caller: Caller | None) -> Caller:
    if caller is None:
        raise NotAuthenticated("sign in with a reporter token first")
    submitter(caller)  # NotAllowed (403) for an account without a reporter profile
    return caller


def _subject(raw: bytes) -> str:
    """The Subject header as sent (shown escaped, never decoded into markup)."""
    return (read_message(raw).decoded("subject") or "")[:300]


@router.get("/report", response_class=HTMLResponse)
async def report_form(request: Request) -> Response:
    session, caller = await _reporter(request)
    if caller is None or session is None:
        return _to_login("/report")
    _require_reporter(caller)
    return page(request, "report.html", caller=caller, session=session, message="", error=None)


@router.post("/report", response_class=HTMLResponse)
async def preview(request: Request, csrf: str = Form(""), message: str = Form(""),
                  file: UploadFile | None = File(None)) -> Response:
    c = ctx(request)
    session = c.sessions.check_csrf(request, csrf)
    caller = _require_reporter(await signed_in_async(request, session))
    raw = await file.read(c.limits.max_bytes + 1) if file is not None and file.filename else b""
    if not raw:
        raw = message.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    try:
        p = await c.intake.preview(submitter(caller), raw)
    except BadInput as e:
        return page(request, "report.html", status=400, caller=caller, session=session,
                    message=message, error=e.message)
    return page(request, "preview.html", caller=caller, session=session, p=p,
                t=views.trace_view(p.prepared.trace), subject=_subject(raw),
                raw_b64=base64.b64encode(raw).decode("ascii"))


@router.post("/report/send", response_class=HTMLResponse)
async def send(request: Request, csrf: str = Form(""), raw: str = Form("")) -> Response:
    c = ctx(request)
    session = c.sessions.check_csrf(request, csrf)
    caller = _require_reporter(await signed_in_async(request, session))
    try:
        body = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput("the message did not come back intact: paste it again") from None
    receipt = await c.intake.submit_report(submitter(caller), body, channel="http")
    url = links.report_url(c.settings.site_url, receipt.id)
    return page(request, "receipt.html", caller=caller, session=session, r=receipt, url=url)


@router.get("/reports", response_class=HTMLResponse)
def my_reports(request: Request, page_no: int = Query(1, alias="page", ge=1, le=100_000)) -> Response:
    c = ctx(request)
    session = c.sessions.read(request)
    caller = signed_in(request, session)
    if caller is None:
        return _to_login("/reports")
    _require_reporter(caller)
    return page(request, "reports.html", caller=caller, session=session,
                page=c.services.reports.of_reporter(caller.id, page=page_no))

