"""The one place where errors become HTTP answers: `{"error": {"code", "message"}}`, or for a
browser (a page outside /api/ asked with `Accept: text/html`) an HTML page in the site's layout.

Handlers are looked up along the exception's MRO, so a new leaf of `MailrepError` gets its
branch's status without touching this table. Request validation errors (bad JSON, a missing
field, a path parameter of the wrong type) come out in the same shape with 422 (400 for a
body that is not JSON at all); an unknown route is a 404, a wrong method a 405, anything
unexpected a 500 that never shows internals.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mailrep import errors
from mailrep.links import API
from mailrep.web.pages.render import TEMPLATES

log = logging.getLogger(__name__)

STATUS: dict[type[errors.MailrepError], HTTPStatus] = {
    errors.TooBig: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    errors.NotMail: HTTPStatus.UNPROCESSABLE_ENTITY,
    errors.BadInput: HTTPStatus.BAD_REQUEST,
    errors.NotAuthenticated: HTTPStatus.UNAUTHORIZED,
    errors.NotAllowed: HTTPStatus.FORBIDDEN,
    errors.NotFound: HTTPStatus.NOT_FOUND,
    errors.Conflict: HTTPStatus.CONFLICT,
    errors.OverQuota: HTTPStatus.TOO_MANY_REQUESTS,
    errors.StorageError: HTTPStatus.SERVICE_UNAVAILABLE,
    errors.MailrepError: HTTPStatus.BAD_REQUEST,
}

_HTTP_CODES = {
    400: "bad_input", 401: "not_authenticated", 403: "not_allowed", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "too_big", 415: "unsupported_media_type",
    422: "invalid", 429: "over_quota",
}


class UnsupportedMediaType(errors.BadInput):
    """This content type is not accepted here."""

    code = "unsupported_media_type"


STATUS[UnsupportedMediaType] = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


def status_of(exc: errors.MailrepError) -> HTTPStatus:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return HTTPStatus.BAD_REQUEST


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not an API client): HTML errors for it."""
    return (not request.url.path.startswith(API + "/") and request.url.path != API
            and "text/html" in request.headers.get("accept", ""))


def html_error(status: int, message: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    title = HTTPStatus(status).phrase
    html = TEMPLATES.get_template("error.html").render(
        status=status, title=title, message=message, path="", caller=None, csrf="")
    return HTMLResponse(html, status_code=status, headers=headers)


def error_response(exc: errors.MailrepError, request: Request | None = None) -> JSONResponse | HTMLResponse:
    status = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == HTTPStatus.UNAUTHORIZED else None
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        headers = {"Retry-After": str(getattr(exc, "retry_after", 60))}
    if request is not None and wants_html(request):
        return html_error(status, exc.message, None if status == HTTPStatus.UNAUTHORIZED else headers)
    return JSONResponse(error_body(exc.code, exc.message), status_code=status, headers=headers)


def _describe(err: dict) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
    return f"{loc}: {err.get('msg', 'invalid')}"


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.MailrepError)
    async def _mailrep(request: Request, exc: errors.MailrepError) -> JSONResponse | HTMLResponse:
        return error_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse | HTMLResponse:
        errs = list(exc.errors())
        if wants_html(request):
            return html_error(400, "The form is incomplete or invalid: "
                              + "; ".join(_describe(e) for e in errs[:5]))
        if any(e.get("type") == "json_invalid" for e in errs):
            return JSONResponse(error_body("bad_json", "the body is not valid JSON: "
                                           + "; ".join(_describe(e) for e in errs[:3])), 400)
        msg = "; ".join(_describe(e) for e in errs[:5]) or "invalid request"
        return JSONResponse(error_body("invalid", msg), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse | HTMLResponse:
        if isinstance(exc.__cause__, errors.MailrepError):  # e.g. TooBig while FastAPI read a JSON body
            return error_response(exc.__cause__, request)
        code = _HTTP_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if wants_html(request):
            message = "There is no such page here." if exc.status_code == 404 else detail
            return html_error(exc.status_code, message, exc.headers)
        return JSONResponse(error_body(code, detail), exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse | HTMLResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if wants_html(request):
            return html_error(500, "Something went wrong on our side; it has been logged.")
        return JSONResponse(error_body("internal", "internal error"), 500)
