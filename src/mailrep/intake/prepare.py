"""Turning one raw message into what the store keeps: pure, picklable, runs in a process pool.

`prepare(raw, mailhosts=..., now=..., keep_bytes=...)` hashes the full bytes
(the dedupe key), traces the message with the given mail hosts, cuts the stored copy to
`keep_bytes` (flagging the cut), gathers the facts the counting rule needs (source IP, the mail's
date: its first Received date, else its Date header; the trusted relays that received it,
`policy.counting.receiving_hosts`) and compresses
the stored copy (zlib format, written by ISA-L's compressor: about 3x faster than zlib's
level 1 at the same size; any zlib reads it back). It raises `NotMail` for bytes that are not
a message. The trace is JSON-encoded here, once (`trace_json`, stored as is), so a worker
process sends back a string, not a tree.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from isal import isal_zlib

from mailrep.errors import NotMail
from mailrep.policy.counting import receiving_hosts
from mailrep.store.encoded import EncodedJson
from mailrep.trace.message import Flag, Message, read_message

FLAG_TRUNCATED = "truncated"
FLAG_TRACE_FAILED = "trace_failed"


@dataclass(slots=True)
class Prepared:
    sha256: str
    size: int
    raw_z: bytes
    truncated: bool
    source_ip: str | None
    trace_json: EncodedJson
    mail_date: datetime | None
    receiving: tuple[str, ...] = ()  # listable IPs of the trusted relays (policy.counting)
    flags: list[dict[str, str]] = field(default_factory=list)

    @property
    def trace(self) -> dict[str, Any]:
        """The trace (`Trace.to_dict()` form), decoded from `trace_json`."""
        return dict(json.loads(self.trace_json))


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        d = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if d is None:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.astimezone(UTC)


def mail_date(headers: list[tuple[str, str]]) -> datetime | None:
    """When the mail arrived: the date of the first (topmost) Received, else its Date."""
    for name, value in headers:
        if name.lower() == "received" and ";" in value:
            d = _parse_date(value.rsplit(";", 1)[1])
            if d is not None:
                return d
            break
    for name, value in headers:
        if name.lower() == "date":
            return _parse_date(value)
    return None


@functools.lru_cache(maxsize=256)
def trust_config(mailhosts: tuple[str, ...]) -> Any:
    """The trust configuration for a reporter's mail hosts (inference when none)."""
    from mailrep.trace.trust import TrustConfig

    if not mailhosts:
        return TrustConfig()
    return TrustConfig.from_mailhosts(list(mailhosts))


def _trace(message: Message, mailhosts: tuple[str, ...], now: datetime) -> dict[str, Any]:
    from mailrep.trace.trace import trace_parsed

    return dict(trace_parsed(message, config=trust_config(tuple(mailhosts)), now=now).to_dict())


def prepare(
    raw: bytes, *, mailhosts: tuple[str, ...] = (), now: datetime, keep_bytes: int,
) -> Prepared:
    if not raw.strip():
        raise NotMail("empty message")
    message = read_message(raw)  # raises NotMail; cheap, and gives the dates
    if not message.headers:
        raise NotMail()
    try:
        trace = _trace(message, mailhosts, now)
    except NotMail:
        raise
    except Exception as e:  # a tracing bug must not lose the report: store it, uncounted
        trace = {"source": {"ip": None, "reason": "trace failed"}, "hops": [], "flags": [],
                 "urls": [], "arf": None, "error": f"{type(e).__name__}: {e}"[:500]}
    flags: list[dict[str, str]] = [f for f in trace.get("flags") or [] if isinstance(f, dict)]
    kept = raw[:keep_bytes]
    truncated = len(raw) > keep_bytes
    if truncated:
        flags.append(Flag(FLAG_TRUNCATED, f"stored the first {keep_bytes} of {len(raw)} bytes").to_dict())
    source = trace.get("source") or {}
    source_ip = source.get("ip") if isinstance(source, dict) else None
    if trace.get("error"):
        flags.append(Flag(FLAG_TRACE_FAILED, str(trace["error"])[:500]).to_dict())
    hops = trace.get("hops")
    return Prepared(
        sha256=hashlib.sha256(raw).hexdigest(), size=len(raw), raw_z=isal_zlib.compress(kept, 1),
        truncated=truncated, source_ip=source_ip, trace_json=EncodedJson.of(trace),
        mail_date=mail_date(message.headers),
        receiving=receiving_hosts(h for h in hops if isinstance(h, dict)) if isinstance(hops, list) else (),
        flags=flags,
    )
