"""Small helpers shared by the route modules."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from fastapi import Request

from mailrep.errors import BadInput
from mailrep.web.app import Context

MAIL_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the raw message, headers and body, as received",
        "content": {
            t: {"schema": {"type": "string", "format": "binary"}}
            for t in ("message/rfc822", "text/plain", "application/octet-stream")
        },
    }
}


class BadIP(BadInput):
    """That is not an IPv4 or IPv6 address."""

    code = "bad_ip"


def ctx(request: Request) -> Context:
    return request.app.state.ctx


def canonical_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise BadIP(f"{text[:60]!r} is not an IPv4 or IPv6 address") from None


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    schema = {"type": "object", "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}}}}}
    return {c: {"description": "error", "content": {"application/json": {"schema": schema}}}
            for c in codes}
