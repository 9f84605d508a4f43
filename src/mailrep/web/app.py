"""The FastAPI application: `create_app(settings, services, intake, clock)`.

JSON under /api/v1, OpenAPI at /api/v1/openapi.json and /docs. The services and the intake
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
from mailrep.web.api import deputy, feedback, feeds, public, reporter, reports, reputation
from mailrep.web.auth import Authenticator
from mailrep.web.context import Context
from mailrep.web.middleware import BodyLimit


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
        openapi_url=f"{API}/openapi.json", docs_url="/docs", redoc_url=None, lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.ctx = Context(
        settings=settings, db=db, services=services, clock=clock, limits=limits, intake=service,
        auth=Authenticator(db),
        delisting_limiter=TokenBucket(capacity=limits.delisting_per_hour, per_seconds=3600.0),
    )
    errors.install(app)
    app.add_middleware(BodyLimit, limit=limits.max_bytes)

    for module in (reports, feeds, public, deputy, feedback, reporter, reputation):
        app.include_router(module.router, prefix=API)
    return app
