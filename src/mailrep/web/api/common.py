"""Small helpers shared by the route modules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    schema = {"type": "object", "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}}}}}
    return {c: {"description": "error", "content": {"application/json": {"schema": schema}}}
            for c in codes}
