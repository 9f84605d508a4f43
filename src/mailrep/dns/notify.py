"""NOTIFY (RFC 1996): tell the secondaries a zone has a new serial so they transfer it now.

    ok = await notify_all("bl.mailrep.test", 42, [("127.0.0.1", 5353)])   # [(target, acked)]

One UDP message per secondary (opcode NOTIFY, AA, the zone's SOA as the question; the
secondary then asks for the SOA itself and transfers when the serial is newer), retried with a growing timeout until the secondary answers
with a NOTIFY response carrying the same ID.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import Sequence

from mailrep.dns.constants import OPCODE_SHIFT, Flag, Opcode, RRClass, RRType
from mailrep.dns.wire import encode_name, text_labels

_HDR = struct.Struct("!HHHHHH")
RETRIES = 3
FIRST_TIMEOUT = 0.5


def notify_message(zone: str, serial: int, qid: int) -> bytes:
    name = encode_name(text_labels(zone))
    flags = int(Opcode.NOTIFY) << OPCODE_SHIFT | int(Flag.AA)
    head = _HDR.pack(qid, flags, 1, 0, 0, 0)
    return head + name + struct.pack("!HH", int(RRType.SOA), int(RRClass.IN))


def is_notify_ack(reply: bytes, qid: int) -> bool:
    if len(reply) < 12:
        return False
    rid, flags = struct.unpack_from("!HH", reply)
    return rid == qid and bool(flags & Flag.QR) and (flags >> OPCODE_SHIFT) & 0xF == Opcode.NOTIFY


def notify_one(zone: str, serial: int, target: tuple[str, int], *, retries: int = RETRIES,
               timeout: float = FIRST_TIMEOUT) -> bool:
    """Blocking: send NOTIFY to one secondary until it acknowledges; True when it did."""
    qid = int.from_bytes(os.urandom(2), "big")
    msg = notify_message(zone, serial, qid)
    family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect(target)
        for attempt in range(retries):
            s.settimeout(timeout * (2 ** attempt))
            try:
                s.send(msg)
                while True:
                    if is_notify_ack(s.recv(4096), qid):
                        return True
            except (TimeoutError, ConnectionRefusedError, OSError):
                continue
    return False


async def notify_all(zone: str, serial: int, targets: Sequence[tuple[str, int]]) -> list[tuple[tuple[str, int], bool]]:
    """NOTIFY every target concurrently (in worker threads)."""
    results = await asyncio.gather(*(asyncio.to_thread(notify_one, zone, serial, t) for t in targets))
    return list(zip(targets, results, strict=True))
