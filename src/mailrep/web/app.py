"""The FastAPI application: `create_app(settings, services, intake, clock)`.

JSON under /api/v1, OpenAPI at /api/v1/openapi.json and /docs. The services and the intake
service (trace pool, the one writer, the post-commit processor) are built by the composition
root (`mailrep.run`); the intake service starts with the app's lifespan and is closed with it,
after committing what is queued. Errors become HTTP answers in `web.errors` only.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import FastAPI

import mailrep
from mailrep.config import Settings
from mailrep.errors import TooBig
from mailrep.intake.limits import IntakeLimits
from mailrep.intake.service import IntakeService
from mailrep.services import Services
from mailrep.store.db import Database
from mailrep.web import errors
from mailrep.web.auth import Authenticator
from mailrep.web.ratelimit import TokenBucket

Clock = Callable[[], datetime]
API = "/api/v1"


@dataclass
class Context:
    settings: Settings
    db: Database
    services: Services
    clock: Clock
    limits: IntakeLimits
    intake: IntakeService
    auth: Authenticator
    delisting_limiter: TokenBucket
    monotonic: Callable[[], float] = time.monotonic


class BodyLimit:
    """ASGI middleware: no request body may exceed `limit` bytes, streamed or declared."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise TooBig(f"the body is over the limit of {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


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

    from mailrep.web.routes import deputy, feeds, public, reports

    for module in (reports, feeds, public, deputy):
        app.include_router(module.router, prefix=API)
    from mailrep.web import feedback, reporter  # POST /feedback (ARF), GET /reporter

    app.include_router(feedback.router, prefix=API)
    app.include_router(reporter.router, prefix=API)
    return app
