"""The public pages: home, lookup (the TXT record's link), delisting requests, statistics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from mailrep.errors import BadInput
from mailrep.net import canonical_ip
from mailrep.web.api.public import PUBLIC_ID
from mailrep.web.context import client_host, ctx, delisting_admit, limit_lookup
from mailrep.web.pages import charts, views
from mailrep.web.pages.render import page, signed_in

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    c = ctx(request)
    session = c.sessions.read(request)
    return page(request, "home.html", caller=signed_in(request, session), session=session,
                headline=c.services.stats.headline(c.clock()))


@router.get("/lookup", response_class=HTMLResponse)
def lookup(request: Request, ip: str | None = Query(None, max_length=300),
           domain: str | None = Query(None, max_length=300)) -> HTMLResponse:
    """One address (`?ip=`, the IP zone's TXT link) or one domain (`?domain=`, the dbl. zone's
    TXT link); the form's one field takes either, as `ip`."""
    c = ctx(request)
    session = c.sessions.get(request)
    caller = signed_in(request, session)
    by_domain = bool((domain or "").strip())
    query = ((domain if by_domain else ip) or "").strip()
    if not query:
        return page(request, "lookup.html", caller=caller, session=session, view=None, query="", error=None)
    limit_lookup(request)  # the same allowance per client network as GET /api/v1/lookup
    if not by_domain:
        try:
            key = canonical_ip(query)
        except BadInput:
            pass
        else:
            now = c.clock()
            view = views.public_lookup(c.services.lookup.lookup(key, now))
            rep = c.services.reputation
            panel = views.reputation_panel(rep.ip(key, now), now.date(), rep.config.min_volume)
            # an anonymous visitor gets a session (its cookie) only with a form to protect
            return page(request, "lookup.html", caller=caller,
                        session=session if view["listed"] or not session.new else None,
                        view=view, query=key, error=None, rep=panel, rep_charts=_rep_charts(panel))
    name = views.domain_name(query)
    if name is None:
        error = (f"{query!r} is not a domain name." if by_domain else
                 f"{query!r} is not an IPv4 or IPv6 address, nor a domain name.")
        return page(request, "lookup.html", status=400, caller=caller, session=session, view=None,
                    query=query, error=error)
    now = c.clock()
    dview = views.domain_lookup(c.services.dbl.lookup(name, now), now)
    return page(request, "lookup_domain.html", caller=caller, session=None if session.new else session,
                view=dview, query=name, error=None)


def _rep_charts(p: dict[str, Any]) -> dict[str, Any] | None:
    if not p["has_history"]:
        return None
    span = f"{p['days'][0]} to {p['days'][-1]} (UTC)"
    return {
        "volume": charts.line(p["days"], p["volume"], "Messages per day, last 90 days",
                              f"Accepted-mail volume reported per day, {span}; total {sum(p['volume'])}."),
        "complaints": charts.line(p["days"], p["complaints"], "Complaints per day, last 90 days",
                                  f"Complaints (people's and feedback loops) per day, {span}; "
                                  f"total {sum(p['complaints'])}."),
        "score": charts.signed_line(p["days"], p["scores"], "Reputation score per day, last 90 days",
                                    f"The score from -10 to +10 at each day's last recompute, {span}; "
                                    "gaps are days without a score."),
    }


@router.post("/delisting")
def request_delisting(request: Request, csrf: str = Form(""), ip: str = Form(..., max_length=64),
                      contact_email: str = Form(..., max_length=320),
                      explanation: str = Form(..., max_length=5000)) -> RedirectResponse:
    c = ctx(request)
    c.sessions.check_csrf(request, csrf)
    r = c.services.delisting.request(canonical_ip(ip), contact_email, explanation, c.clock(),
                                     client_addr=client_host(request), admit=delisting_admit(request))
    return RedirectResponse(f"/delisting/{r['id']}", status_code=303)


@router.get("/delisting/{public_id}", response_class=HTMLResponse)
def delisting_status(request: Request, public_id: str = Path(pattern=PUBLIC_ID)) -> HTMLResponse:
    c = ctx(request)
    session = c.sessions.read(request)
    return page(request, "delisting.html", caller=signed_in(request, session), session=session,
                req=c.services.delisting.get(public_id))


def _series(request: Request) -> dict[str, Any]:
    c = ctx(request)
    return c.services.stats.series(c.clock())


@router.get("/stats.json")
def stats_json(request: Request) -> dict[str, Any]:
    """The figures of the /stats page."""
    return _series(request)


@router.get("/stats", response_class=HTMLResponse)
def stats(request: Request) -> HTMLResponse:
    s = _series(request)
    days = s["days"]
    drawn = {
        "listed": charts.line(days, [d["listed"] for d in s["listed"]], "Listings in force per day"),
        "reports": charts.stacked_bars(days, {ch: [d[ch] for d in s["reports"]] for ch in s["channels"]},
                                       "Reports per day by channel"),
        "networks": charts.horizontal_bars([(n["network"], n["listed"]) for n in s["top_networks"]],
                                           "Listed addresses per /24 network"),
    }
    session = ctx(request).sessions.read(request)
    return page(request, "stats.html", caller=signed_in(request, session), session=session, s=s, charts=drawn)
