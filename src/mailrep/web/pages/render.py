"""Rendering a page: the Jinja2 environment (autoescaping everything) and the per-request values
every template gets: the signed-in caller, the CSRF token of the session, the page's path."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from mailrep.errors import NotAuthenticated
from mailrep.web.auth import Caller
from mailrep.web.context import ctx
from mailrep.web.session import Session

TEMPLATES = Environment(
    loader=PackageLoader("mailrep.web.pages", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
)


def when(value: str | datetime | None) -> str:
    """An ISO time as people read it: `2026-12-05 14:03 UTC`; empty for None."""
    if value is None:
        return ""
    d = datetime.fromisoformat(value) if isinstance(value, str) else value
    return d.strftime("%Y-%m-%d %H:%M UTC")


TEMPLATES.filters["when"] = when


def _caller_cached(request: Request, session: Session | None) -> tuple[Caller | None, bool]:
    """(caller, known): known is False when the token hash must be read from the database."""
    if session is None or session.token_hash is None:
        return None, True
    hit = ctx(request).auth.cached_key(session.token_hash)
    return hit, hit is not None


def _by_hash(request: Request, token_hash: str) -> Caller | None:
    try:
        return ctx(request).auth.by_hash(token_hash)
    except NotAuthenticated:  # revoked token or suspended account: signed out
        return None


def signed_in(request: Request, session: Session | None) -> Caller | None:
    """The caller of the session (from a sync route: may read the database)."""
    caller, known = _caller_cached(request, session)
    if known or session is None or session.token_hash is None:
        return caller
    return _by_hash(request, session.token_hash)


async def signed_in_async(request: Request, session: Session | None) -> Caller | None:
    caller, known = _caller_cached(request, session)
    if known or session is None or session.token_hash is None:
        return caller
    return await asyncio.to_thread(_by_hash, request, session.token_hash)


def page(request: Request, template: str, *, status: int = 200, session: Session | None = None,
         caller: Caller | None = None, **values: Any) -> HTMLResponse:
    """Render `template` with `values`; a session given gets its CSRF token (`csrf`) into the
    page and its cookie set when it is new."""
    sessions = ctx(request).sessions
    html = TEMPLATES.get_template(template).render(
        path=request.url.path, caller=caller, csrf=sessions.csrf_token(session) if session else "",
        **values)
    response = HTMLResponse(html, status_code=status)
    if session is not None:
        sessions.save(response, session)
    return response
