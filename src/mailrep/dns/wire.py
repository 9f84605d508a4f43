"""The DNS wire codec: a reading cursor that raises FormError on any over-read, and name encoding.

Only what the query path needs: header, question, resource-record headers (to find the OPT
record), names with backward compression pointers. Replies are assembled in `answer.py` from
these pieces; this module never allocates per-record objects beyond tuples of labels.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from mailrep.dns.constants import (
    HEADER_LEN,
    MAX_LABEL,
    MAX_NAME,
    OPCODE_MASK,
    OPCODE_SHIFT,
    POINTER_MASK,
)
from mailrep.errors import BadInput

_HEADER = struct.Struct("!HHHHHH")
_U16 = struct.Struct("!H")
_RR_FIXED = struct.Struct("!HHIH")  # type, class, ttl, rdlength


class FormError(BadInput):
    """The DNS message is malformed."""


class ShortHeader(FormError):
    """The DNS message is shorter than its 12-byte header."""


class BadName(FormError):
    """A domain name in the message is malformed."""


class Truncated(FormError):
    """The DNS message ends before the data it announces."""


@dataclass(frozen=True, slots=True)
class Header:
    id: int
    flags: int  # the whole 16-bit word: QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode
    qdcount: int
    ancount: int
    nscount: int
    arcount: int

    @property
    def opcode(self) -> int:
        return (self.flags & OPCODE_MASK) >> OPCODE_SHIFT


def read_header(buf: bytes) -> Header:
    if len(buf) < HEADER_LEN:
        raise ShortHeader()
    return Header(*_HEADER.unpack_from(buf, 0))


class Reader:
    """A cursor over one message. Every read checks the bounds and raises FormError past the end."""

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf)

    def remaining(self) -> int:
        return self.end - self.pos

    def u8(self) -> int:
        if self.pos >= self.end:
            raise Truncated()
        v = self.buf[self.pos]
        self.pos += 1
        return v

    def u16(self) -> int:
        if self.pos + 2 > self.end:
            raise Truncated()
        v = (self.buf[self.pos] << 8) | self.buf[self.pos + 1]
        self.pos += 2
        return v

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise Truncated()
        v = self.buf[self.pos : self.pos + n]
        self.pos += n
        return v

    def rr_fixed(self) -> tuple[int, int, int, int]:
        """type, class, ttl, rdlength of a resource record whose owner name was just read."""
        if self.pos + 10 > self.end:
            raise Truncated()
        v = _RR_FIXED.unpack_from(self.buf, self.pos)
        self.pos += 10
        return v

    def name(self) -> tuple[bytes, ...]:
        """The labels of a name, case preserved, root excluded. Pointers must point backwards."""
        buf, end = self.buf, self.end
        pos = self.pos
        labels: list[bytes] = []
        total = 1
        resume = -1  # where the cursor continues after the first pointer
        limit = pos  # a pointer must point strictly before the name that uses it
        while True:
            if pos >= end:
                raise Truncated()
            n = buf[pos]
            if n == 0:
                pos += 1
                break
            if n & POINTER_MASK == POINTER_MASK:
                if pos + 1 >= end:
                    raise Truncated()
                target = ((n & ~POINTER_MASK) << 8) | buf[pos + 1]
                if resume < 0:
                    resume = pos + 2
                if target >= limit or target < HEADER_LEN:
                    raise BadName("compression pointer does not point back into the message body")
                limit = target
                pos = target
                continue
            if n > MAX_LABEL:
                raise BadName("unknown label type")
            total += n + 1
            if total > MAX_NAME:
                raise BadName("name longer than 255 octets")
            if pos + 1 + n > end:
                raise Truncated()
            labels.append(buf[pos + 1 : pos + 1 + n])
            pos += 1 + n
        self.pos = resume if resume >= 0 else pos
        return tuple(labels)


def encode_name(labels: tuple[bytes, ...] | list[bytes]) -> bytes:
    """Uncompressed wire form of a name given as labels (root excluded)."""
    out = bytearray()
    for label in labels:
        if not 0 < len(label) <= MAX_LABEL:
            raise BadName(f"bad label length {len(label)}")
        out.append(len(label))
        out += label
    out.append(0)
    if len(out) > MAX_NAME:
        raise BadName("name longer than 255 octets")
    return bytes(out)


def text_labels(name: str) -> tuple[bytes, ...]:
    """'ns.Bl.Example.' -> (b'ns', b'bl', b'example'); the root is '' or '.'."""
    name = name.strip().rstrip(".")
    if not name:
        return ()
    return tuple(part.encode("ascii").lower() for part in name.split("."))


def pack_u16(v: int) -> bytes:
    return _U16.pack(v)
