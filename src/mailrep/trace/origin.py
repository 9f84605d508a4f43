"""Webmail originating-IP headers (X-Originating-IP and friends).

Webmail services record the address of the browser that submitted a message in a header such
as `X-Originating-IP: [198.51.100.1]`. As SpamAssassin does (originating_ip_headers, bug 5680),
the first address in the first instance of each configured header becomes a synthetic relay
appended below the Received chain: when every Received relay is trusted (the webmail service is
one of ours), it is the source; otherwise it is one more untrusted hop.
"""

from __future__ import annotations

import re

from mailrep.trace.hop import Hop, HopKind
from mailrep.trace.message import Message
from mailrep.trace.received import Relay
from mailrep.trace.trust import parse_ip

# Candidate addresses: dotted quads and runs of hex digits and colons (validated afterwards).
_CANDIDATE = re.compile(r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?::\d{1,3}(?:\.\d{1,3}){3})?)(?![\w.:])")


def first_ip(value: str) -> str | None:
    """The first IPv4 or IPv6 address written in a header value, normalised; None without one."""
    for m in _CANDIDATE.finditer(value[:1000]):
        ip = parse_ip(m.group(0))
        if ip is not None:
            return str(ip)
    return None


def originating_hops(msg: Message, headers: tuple[str, ...]) -> list[Hop]:
    hops: list[Hop] = []
    if not headers:
        return hops
    wanted = {h.lower() for h in headers}
    first: dict[str, str] = {}
    for n, v in msg.headers:  # one pass; the first instance of each header counts
        k = n.lower()
        if k in wanted and k not in first:
            first[k] = v
    for name in headers:
        value = first.get(name.lower())
        if not value:
            continue
        ip = first_ip(value)
        if ip is None:
            continue
        relay = Relay(ip=ip, rdns="", helo="", by="", ident="", envfrom="", id="", auth="", date=None, raw=f"{name}: {value}"[:500])
        hops.append(Hop(relay=relay, kind=HopKind.ORIGINATING, header=name, position=-1))
    return hops
