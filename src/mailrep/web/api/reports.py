"""Reporters: submit a spam (`POST /reports`) and see what became of it (`GET /reports/{id}`)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from mailrep import links
from mailrep.errors import NotAllowed, NotFound
from mailrep.intake.service import Submitter
from mailrep.policy.counting import REASONS, Reason
from mailrep.roles import Role
from mailrep.store import reports as store
from mailrep.web.api.body import check_mail_type, read_limited
from mailrep.web.api.common import MAIL_BODY, error_responses, iso
from mailrep.web.auth import BEARER_SECURITY, Caller, authorized, role
from mailrep.web.context import ctx

router = APIRouter(tags=["reports"])
MAX_ID = 2**63 - 1
REASON_DOC = "; ".join(f"`{r}`: {text}" for r, text in REASONS.items())


STATE = ("the report's processing state: `accepted` (stored, its source not yet re-evaluated), "
         "`processed` (its evidence has been weighed), `parked` (set aside with `error`)")
COUNTED = "whether the report counts as evidence against its source (false: too old, no source, ...)"


class ReportReceipt(BaseModel):
    id: int = Field(description="the report's id")
    source_ip: str | None = Field(description="the traced source: the first relay not trusted by you "
                                  "or your mailhosts; null when none was found")
    url: str = Field(description="where to follow the report (`GET /api/v1/reports/{id}`)")
    duplicate: bool = Field(False, description="true when this exact message was reported by you "
                            "before; `id` is then the first report's")
    counted: bool = Field(description="whether this report counts as evidence against `source_ip`")
    reason: Reason | None = Field(description="why it does not count (null when it counts): "
                                       + REASON_DOC)
    detail: str = Field("", description="the reason in a sentence")


class ReportFields(BaseModel):
    id: int
    received_at: str | None = Field(description="when it was stored (ISO 8601, UTC)")
    channel: str = Field(description="how it came: `http`, `smtp` (forwarded), `import`, `fbl`, `trap`")
    source_ip: str | None = Field(description="the traced source; null when none was found")
    state: str = Field(description=STATE)
    counted: bool = Field(description=COUNTED)
    count_reason: Reason | None = Field(description="why it does not count (null when it counts, or "
                                             "for reports stored before reasons were kept): " + REASON_DOC)
    truncated: bool = Field(description="true when only the first part of the message was kept")
    size: int = Field(description="the message size in bytes, as received")
    flags: list[dict[str, Any]] = Field(description="what the trace noticed: `{code, detail}` each")
    error: str | None = Field(description="why the report was parked or is unreadable; null otherwise")


class ReportSummary(ReportFields):
    url: str = Field(description="the report's own URL")


class ReportView(ReportFields):
    trace: dict[str, Any] | None = Field(description="the trace: hops newest first with the trust "
                                         "decision for each, the source and the reason (as `mailrep trace`)")


class ReportPage(BaseModel):
    reports: list[ReportSummary] = Field(description="newest first")
    next: str | None = Field(description="the URL of the next (older) page; null on the last page")


URL_PREFIXES_MAX = 64


def report_url(request: Request, report_id: int) -> str:
    """`links.report_url` under the request's base URL, which is built once per (scheme,
    server, root path, Host header) and kept (at most URL_PREFIXES_MAX of them). Building
    Starlette URL objects on every POST cost about a tenth of the app's CPU for the request."""
    state = request.app.state
    cache: dict[tuple[object, ...], str] | None = getattr(state, "report_url_prefixes", None)
    if cache is None:
        cache = state.report_url_prefixes = {}
    scope = request.scope
    server = scope.get("server")
    key = (scope.get("scheme"), tuple(server) if server else None,
           scope.get("app_root_path", scope.get("root_path")), request.headers.get("host"))
    base = cache.get(key)
    if base is None:
        base = str(request.base_url)
        if len(cache) >= URL_PREFIXES_MAX:
            cache.clear()
        cache[key] = base
    return links.report_url(base, report_id)


def submitter(caller: Caller) -> Submitter:
    rep = caller.reporter
    if rep is None:
        raise NotAllowed("this account has no reporter profile")
    return Submitter(caller.id, rep.mailhosts, rep.daily_quota, rep.status == "active", rep.mailhosts_confirmed)


@router.post(
    "/reports", status_code=202, response_model=ReportReceipt,
    openapi_extra={**MAIL_BODY, "security": BEARER_SECURITY},
    responses=error_responses(400, 401, 403, 413, 415, 422, 429, 503),
    summary="Submit one spam (raw message); answered after the report is durably stored",
    description="The receipt says whether the report counts as evidence and, when not, why (`reason`). "
                "Over the daily quota nothing is stored: 429 with error code `over_quota`.",
)
async def post_report(request: Request) -> JSONResponse:
    c = ctx(request)
    who = submitter(await authorized(request, Role.REPORTER))
    check_mail_type(request)
    raw = await read_limited(request, c.limits.max_bytes)
    receipt = await c.intake.submit_report(who, raw, channel="http")
    url = report_url(request, receipt.id)
    body = ReportReceipt(id=receipt.id, source_ip=receipt.source_ip, url=url, duplicate=receipt.duplicate,
                         counted=receipt.counted, reason=receipt.reason, detail=receipt.detail)
    return JSONResponse(body.model_dump(), status_code=202, headers={"Location": url})


@router.get("/reports", response_model=ReportPage, responses=error_responses(401, 403, 422),
            summary="Your own reports, newest first, a page at a time; filter by state or counted")
def list_reports(
    request: Request, caller: Caller = Depends(role(Role.REPORTER)),
    state: Literal["accepted", "processed", "parked"] | None = Query(None, description=STATE),
    counted: bool | None = Query(None, description=COUNTED),
    before: int | None = Query(None, ge=1, le=MAX_ID, description="the cursor: reports older than this id "
                               "(take it from `next`)"),
    limit: int = Query(50, ge=1, le=500, description="reports per page"),
) -> ReportPage:
    with ctx(request).db.read() as conn:
        rows = store.reporter_reports(conn, caller.id, state=state, counted=counted, before_id=before,
                                      limit=limit + 1)
    page = rows[:limit]
    nxt = None
    if len(rows) > limit:
        nxt = str(request.url.include_query_params(before=page[-1]["id"]))
    return ReportPage(
        reports=[ReportSummary(
            id=r["id"], received_at=iso(r["received_at"]), channel=r["channel"], source_ip=r["source_ip"],
            state=r["state"], counted=bool(r["counted"]), count_reason=r["count_reason"],
            truncated=bool(r["truncated"]),
            size=int(r["raw_size"]), flags=list(r["flags"] or []), error=r["error"],
            url=report_url(request, r["id"])) for r in page],
        next=nxt,
    )


@router.get("/reports/{report_id}", response_model=ReportView, name="get_report",
            responses=error_responses(401, 403, 404, 422))
def get_report(request: Request, report_id: int = Path(ge=1, le=MAX_ID),
               caller: Caller = Depends(role(Role.REPORTER))) -> ReportView:
    with ctx(request).db.read() as conn:
        row = store.get_report(conn, report_id)
    if row is None or (row["reporter_id"] != caller.id and caller.role != Role.ADMIN):
        raise NotFound(f"no report {report_id} of yours")
    return ReportView(
        id=row["id"], received_at=iso(row["received_at"]), channel=row["channel"],
        source_ip=row["source_ip"], state=row["state"], counted=bool(row["counted"]),
        count_reason=row["count_reason"],
        truncated=bool(row["truncated"]), size=int(row["raw_size"]), flags=list(row["flags"] or []),
        error=row["error"], trace=row["trace_json"],
    )
