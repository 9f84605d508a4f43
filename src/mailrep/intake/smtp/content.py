"""What the SMTP door checks in a mail before it reads it (pure, C-speed byte scans).

    check_wire(raw)                  NUL bytes, bare CR or LF: `MalformedMail` (554 5.6.0)
    check_headers(raw, config)       the header section against the `[smtp]` limits:
                                     `HeaderTooBig` (552 5.3.4) naming the limit
                                         max_header_fields   fields in the section
                                         max_header_bytes    bytes of the section
                                         max_header_line     one field, continuation lines included

A physical line is at most 1000 bytes on the wire (RFC 5321 4.5.3.1.6, refused by the protocol
while it reads, without buffering the line). The header limits hold for the submission and for
each spam attached to it; the trace engine would read only part of a larger header section.
"""

from __future__ import annotations

import re

from mailrep.errors import BadInput, TooBig
from mailrep.intake.addresses import SmtpConfig

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD_START = re.compile(rb"\n(?![ \t])")


class MalformedMail(BadInput):
    """The mail is not valid on the wire (NUL bytes, bare CR or LF)."""

    code = "malformed_mail"


class HeaderTooBig(TooBig):
    """The header section of the mail is over a limit."""

    code = "header_too_big"


def check_wire(raw: bytes) -> None:
    """NUL bytes and bare CR / LF are not mail (RFC 5321 2.3.8, RFC 5322 2.3): `MalformedMail`."""
    nul = raw.find(b"\0")
    if nul >= 0:
        raise MalformedMail(f"NUL byte at offset {nul} (line {_line_of(raw, nul)}): "
                            "mail may not contain NUL (RFC 5322 2.3)")
    crlf = raw.count(b"\r\n")
    if raw.count(b"\n") != crlf or raw.count(b"\r") != crlf:
        at = _bare_line_end(raw)
        raise MalformedMail(f"bare CR or LF at offset {at} (line {_line_of(raw, at)}): "
                            "lines end with CRLF (RFC 5321 2.3.8)")


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def _bare_line_end(raw: bytes) -> int:
    for m in re.finditer(rb"\r\n|\r|\n", raw):
        if m.group() != b"\r\n":
            return m.start()
    return -1


def check_headers(raw: bytes, config: SmtpConfig, *, what: str = "the mail") -> None:
    """`HeaderTooBig` when the header section of `raw` is over one of the `[smtp]` limits."""
    m = _HEADER_END.search(raw)
    end = m.start() if m is not None else len(raw)
    head = raw[:end]
    fields = head.count(b"\n") + 1 - head.count(b"\n ") - head.count(b"\n\t") if head else 0
    if fields > config.max_header_fields:
        raise HeaderTooBig(f"{what} has {fields} header fields; the limit is {config.max_header_fields} "
                           "([smtp] max_header_fields)")
    if end > config.max_header_bytes:
        raise HeaderTooBig(f"the header section of {what} is {end} bytes; the limit is "
                           f"{config.max_header_bytes} ([smtp] max_header_bytes)")
    longest = max((len(f) for f in _FIELD_START.split(head)), default=0)
    if longest > config.max_header_line:
        raise HeaderTooBig(f"{what} has a header field of {longest} bytes (continuation lines "
                           f"included); the limit is {config.max_header_line} ([smtp] max_header_line)")
