"""The FastAPI application: `create_app(settings, db, clock)`.

JSON under /api/v1, OpenAPI at /api/v1/openapi.json and /docs. The intake service (trace
pool, the one writer, the post-commit processor) starts with the app's lifespan and is closed
with it, after committing what is queued. Errors become HTTP answers in `web.errors` only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import mailrep
from mailrep.clock import Clock, system_clock
from mailrep.config import Settings
from mailrep.intake.limits import IntakeLimits
from mailrep.intake.service import IntakeService
from mailrep.links import API
from mailrep.ratelimit import TokenBucket
from mailrep.store.db import Database
from mailrep.web import errors
from mailrep.web.api import deputy, feedback, feeds, public, reporter, reports
from mailrep.web.auth import Authenticator
from mailrep.web.context import Context
from mailrep.web.middleware import BodyLimit


def create_app(settings: Settings, db: Database, clock: Clock | None = None, *,
               limits: IntakeLimits | None = None, intake: IntakeService | None = None) -> FastAPI:
    clock = clock or system_clock
    limits = limits or IntakeLimits.from_section(settings.section("intake"))
    service = intake or IntakeService(db, limits, clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
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
        settings=settings, db=db, clock=clock, limits=limits, intake=service,
        auth=Authenticator(db),
        delisting_limiter=TokenBucket(capacity=limits.delisting_per_hour, per_seconds=3600.0),
    )
    errors.install(app)
    app.add_middleware(BodyLimit, limit=limits.max_bytes)

    for module in (reports, feeds, public, deputy, feedback, reporter):
        app.include_router(module.router, prefix=API)
    return app
