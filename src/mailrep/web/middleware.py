"""ASGI middleware of the app: `BodyLimit`, `SecurityHeaders`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mailrep.errors import TooBig


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


PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# Swagger UI and ReDoc set inline styles (style attributes, styled-components): allowed there
# only; scripts stay same-origin files everywhere.
VIEWER_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
              "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
              "form-action 'self'; frame-ancestors 'none'")
VIEWERS = frozenset({"/docs", "/redoc"})


class SecurityHeaders:
    """ASGI middleware: the security headers on every HTTP answer, pages and API alike."""

    def __init__(self, app: Any) -> None:
        self.app = app
        common = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
                  (b"x-frame-options", b"DENY")]
        self.page_headers = [*common, (b"content-security-policy", PAGE_CSP.encode())]
        self.viewer_headers = [*common, (b"content-security-policy", VIEWER_CSP.encode())]

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.viewer_headers if scope["path"] in VIEWERS else self.page_headers

        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
