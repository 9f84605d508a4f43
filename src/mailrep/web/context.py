"""What every route needs, built once by `create_app` and kept in `app.state.ctx`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from mailrep.clock import Clock
from mailrep.config import Settings
from mailrep.intake.limits import IntakeLimits
from mailrep.intake.service import IntakeService
from mailrep.ratelimit import TokenBucket
from mailrep.services import Services
from mailrep.store.db import Database
from mailrep.web.auth import Authenticator
from mailrep.web.config import WebConfig
from mailrep.web.session import Sessions


@dataclass
class Context:
    settings: Settings
    db: Database
    services: Services
    clock: Clock
    limits: IntakeLimits
    intake: IntakeService
    auth: Authenticator
    web: WebConfig
    delisting_limiter: TokenBucket
    sessions: Sessions
    lookup_limiter: TokenBucket | None  # None: lookups are not limited
    monotonic: Callable[[], float] = time.monotonic


def ctx(request: Request) -> Context:
    return request.app.state.ctx


def client_host(request: Request) -> str:
    """The client's address: the peer, or what a `[web] trusted_proxies` proxy forwarded (the
    server rewrites the peer only for those)."""
    return request.client.host if request.client else "unknown"


def limit_lookup(request: Request) -> None:
    """Take one lookup from the client network's allowance (OverQuota -> 429), if limited."""
    c = ctx(request)
    if c.lookup_limiter is not None:
        c.lookup_limiter.take(c.web.client_network(client_host(request)), c.monotonic())


def delisting_admit(request: Request) -> Callable[[], None]:
    """What `Delisting.request(admit=...)` runs once a request is valid: one of the client's
    delisting requests (OverQuota -> 429), so an invalid request costs nothing."""
    c = ctx(request)
    client = client_host(request)
    return lambda: c.delisting_limiter.take(client, c.monotonic())
