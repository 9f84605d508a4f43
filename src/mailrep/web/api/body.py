"""Reading a request body without trusting it: the size limit holds while reading."""

from __future__ import annotations

from fastapi import Request

from mailrep.errors import TooBig
from mailrep.web.errors import UnsupportedMediaType

MAIL_TYPES = frozenset({"message/rfc822", "text/plain", "application/octet-stream"})


def check_mail_type(request: Request) -> None:
    ctype = request.headers.get("content-type", "message/rfc822").split(";", 1)[0].strip().lower()
    if ctype and ctype not in MAIL_TYPES:
        raise UnsupportedMediaType(f"send the raw message as one of {sorted(MAIL_TYPES)}, not {ctype}")


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, or `TooBig` as soon as more than `limit` bytes are announced or arrive."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise TooBig(f"the body is {int(declared)} bytes; the limit is {limit}")
        except ValueError:
            pass
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise TooBig(f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
