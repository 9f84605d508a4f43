"""Postfix's policy delegation protocol (SMTPD_POLICY_README), as a pure codec.

A request is `name=value` lines ending with an empty line; the reply is `action=...` and an
empty line. Postfix keeps the connection open for further requests. Unknown attributes are
kept and ignored by the verdict; a line without `=`, or a request that is not
`request=smtpd_access_policy`, is malformed: the server answers `DUNNO` and logs it.
"""

from __future__ import annotations

from enum import StrEnum

from mailrep.errors import BadInput

END = b"\n\n"
MAX_REQUEST = 64 * 1024  # Postfix's own requests stay far below (its attribute limits)
REQUEST_KIND = "smtpd_access_policy"


class Action(StrEnum):
    REJECT = "REJECT"
    DEFER_IF_PERMIT = "DEFER_IF_PERMIT"
    PREPEND = "PREPEND"
    DUNNO = "DUNNO"


class MalformedRequest(BadInput):
    """The policy request could not be read."""


def parse(block: bytes) -> dict[str, str]:
    """Attributes of one request (`block` without the final empty line, or with it)."""
    out: dict[str, str] = {}
    text = block.decode("utf-8", "replace")
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if not line:
            continue
        name, eq, value = line.partition("=")
        if not eq or not name:
            raise MalformedRequest(f"not a name=value line: {line[:80]!r}")
        out[name] = value
    if out.get("request") != REQUEST_KIND:
        raise MalformedRequest(f"request={out.get('request', '')[:40]!r}, not {REQUEST_KIND}")
    return out


def reply(action: Action, text: str = "") -> bytes:
    """The reply block: `action=ACTION text`, then the empty line. Line breaks in `text` are
    flattened (they would end the reply)."""
    text = " ".join(text.split())
    return f"action={action} {text}\n\n".encode() if text else f"action={action}\n\n".encode()


DUNNO_REPLY = reply(Action.DUNNO)
