"""The FastAPI application: `create_app(settings, services, intake, clock)`.

JSON under /api/v1, OpenAPI at /api/v1/openapi.json, /docs and /redoc; the HTML pages of
`web.pages` everywhere else. The services and the intake
service (trace pool, the one writer, the post-commit processor) are built by the composition
root (`mailrep.run`); the intake service starts with the app's lifespan and is closed with it,
after committing what is queued. Errors become HTTP answers in `web.errors` only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

import mailrep
from mailrep.clock import Clock
from mailrep.config import Settings
from mailrep.intake.service import IntakeService
from mailrep.links import API
from mailrep.ratelimit import TokenBucket
from mailrep.services import Services
from mailrep.web import errors
from mailrep.web.api import deputy, feedback, feeds, public, reporter, reports, reputation, senders
from mailrep.web.auth import Authenticator
from mailrep.web.config import WebConfig
from mailrep.web.context import Context
from mailrep.web.middleware import BodyLimit, SecurityHeaders
from mailrep.web.pages.routes import install as install_pages
from mailrep.web.session import Sessions, session_secret


def create_app(settings: Settings, services: Services, intake: IntakeService, clock: Clock, *,
               on_shutdown: Sequence[Callable[[], Awaitable[None]]] = ()) -> FastAPI:
    """The app over `services`; `intake` starts and closes with its lifespan. `on_shutdown`
    (e.g. the other doors' stops) is awaited in reverse order at shutdown, before the intake
    service commits what is queued and closes; it is read then, so it may still grow."""
    service = intake
    limits = intake.limits
    db = services.db

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            try:
                for stop in reversed(on_shutdown):
                    await stop()
            finally:
                service.close()

    app = FastAPI(
        title="mailrep", version=getattr(mailrep, "__version__", "0.1.0"),
        description="E-mail reputation clearinghouse: spam reports in, listings out, every "
                    "decision explained.",
        openapi_url=f"{API}/openapi.json", docs_url=None, redoc_url=None, lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    web = WebConfig.from_section(settings.section("web"))
    app.state.ctx = Context(
        settings=settings, db=db, services=services, clock=clock, limits=limits, intake=service,
        auth=Authenticator(db), web=web,
        delisting_limiter=TokenBucket(capacity=limits.delisting_per_hour, per_seconds=3600.0),
        sessions=Sessions(session_secret(settings), secure=settings.site_url.startswith("https:")),
        lookup_limiter=TokenBucket(capacity=web.lookups_per_minute, per_seconds=60.0)
        if web.lookups_per_minute else None,
    )
    errors.install(app)
    app.add_middleware(BodyLimit, limit=limits.max_bytes)
    app.add_middleware(SecurityHeaders)

    for module in (reports, feeds, public, deputy, feedback, reporter, reputation, senders):
        app.include_router(module.router, prefix=API)
    install_pages(app)
    return app
