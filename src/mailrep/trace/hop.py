"""A hop: one relay of the chain (a parsed Received header or a webmail originating-IP header)
with the trust decision taken about it and the reason in words."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mailrep.trace.received import Relay


class HopKind(StrEnum):
    RECEIVED = "received"
    ORIGINATING = "originating"  # X-Originating-IP and friends, appended below the chain


@dataclass(slots=True)
class Hop:
    relay: Relay
    kind: HopKind = HopKind.RECEIVED
    header: str = "Received"
    position: int = 0  # index among the message's Received headers (0 = top); -1 when synthetic
    trusted: bool = False
    internal: bool = False
    msa: bool = False
    why: str = ""

    @property
    def ip(self) -> str:
        return self.relay.ip

    def names(self) -> tuple[str, ...]:
        """The names the sending host is known by here: rDNS (looked up by the receiver) and HELO."""
        return tuple(n for n in (self.relay.rdns, self.relay.helo) if n)

    def to_dict(self) -> dict[str, Any]:
        r = self.relay
        return {
            "ip": r.ip, "rdns": r.rdns, "helo": r.helo, "by": r.by, "ident": r.ident,
            "envfrom": r.envfrom, "id": r.id, "auth": r.auth,
            "date": r.date.isoformat() if r.date is not None else None,
            "trusted": self.trusted, "why": self.why, "header": self.header,
        }
