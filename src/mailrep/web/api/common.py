"""Small helpers shared by the route modules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Path

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


IP_PATTERN = r"^[0-9A-Fa-f:.]{2,45}$"
IP_DESCRIPTION = (
    "an IPv4 address in dotted-quad form (`192.0.2.1`, no leading zeros) or an IPv6 address "
    "(`2001:db8::1`); `::ffff:a.b.c.d` is the IPv4 address a.b.c.d. Zone ids (`fe80::1%eth0`), "
    "brackets, ports and white space inside are refused with 400 `bad_ip`")
IP_PATH: Any = Path(max_length=64, description=IP_DESCRIPTION, examples=["192.0.2.1", "2001:db8::1"],
                    json_schema_extra={"pattern": IP_PATTERN})
"""The `{ip}` of a route: documented with the address formats, read by `mailrep.net`."""
KEY_PATTERN = r"^[0-9A-Fa-f:.]{2,45}(/[0-9]{1,3})?$"
KEY_DESCRIPTION = (
    "an IPv4 or IPv6 address (read as every `ip` of the API) or a network in CIDR form (`192.0.2.0/24`, `2001:db8::/48`) "
    "with its host bits zero; a network inside `::ffff:0:0/96` is the IPv4 network. Anything "
    "else is refused with 400 `bad_ip` / `bad_network`")


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    schema = {"type": "object", "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}}}}}
    return {c: {"description": "error", "content": {"application/json": {"schema": schema}}}
            for c in codes}
