"""Who we trust to tell the truth in a Received chain: mailhosts, SpamAssassin networks, inference.

A *relay* is one hand-off recorded in a Received header: "`by` received from `ip`". A relay is
*trusted* when its sending host (`ip`) is one of ours, so the headers below it are also ours to
believe. The *source* is the first untrusted relay, walking from the top (newest) down: the IP
recorded by the last trusted host (SpamAssassin's "last external relay", SpamCop's "source").

`TrustConfig` holds every way of declaring trust:

- `mailhosts` (SpamCop's model): networks and host names of the reporter's own relays. Networks
  behave as SpamAssassin `trusted_networks`; names are matched against a relay's sender (rDNS,
  else HELO) and bound by the chain test (see `chain.py`).
- `trusted_networks`, `internal_networks`, `msa_networks` with SpamAssassin's semantics
  (Conf.pm, Metadata/Received.pm): first match wins, `!net` excludes, 127/8 and ::1 are always
  trusted and internal, an unset `trusted` copies `internal` and vice versa, `internal` entries
  outside `trusted` are ignored, relays below an MSA inherit its trust, authenticated relays are
  trusted.
  Private addresses (SpamAssassin's IP_PRIVATE set plus IPv6 unique-local fc00::/7) are
  trusted too in this mode: only a trusted host can have recorded them above the source.
- nothing: inference as in SpamAssassin: private IPs (its IP_PRIVATE set) and authenticated
  relays are trusted; the first relay failing both is the source.
- `trusted_received`: the top N Received headers are ours whatever they say (rspamd's `count`).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache

from mailrep.errors import BadInput
from mailrep.net import parse_literal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# SpamAssassin's IP_PRIVATE (Constants.pm): what inference trusts without configuration.
_SA_PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16",
        "100.64.0.0/10", "fe80::/10", "::1/128",
    )
)
# SpamAssassin always adds these to trusted_networks and internal_networks.
_ALWAYS_TRUSTED = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))

# Webmail "originating IP" headers SpamAssassin's rule updates configure (originating_ip_headers).
DEFAULT_ORIGINATING_HEADERS = (
    "X-Yahoo-Post-IP", "X-Originating-IP", "X-Apparently-From", "X-SenderIP", "X-AOL-IP",
    "X-MS-Exchange-CrossTenant-OriginalAttributedTenantConnectingIp",
)

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


class BadNetwork(BadInput):
    """Not a network, an IP address or a host name."""


@lru_cache(maxsize=65536)
def parse_ip(text: str) -> IPAddress | None:
    """The address in `text` (brackets, `IPv6:` prefix and zone id allowed), IPv4-mapped
    IPv6 turned into IPv4; None when it is not an address (`net.parse_literal`)."""
    return parse_literal(text)


@lru_cache(maxsize=65536)
def is_sa_private(ip: str) -> bool:
    """SpamAssassin's notion of a private address (trusted by inference)."""
    addr = parse_ip(ip)
    return addr is not None and any(addr in n for n in _SA_PRIVATE if n.version == addr.version)


_ULA = ipaddress.ip_network("fc00::/7")


@lru_cache(maxsize=65536)
def is_internal_address(ip: str) -> bool:
    """Private in SpamAssassin's sense, or an IPv6 unique-local address (mailhosts mode)."""
    if is_sa_private(ip):
        return True
    addr = parse_ip(ip)
    return addr is not None and addr.version == 6 and addr in _ULA


@lru_cache(maxsize=65536)
def is_reserved(ip: str) -> bool:
    """Not a globally routable unicast address (RFC 6890 special-purpose, loopback, private...)."""
    addr = parse_ip(ip)
    if addr is None:
        return False
    return not addr.is_global or addr.is_multicast


def parse_network(text: str) -> IPNetwork:
    """A CIDR network in standard or SpamAssassin short form: `10.`, `1.2/16`, `127/8`, `1.2.3`."""
    t = text.strip()
    if t.startswith("[") and "]" in t:
        t = t[1:].replace("]", "", 1)
    if t[:5].lower() == "ipv6:":
        t = t[5:]
    addr, slash, bits = t.partition("/")
    if ":" not in addr and re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){0,3}\.?", addr):
        octets = [o for o in addr.split(".") if o != ""]
        if not slash:
            bits = str(8 * len(octets))
        addr = ".".join(octets + ["0"] * (4 - len(octets)))
    try:
        return ipaddress.ip_network(f"{addr}/{bits}" if bits else addr, strict=False)
    except ValueError as e:
        raise BadNetwork(f"not a network: {text!r}") from e


@dataclass(frozen=True, slots=True)
class NetSet:
    """An ordered list of (network, excluded); the first entry containing an IP decides."""

    entries: tuple[tuple[IPNetwork, bool], ...] = ()

    @classmethod
    def parse(cls, items: list[str] | tuple[str, ...], *, implicit: bool = False) -> NetSet:
        entries = [(n, False) for n in _ALWAYS_TRUSTED] if implicit else []
        for item in items:
            s = item.strip()
            neg = s.startswith("!")
            entries.append((parse_network(s[1:] if neg else s), neg))
        return cls(tuple(entries))

    def contains(self, ip: str) -> bool:
        addr = parse_ip(ip)
        if addr is None:
            return False
        for net, excluded in self.entries:
            if net.version == addr.version and addr in net:
                return not excluded
        return False

    def covers(self, net: IPNetwork) -> bool:
        """Some included entry is a supernet of `net` (SA's subset check for internal_networks)."""
        return any(
            not ex and n.version == net.version and net.subnet_of(n)  # type: ignore[arg-type]
            for n, ex in self.entries
        )

    def restricted_to(self, outer: NetSet) -> NetSet:
        """Drop included entries `outer` does not cover (SA ignores them, with a lint warning)."""
        return NetSet(tuple((n, ex) for n, ex in self.entries if ex or outer.covers(n)))


