"""ASGI middleware of the app: `BodyLimit`."""

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
