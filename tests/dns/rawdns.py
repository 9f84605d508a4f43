"""A small, independent DNS encoder/decoder for bulk comparisons in tests (dnspython is exact but
too slow for tens of thousands of messages on a busy CI machine). Not used by the server."""

from __future__ import annotations

import struct

TYPES = {"A": 1, "NS": 2, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28, "ANY": 255}
NAMES = {v: k for k, v in TYPES.items()}


def query(name: str, rtype: str, qid: int, *, edns: int | None = 4096, rd: bool = False) -> bytes:
    wire = b"".join(bytes((len(x),)) + x.encode() for x in name.rstrip(".").split(".") if x) + b"\0"
    out = struct.pack("!HHHHHH", qid, 0x0100 if rd else 0, 1, 0, 0, 1 if edns else 0)
    out += wire + struct.pack("!HH", TYPES[rtype], 1)
    if edns:
        out += b"\0" + struct.pack("!HHIH", 41, edns, 0, 0)
    return out


def _name(buf: bytes, pos: int) -> tuple[str, int]:
    labels, end, hops = [], -1, 0
    while True:
        n = buf[pos]
        if n >= 0xC0:
            if end < 0:
                end = pos + 2
            pos = (n & 0x3F) << 8 | buf[pos + 1]
            hops += 1
            if hops > 64:
                raise ValueError("pointer loop")
            continue
        if n == 0:
            break
        labels.append(buf[pos + 1 : pos + 1 + n].decode("latin-1"))
        pos += 1 + n
    return ".".join(labels).lower() + ".", (end if end >= 0 else pos + 1)


def parse(buf: bytes) -> tuple[int, int, int, list[tuple[str, int, str, str]]]:
    """(id, flags, rcode, sorted answer records as (owner, ttl, type, text))."""
    qid, flags, qd, an, _ns, _ar = struct.unpack_from("!HHHHHH", buf)
    pos = 12
    for _ in range(qd):
        _, pos = _name(buf, pos)
        pos += 4
    answers = []
    for _ in range(an):
        owner, pos = _name(buf, pos)
        rtype, _cls, ttl, rdlen = struct.unpack_from("!HHIH", buf, pos)
        pos += 10
        rdata = buf[pos : pos + rdlen]
        if rtype == 1:
            text = ".".join(str(b) for b in rdata)
        elif rtype == 16:
            parts, i = [], 0
            while i < len(rdata):
                parts.append(rdata[i + 1 : i + 1 + rdata[i]])
                i += 1 + rdata[i]
            text = b"".join(parts).decode("latin-1")
        elif rtype == 2:
            text = _name(buf, pos)[0]
        elif rtype == 6:
            m, p = _name(buf, pos)
            r, p = _name(buf, p)
            text = f"{m} {r} " + " ".join(map(str, struct.unpack_from("!IIIII", buf, p)))
        else:
            text = rdata.hex()
        answers.append((owner, ttl, NAMES.get(rtype, str(rtype)), text))
        pos += rdlen
    return qid, flags, flags & 0xF, sorted(answers)
