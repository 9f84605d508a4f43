"""The trust walk down a chain of hops, the chain test, and forgery flags.

Walk (`walk`): from the top (newest) hop down, each hop is trusted or not by `TrustConfig`
(see `trust.py`); the first hop that is not trusted is the source and every hop below it is
untrusted too. Relays below an MSA inherit its trust (SpamAssassin's msa_networks).

Chain test (only when mailhosts are given by name). When a hop is trusted because its sending
host's rDNS or HELO matches a mailhost name, that host wrote the next Received header below:
the next hop must be recorded `by` one of that sender's names (its rDNS or HELO, case
insensitive, or the first label of one when `by` has no dot) or by its IP literal. Hops in
between recorded by a local name (`localhost`, another dotless name, a private IP literal) or
by another mailhost name are that host's internal hand-offs (content filters, queues) and are
trusted. Any other hop breaks the chain: trust ends there, the hop is untrusted (its IP becomes
the source) and a `chain_break` flag says why. Webmail originating-IP hops are not chained.

Forgery flags (`forgery_flags`): reserved (non-global) IPs in the untrusted part, each with a
reason: `reserved_ip` when the source itself is reserved or a hop below it has a special-purpose
address no real network uses (documentation, 0/8, 240/4, multicast, benchmarking...), and the
milder `private_ip` for RFC 1918 / loopback / link-local / unique-local hops below the source
(common in legitimate mail from a sender's internal network, and in forged chains); dates out
of order between neighbouring hops or in the future relative to `now`, beyond `DATE_SKEW`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from mailrep.trace.hop import Hop, HopKind
from mailrep.trace.message import Flag
from mailrep.trace.trust import (
    TrustConfig,
    is_internal_address,
    is_reserved,
    is_sa_private,
    name_matches,
    parse_ip,
)

DATE_SKEW = timedelta(hours=1)  # clocks of honest relays disagree by this much at most


class FlagCode:
    CHAIN_BREAK = "chain_break"
    RESERVED_IP = "reserved_ip"  # the source, or a bogon (documentation, 0/8, 240/4...) below it
    PRIVATE_IP = "private_ip"  # RFC 1918 & co. below the source: informational
    DATE_ORDER = "date_order"
    DATE_FUTURE = "date_future"
    UNPARSEABLE = "unparseable_received"


def _is_local_name(by: str) -> bool:
    b = by.strip().strip("[]!").lower().rstrip(".")
    if not b:
        return True
    ip = parse_ip(b)
    if ip is not None:
        return is_sa_private(str(ip))
    return b in ("localhost", "localhost.localdomain") or "." not in b


def _recorded_by_sender(hop: Hop, sender: Hop) -> bool:
    by = hop.relay.by.strip().strip("[]!").lower().rstrip(".")
    if not by:
        return False
    for n in sender.names():
        name = n.lower().rstrip(".")
        # the host may record itself by its short name: `by mx1` for mx1.example.org
        if by == name or ("." not in by and name.split(".", 1)[0] == by):
            return True
    ip = parse_ip(by)
    return ip is not None and ip == parse_ip(sender.ip)


def _decide(hop: Hop, config: TrustConfig, state: _State) -> None:
    """Set `state.trusted/internal` and `hop.why/msa` for one hop still inside the trusted part."""
    r = hop.relay
    if config.trusted_received:
        if hop.kind is HopKind.RECEIVED and hop.position < config.trusted_received:
            hop.why = f"Received header {hop.position + 1} of the top {config.trusted_received} declared ours"
        else:
            state.end(hop, f"below the top {config.trusted_received} Received headers declared ours")
        return
    if config.infers:
        if is_sa_private(r.ip):
            hop.why = f"{r.ip} is a private address (inferred trust)"
        elif r.auth:
            hop.why = f"the sender authenticated ({r.auth}) (inferred trust)"
        else:
            state.end(hop, f"{r.ip} is public and the sender did not authenticate")
        return
    if config.mailhost_names:
        for name in hop.names():
            pattern = name_matches(name, config.mailhost_names)
            if pattern is not None:
                which = "rDNS" if name == r.rdns else "HELO"
                hop.why = f"sender {which} {name} is a mailhost ({pattern.lstrip('.')})"
                state.chain_from = hop
                return
    if config.trust_private and is_internal_address(r.ip):
        hop.why = f"{r.ip} is a private address (mailhosts trust private relays)"
        return
    trusted = config.trusted_networks
    assert trusted is not None  # not inferring and no name matched: networks are configured
    if not r.auth and not trusted.contains(r.ip):
        state.end(hop, f"{r.ip} is not in the trusted networks or mailhosts and did not authenticate")
        return
    hop.why = f"the sender authenticated ({r.auth})" if r.auth else f"{r.ip} is in the trusted networks"
    internal = config.internal_networks or trusted
    if state.internal and not r.auth and not internal.contains(r.ip):
        state.internal = False
    if config.msa_networks.contains(r.ip):
        hop.msa = True
        state.found_msa = True
        hop.why += "; it is an MSA: relays below inherit its trust"


class _State:
    __slots__ = ("chain_from", "flags", "found_msa", "internal", "trusted")

    def __init__(self) -> None:
        self.trusted = True
        self.internal = True
        self.found_msa = False
        self.chain_from: Hop | None = None
        self.flags: list[Flag] = []

    def end(self, hop: Hop, why: str) -> None:
        self.trusted = False
        self.internal = False
        hop.why = why


def walk(hops: Sequence[Hop], config: TrustConfig) -> tuple[int | None, list[Flag]]:
    """Mark every hop trusted or not; return the index of the source hop (None when every hop
    is trusted or there are none) and the chain-test flags."""
    st = _State()
    source: int | None = None
    for i, hop in enumerate(hops):
        if st.trusted and not st.found_msa:
            sender = st.chain_from
            if sender is not None and hop.kind is HopKind.RECEIVED:
                by = hop.relay.by
                if _recorded_by_sender(hop, sender):
                    st.chain_from = None
                elif _is_local_name(by) or name_matches(by, config.mailhost_names):
                    hop.trusted = True
                    hop.internal = st.internal
                    hop.why = f"internal hand-off at mailhost {sender.relay.rdns or sender.relay.helo} (recorded by {by or 'no name'})"
                    continue
                else:
                    expected = " or ".join([*sender.names(), sender.ip])
                    st.end(hop, f"chain test failed: recorded by {by!r}, but the trusted sender above was {expected}")
                    st.flags.append(Flag(FlagCode.CHAIN_BREAK, f"hop {i + 1} was recorded by {by!r}, expected {expected}: trust ends here"))
            if st.trusted:
                _decide(hop, config, st)
        elif not st.trusted and not hop.why:
            hop.why = "below the source: not trusted"
        elif st.found_msa and not hop.why:
            hop.why = "below an MSA: inherits its trust"
        hop.trusted = st.trusted
        hop.internal = st.internal
        if not st.trusted and source is None:
            source = i
    return source, st.flags


def forgery_flags(hops: Sequence[Hop], source: int | None, now: datetime | None) -> list[Flag]:
    """Suspicious facts about the chain, each with a reason."""
    flags: list[Flag] = []
    if source is not None:
        for i in range(source, len(hops)):
            hop = hops[i]
            ip = hop.ip
            if hop.kind is not HopKind.RECEIVED or not is_reserved(ip):
                continue
            if i == source:
                flags.append(Flag(FlagCode.RESERVED_IP, f"the source has the reserved address {ip}, which cannot connect from the Internet: forged or misconfigured"))
            elif is_internal_address(ip):
                flags.append(Flag(FlagCode.PRIVATE_IP, f"untrusted hop {i + 1} has the private address {ip}: the sender's internal network, or forged"))
            else:
                flags.append(Flag(FlagCode.RESERVED_IP, f"untrusted hop {i + 1} has the special-purpose address {ip}, which no real network uses: forged"))
    newer_date: datetime | None = None
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    for i, hop in enumerate(hops):
        if hop.kind is not HopKind.RECEIVED or hop.relay.date is None:
            continue
        d = hop.relay.date if hop.relay.date.tzinfo is not None else hop.relay.date.replace(tzinfo=UTC)
        if now is not None and d > now + DATE_SKEW:
            flags.append(Flag(FlagCode.DATE_FUTURE, f"hop {i + 1} (by {hop.relay.by or '?'}) is dated {d.isoformat()}, in the future"))
        if newer_date is not None and d > newer_date + DATE_SKEW:
            flags.append(Flag(FlagCode.DATE_ORDER, f"hop {i + 1} (by {hop.relay.by or '?'}) is dated {d.isoformat()}, after the newer hop above it ({newer_date.isoformat()})"))
        newer_date = d
    return flags
