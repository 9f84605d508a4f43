"""`install(app)`: the pages' routes, /docs and /redoc, and the static files."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from mailrep.links import API
from mailrep.web.pages import account, desk, public, sender
from mailrep.web.pages.render import TEMPLATES

STATIC = Path(__file__).resolve().parent / "static"


def install(app: FastAPI) -> None:
    spec_url = f"{API}/openapi.json"

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(TEMPLATES.get_template("docs.html").render(spec_url=spec_url))

    @app.get("/redoc", include_in_schema=False, response_class=HTMLResponse)
    def redoc(request: Request) -> HTMLResponse:
        return HTMLResponse(TEMPLATES.get_template("redoc.html").render(spec_url=spec_url))

    for module in (public, account, desk, sender):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
