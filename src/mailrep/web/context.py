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
    lookup_limiter: TokenBucket | None  # None: lookups are not limited
    monotonic: Callable[[], float] = time.monotonic


def ctx(request: Request) -> Context:
    return request.app.state.ctx


def client_host(request: Request) -> str:
    """The client's address: the peer, or what a `[web] trusted_proxies` proxy forwarded (the
    server rewrites the peer only for those)."""
    return request.client.host if request.client else "unknown"
