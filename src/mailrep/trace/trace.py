"""The `Trace` value and `trace_message`: raw bytes in, source IP, hops, flags, URLs, ARF out.

    trace_message(raw, *, config=None, now=None) -> Trace     raises only NotMail

Steps: read the message (`message.py`); if it looks like an ARF report, parse it and trace the
embedded original instead (same config), falling back to the report's Source-IP when the
original yields no source; parse every Received header (`received.py`), append webmail
originating-IP hops (`origin.py`), walk the trust path (`chain.py`, `trust.py`), flag
forgeries, extract URLs (`urls.py`). Pure: `now` is only used to flag future dates (None: no
clock check). Any unexpected error inside one step becomes an `internal_error` flag, never an
exception, so one hostile message can not stop a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from mailrep.trace.arf import Arf, NotArf, looks_like_arf, parse_arf
from mailrep.trace.chain import FlagCode, forgery_flags, walk
from mailrep.trace.hop import Hop, HopKind
from mailrep.trace.message import Flag, Message, read_message
from mailrep.trace.origin import originating_hops
from mailrep.trace.received import Ignored, parse_received
from mailrep.trace.trust import TrustConfig, parse_ip
from mailrep.trace.urls import Url, extract_urls

DEFAULT_CONFIG = TrustConfig()


class Reason:
    NO_RELAYS = "no Received header names a sending address"
    ALL_TRUSTED = "every relay is trusted: the message was sent from inside the trusted networks"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A Received header that yields no hop: deliberately ignored (with why) or unparseable."""

    position: int
    raw: str
    reason: str


@dataclass(slots=True)
class Trace:
    source_ip: str | None
    source_reason: str
    hops: list[Hop]
    flags: list[Flag]
    urls: list[Url] = field(default_factory=list)
    arf: Arf | None = None
    source_hop: int | None = None  # index into hops; None when the source is not a hop
    skipped: list[Skipped] = field(default_factory=list)
    config: TrustConfig = DEFAULT_CONFIG

    @property
    def source(self) -> Hop | None:
        return None if self.source_hop is None else self.hops[self.source_hop]

    def to_dict(self) -> dict[str, Any]:
        """The stable wire form (see `mailrep trace`); `file` and `error` are the command's."""
        return {
            "source": {"ip": self.source_ip, "reason": self.source_reason},
            "hops": [h.to_dict() for h in self.hops],
            "flags": [f.to_dict() for f in self.flags],
            "urls": [{"url": u.url, "host": u.host, "domain": u.domain} for u in self.urls],
            "arf": self.arf.to_dict() if self.arf is not None else None,
            "error": None,
        }


def trace_message(raw: bytes | str, *, config: TrustConfig | None = None, now: datetime | None = None) -> Trace:
    """Trace one raw message. Raises `NotMail` (and nothing else) for input that is not mail."""
    msg = read_message(raw)
    return trace_parsed(msg, config=config or DEFAULT_CONFIG, now=now)


def trace_parsed(msg: Message, *, config: TrustConfig, now: datetime | None) -> Trace:
    """Trace an already read message. Never raises: a bug anywhere below gives a Trace
    without a source and an `internal_error` flag (each step also has its own net)."""
    flags = list(msg.flags)
    try:
        return _trace_any(msg, flags, config, now)
    except Exception as e:
        flags.append(_internal("trace", e))
        return Trace(None, "tracing failed (internal error)", [], flags, config=config)


def _trace_any(msg: Message, flags: list[Flag], config: TrustConfig, now: datetime | None) -> Trace:
    if _safe(flags, "arf", looks_like_arf, msg, default=False):
        try:
            arf = parse_arf(msg)
        except NotArf as e:
            flags.append(Flag("not_arf", e.message))
        except Exception as e:  # a bug in the ARF reader must not stop the trace
            flags.append(_internal("arf", e))
        else:
            return _trace_arf(msg, arf, flags, config, now)
    return _trace_plain(msg, flags, config, now)


