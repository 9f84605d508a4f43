"""What the policy service answers: pure, from the request and the in-memory view.

    cfg = PolicydConfig.from_section(settings.section("policyd"), site_url=...)
    view = View(snapshot, bl_zone="bl.mailrep.test", scores={"192.0.2.7": -4.0})
    action, text, counted_ip = verdict(attrs, view, cfg)

In order: a client listed on `bl` is rejected with the zone's TXT (the lookup link); a client
whose reputation score is below `reject_below` is rejected, below `defer_below` deferred
(`DEFER_IF_PERMIT`), below `prepend_below` marked (`PREPEND X-Mailrep-Reputation: ...`); every
other client gets `DUNNO`. Bands left unset (the default) are off. Scores come from a mapping
ip -> score in the view (from `services.reputation`); higher is better. A request
in the `count_state` protocol state (RCPT by default, or END-OF-MESSAGE) counts one message of
volume for its `client_address`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mailrep.errors import BadInput
from mailrep.policyd.protocol import Action
from mailrep.zones.zone import Hit, Snapshot

COUNT_STATES = ("RCPT", "END-OF-MESSAGE")
REPUTATION_HEADER = "X-Mailrep-Reputation"


@dataclass(frozen=True, slots=True)
class PolicydConfig:
    site_url: str = "http://127.0.0.1:8080"
    reject_below: float | None = None
    defer_below: float | None = None
    prepend_below: float | None = None
    count_state: str = "RCPT"
    flush_seconds: float = 60.0

    @classmethod
    def from_section(cls, section: Mapping[str, Any], *, site_url: str) -> PolicydConfig:
        known = {"reject_below", "defer_below", "prepend_below", "count_state", "flush_seconds"}
        unknown = sorted(set(section) - known)
        if unknown:
            raise BadInput(f"policyd: unknown setting(s) {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for k in ("reject_below", "defer_below", "prepend_below", "flush_seconds"):
            if k in section:
                v = section[k]
                if isinstance(v, bool) or not isinstance(v, int | float):
                    raise BadInput(f"policyd: {k} must be a number")
                values[k] = float(v)
        state = str(section.get("count_state", "RCPT")).upper()
        if state not in COUNT_STATES:
            raise BadInput(f"policyd: count_state must be one of {', '.join(COUNT_STATES)}")
        if values.get("flush_seconds", 60.0) <= 0:
            raise BadInput("policyd: flush_seconds must be > 0")
        return cls(site_url=site_url.rstrip("/"), count_state=state, **values)


@dataclass(frozen=True, slots=True)
class View:
    """What a verdict reads: the published zones and the reputation scores."""

    snapshot: Snapshot | None
    bl_zone: str
    scores: Mapping[str, float]

    def listing(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Hit | None:
        zone = self.snapshot.zones.get(self.bl_zone) if self.snapshot is not None else None
        if zone is None:
            return None
        if ip.version == 4:
            got = zone.lookup_ip4(int(ip))
        else:
            got = zone.lookup(tuple(c.encode() for c in reversed(f"{int(ip):032x}")))
        return got if isinstance(got, Hit) else None


def client_ip(attrs: Mapping[str, str]) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = attrs.get("client_address", "")
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def verdict(attrs: Mapping[str, str], view: View, cfg: PolicydConfig) -> tuple[Action, str, str | None]:
    """(action, text, the client address to count one message for, or None)."""
    ip = client_ip(attrs)
    if ip is None:
        return Action.DUNNO, "", None
    key = str(ip)
    counted = key if attrs.get("protocol_state", "").upper() == cfg.count_state else None
    hit = view.listing(ip)
    if hit is not None:
        text = hit.txt.decode("utf-8", "replace") if hit.txt else f"Blocked - see {cfg.site_url}/lookup?ip={key}"
        return Action.REJECT, text, counted
    score = view.scores.get(key)
    if score is not None:
        link = f"{cfg.site_url}/lookup?ip={key}"
        if cfg.reject_below is not None and score < cfg.reject_below:
            return Action.REJECT, f"Poor reputation (score {score:.1f}) - see {link}", counted
        if cfg.defer_below is not None and score < cfg.defer_below:
            return Action.DEFER_IF_PERMIT, f"Poor reputation (score {score:.1f}) - see {link}", counted
        if cfg.prepend_below is not None and score < cfg.prepend_below:
            return Action.PREPEND, f"{REPUTATION_HEADER}: score={score:.1f}; ip={key}; see {link}", counted
    return Action.DUNNO, "", counted