def _name_pattern(text: str) -> str:
    """Normalise a mailhost name: `mx.example.com`, `*.example.com` or `.example.com`."""
    t = text.strip().lower().rstrip(".")
    bare = t[2:] if t.startswith("*.") else t[1:] if t.startswith(".") else t
    labels = bare.split(".")
    if not bare or not all(_HOST_LABEL.match(label) for label in labels):
        raise BadNetwork(f"not a network, IP address or host name: {text!r}")
    return "." + bare if bare != t else bare


def name_matches(name: str, patterns: tuple[str, ...]) -> str | None:
    """The mailhost pattern that `name` matches (exact, or a domain pattern `.example.com`
    matching any host under it), or None."""
    n = name.strip().lower().rstrip(".")
    if not n:
        return None
    for p in patterns:
        if (p.startswith(".") and n.endswith(p)) or n == p:
            return p
    return None


@dataclass(frozen=True, slots=True)
class TrustConfig:
    """Every way to declare trust. All fields default to "not configured" (pure inference)."""

    trusted_networks: NetSet | None = None
    internal_networks: NetSet | None = None
    msa_networks: NetSet = field(default_factory=NetSet)
    mailhost_names: tuple[str, ...] = ()
    trusted_received: int = 0
    trust_private: bool = False
    originating_headers: tuple[str, ...] = DEFAULT_ORIGINATING_HEADERS

    @property
    def infers(self) -> bool:
        """True when nothing is declared and trust is inferred as SpamAssassin does."""
        return self.trusted_networks is None and self.internal_networks is None and not self.mailhost_names

    @classmethod
    def from_sa(
        cls, *, trusted_networks: list[str] | None = None, internal_networks: list[str] | None = None,
        msa_networks: list[str] | None = None, **kw: object,
    ) -> TrustConfig:
        """SpamAssassin's three settings; None means the setting is absent (cleared)."""
        trusted = None if trusted_networks is None else NetSet.parse(trusted_networks, implicit=True)
        internal = None if internal_networks is None else NetSet.parse(internal_networks, implicit=True)
        if trusted is None and internal is not None:
            trusted = internal
        elif internal is None and trusted is not None:
            internal = trusted
        elif trusted is not None and internal is not None:
            internal = internal.restricted_to(trusted)
        msa = NetSet.parse(msa_networks or [])
        return cls(trusted_networks=trusted, internal_networks=internal, msa_networks=msa, **kw)  # type: ignore[arg-type]

    @classmethod
    def from_mailhosts(cls, spec: str | list[str], **kw: object) -> TrustConfig:
        """SpamCop-style mailhosts: a space- or `|`-separated list of CIDR networks, IPs and host
        names (`mx.example.com`, `*.example.com`, `.example.com`). Raises `BadNetwork`."""
        items = spec if isinstance(spec, list) else re.split(r"[\s|,]+", spec)
        nets: list[str] = []
        names: list[str] = []
        for raw in items:
            item = raw.strip()
            if not item:
                continue
            try:
                parse_network(item.lstrip("!"))
                nets.append(item)
            except BadNetwork:
                names.append(_name_pattern(item))
        if not nets and not names:
            raise BadNetwork("empty mailhosts list")
        trusted = NetSet.parse(nets, implicit=True)
        return cls(trusted_networks=trusted, internal_networks=trusted, mailhost_names=tuple(names), trust_private=True, **kw)  # type: ignore[arg-type]

    @classmethod
    def from_section(cls, section: dict[str, object]) -> TrustConfig:
        """From the `[trace]` table: mailhosts, trusted/internal/msa_networks, trusted_received,
        originating_headers."""
        def strings(key: str) -> list[str] | None:
            v = section.get(key)
            if v is None:
                return None
            if isinstance(v, str):
                return v.split()
            if isinstance(v, list) and all(isinstance(x, str) for x in v):
                return list(v)
            raise BadInput(f"[trace] {key} must be a list of strings")

        kw: dict[str, object] = {}
        hops = section.get("trusted_received", 0)
        if not isinstance(hops, int) or hops < 0:
            raise BadInput("[trace] trusted_received must be a non-negative integer")
        kw["trusted_received"] = hops
        if (oh := strings("originating_headers")) is not None:
            kw["originating_headers"] = tuple(oh)
        mailhosts = strings("mailhosts")
        if mailhosts:
            if any(section.get(k) is not None for k in ("trusted_networks", "internal_networks", "msa_networks")):
                raise BadInput("[trace] give either mailhosts or SpamAssassin's trusted/internal/msa_networks, not both")
            return cls.from_mailhosts(mailhosts, **kw)
        return cls.from_sa(
            trusted_networks=strings("trusted_networks"), internal_networks=strings("internal_networks"),
            msa_networks=strings("msa_networks"), **kw,
        )

    def describe(self) -> str:
        """One line for --explain."""
        if self.trusted_received:
            return f"the top {self.trusted_received} Received headers are trusted"
        if self.infers:
            return "no trusted networks declared: private IPs and authenticated relays are trusted (SpamAssassin inference)"
        parts = []
        if self.trusted_networks is not None:
            nets = [("!" if ex else "") + str(n) for n, ex in self.trusted_networks.entries]
            parts.append("trusted networks " + " ".join(nets))
        if self.mailhost_names:
            parts.append("mailhost names " + " ".join(("*" + p) if p.startswith(".") else p for p in self.mailhost_names))
        if self.trust_private:
            parts.append("private addresses")
        if self.msa_networks.entries:
            parts.append("MSA networks " + " ".join(str(n) for n, _ in self.msa_networks.entries))
        return "; ".join(parts)