def _trace_arf(report: Message, arf: Arf, flags: list[Flag], config: TrustConfig, now: datetime | None) -> Trace:
    flags.extend(arf.flags)
    arf_ip = _norm_ip(arf.source_ip)
    if arf.original is not None:
        t = _trace_plain(arf.original, flags, config, now)
        t.arf = arf
        if t.source_ip is None and arf_ip is not None:
            t.source_reason = f"the report's Source-IP (the embedded message gives none: {t.source_reason})"
            t.source_ip, t.source_hop = arf_ip, None
        elif arf_ip is not None and t.source_ip != arf_ip:
            _reconcile_arf_source(t, arf_ip, flags)
        return t
    t = Trace(None, "an ARF report without the original message and without Source-IP", [], flags, arf=arf, config=config)
    if arf_ip is not None:
        t.source_ip, t.source_reason = arf_ip, "the report's Source-IP (the report carries no original message)"
    return t


def _reconcile_arf_source(t: Trace, arf_ip: str, flags: list[Flag]) -> None:
    """The report's Source-IP disagrees with the traced source. When it is found *below* the
    traced source in the embedded chain, the relays above it are the
    reporting provider's own (it says it received the message from Source-IP): trust them and
    take Source-IP, as if the provider's relays had been declared as mailhosts. Otherwise keep
    the trace and flag the disagreement."""
    at = next((i for i, h in enumerate(t.hops) if h.kind is HopKind.RECEIVED and _norm_ip(h.ip) == arf_ip), None)
    below = at is not None and t.source_hop is not None and at > t.source_hop
    if below:
        assert at is not None
        for h in t.hops[:at]:
            if not h.trusted:
                h.trusted = True
                h.why = "a relay of the reporting provider: it is above the report's Source-IP"
        for h in t.hops[at:]:
            h.trusted = False
            h.why = "below the source: not trusted"
        t.hops[at].why = "the report's Source-IP: the reporting provider received the message from here"
        flags.append(Flag("arf_source_ip", f"the report's Source-IP {arf_ip} is hop {at + 1}; the traced source {t.source_ip} and the hops above are the provider's own relays"))
        t.source_ip, t.source_hop = arf_ip, at
        t.source_reason = f"the report's Source-IP, found at hop {at + 1} of the embedded message"
        return  # reserved addresses below the old source were flagged by forgery_flags already
    where = f"; it appears at hop {at + 1}" if at is not None else "; it appears nowhere in the embedded chain"
    flags.append(Flag("arf_source_mismatch", f"the report's Source-IP {arf_ip} differs from the traced source {t.source_ip}{where}"))


def _trace_plain(msg: Message, flags: list[Flag], config: TrustConfig, now: datetime | None) -> Trace:
    hops: list[Hop] = []
    skipped: list[Skipped] = []
    for pos, value in enumerate(msg.get_all("Received")):
        try:
            r = parse_received(value)
        except Exception as e:  # a parser bug costs one hop, not the message
            flags.append(_internal("received", e))
            r = None
        if r is None:
            skipped.append(Skipped(pos, value, "unparseable"))
            flags.append(Flag(FlagCode.UNPARSEABLE, f"Received header {pos + 1} could not be read: {value[:120]!r}"))
        elif isinstance(r, Ignored):
            skipped.append(Skipped(pos, value, r.reason))
        else:
            hops.append(Hop(relay=r, position=pos))
    hops.extend(_safe(flags, "originating", originating_hops, msg, config.originating_headers, default=[]))
    source, chain_flags = walk(hops, config)
    flags.extend(chain_flags)
    flags.extend(forgery_flags(hops, source, now))
    urls = _safe(flags, "urls", partial(extract_urls, flags=flags), msg, default=[])  # cuts are flagged
    if source is not None:
        hop = hops[source]
        ip = _norm_ip(hop.ip) or hop.ip
        if hop.kind is HopKind.ORIGINATING:
            reason = f"the webmail sender address in {hop.header} (every Received relay is trusted)"
        else:
            reason = f"first untrusted relay, recorded by {hop.relay.by or 'an unnamed host'}: {hop.why}"
    else:
        ip = None
        reason = Reason.NO_RELAYS if not hops else Reason.ALL_TRUSTED
    return Trace(ip, reason, hops, flags, urls=urls, source_hop=source, skipped=skipped, config=config)


def _norm_ip(text: str | None) -> str | None:
    if not text:
        return None
    ip = parse_ip(text)
    return None if ip is None else str(ip)


def _internal(step: str, e: Exception) -> Flag:
    return Flag("internal_error", f"{step}: {type(e).__name__}: {str(e)[:200]}")


def _safe(flags: list[Flag], step: str, fn: Any, *args: Any, default: Any) -> Any:
    try:
        return fn(*args)
    except Exception as e:
        flags.append(_internal(step, e))
        return default
