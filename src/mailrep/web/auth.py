"""Bearer tokens -> the calling account, with its role checked (401 / 403 via errors.py).

Authentication results are cached for a few seconds per token hash, so a busy reporter
costs one sha256 per request instead of a database round trip; a revoked token stops
working within `ttl` seconds. The dependency is async: a cache hit is answered on the event
loop, only a miss goes to a thread for its database read.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mailrep.errors import NotAllowed, NotAuthenticated, NotFound
from mailrep.roles import Role
from mailrep.store import accounts
from mailrep.store.db import Database

bearer = HTTPBearer(auto_error=False, description="an API token: `Authorization: Bearer mr_...`")


@dataclass(frozen=True, slots=True)
class Caller:
    account: accounts.Account
    reporter: accounts.Reporter | None = None

    @property
    def id(self) -> int:
        return self.account.id

    @property
    def role(self) -> str:
        return self.account.role


class Authenticator:
    def __init__(self, db: Database, *, ttl: float = 5.0, max_entries: int = 10_000) -> None:
        self.db = db
        self.ttl = ttl
        self.max_entries = max_entries
        self._cache: dict[str, tuple[Caller, float]] = {}
        self._lock = threading.Lock()

    def cached(self, secret: str) -> Caller | None:
        """The caller from the cache, or None when it must be read from the database."""
        return self.cached_key(accounts.hash_token(secret))

    def cached_key(self, key: str) -> Caller | None:
        with self._lock:
            hit = self._cache.get(key)
        return hit[0] if hit and hit[1] > time.monotonic() else None

    def forget(self, account_id: int) -> None:
        """Drop the cached callers of an account (its profile changed)."""
        with self._lock:
            for key in [k for k, (c, _) in self._cache.items() if c.id == account_id]:
                del self._cache[key]

    def __call__(self, secret: str) -> Caller:
        return self.by_hash(accounts.checked_hash(secret))

    def by_hash(self, key: str) -> Caller:
        """The caller of the token whose hash is `key` (a browser session keeps only the hash)."""
        hit = self.cached_key(key)
        if hit is not None:
            return hit
        now = time.monotonic()
        with self.db.read() as conn:
            account = accounts.authenticate_hash(conn, key)
            reporter = None
            if account.role == Role.REPORTER:
                try:
                    reporter = accounts.get_reporter(conn, account.id)
                except NotFound:
                    reporter = None
        caller = Caller(account, reporter)
        with self._lock:
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
            self._cache[key] = (caller, now + self.ttl)
        return caller


def token_key(secret: str) -> str:
    """What a browser session keeps of a token: its hash (NotAuthenticated for a non-token)."""
    return accounts.checked_hash(secret)


BEARER_SECURITY: list[dict[str, list[str]]] = [{bearer.scheme_name: []}]
"""The OpenAPI security requirement `bearer` adds to a route; for routes that authorize in
their body (`authorized`) instead of through a dependency."""


async def _authenticate(request: Request, secret: str | None) -> Caller:
    if not secret:
        raise NotAuthenticated("send `Authorization: Bearer <token>`")
    auth: Authenticator = request.app.state.ctx.auth
    return auth.cached(secret) or await asyncio.to_thread(auth, secret)


def _check_role(caller: Caller, allowed: tuple[Role, ...]) -> Caller:
    if caller.role not in allowed and caller.role != Role.ADMIN:
        raise NotAllowed(f"this needs a {' or '.join(allowed)} token, not {caller.role}")
    return caller


def bearer_secret(request: Request) -> str | None:
    """The token of `Authorization: Bearer <token>`, read as `HTTPBearer` reads it; None when
    the header is missing or names another scheme."""
    scheme, _, secret = (request.headers.get("authorization") or "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else None


async def authorized(request: Request, *allowed: Role) -> Caller:
    """What the `role(*allowed)` dependency gives, called from a route's body: FastAPI's
    dependency solving (three levels for `role`) costs more CPU than the rest of the hot
    POST /reports route. Such a route declares `openapi_extra={"security": BEARER_SECURITY}`."""
    return _check_role(await _authenticate(request, bearer_secret(request)), allowed)


def role(*allowed: Role) -> Callable[..., Awaitable[Caller]]:
    """A dependency: the caller, who must hold one of `allowed` roles (admin always may)."""

    async def dependency(request: Request, cred: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Caller:
        # `bearer` (auto_error=False) gives None for a missing header or another scheme
        return _check_role(await _authenticate(request, cred.credentials if cred else None), allowed)

    return dependency
