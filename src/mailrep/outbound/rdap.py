"""RDAP, pure: the IANA bootstrap file (RFC 9224) -> the server for an address, and an RDAP
answer (RFC 9083) -> the network and its abuse addresses. No I/O (see `outbound.rdap_client`).

    boot = IpBootstrap.of(parse_bootstrap(ipv4_bytes), parse_bootstrap(ipv6_bytes))
    url = query_url(boot.server_for("62.239.237.1"), "62.239.237.1")   # .../ip/62.239.237.1
    answer = parse_ip_answer(json_object, server=url)   # Answer(network, emails, referrals)

The abuse address is the `email` of every entity whose `roles` include `abuse`, searched
through nested entities (ARIN nests it in the registrant; LACNIC gives one entity several
roles; RIPE and APNIC name a top-level abuse or IRT object). Technical, administrative and
other contacts are never used. Registries write addresses in their own ways (`074.125.000.000`,
`62.239.237.0/32`); the network is the range start..end, as the CIDRs covering it.

    RdapError (BadInput)
     +-- BootstrapError    a bootstrap file that can not be used
     +-- NotNetwork        an answer that is not an IP network object
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mailrep.errors import BadInput, NotFound

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ABUSE_ROLE = "abuse"
RDAP_MEDIA_TYPE = "application/rdap+json"
REFERRAL_RELS = frozenset({"related", "down"})
MAX_ENTITY_DEPTH = 8
MAX_ENTITIES = 500
# The registries by the host names of their RDAP and whois servers.
REGISTRIES = {"arin": "ARIN", "ripe": "RIPE NCC", "apnic": "APNIC", "lacnic": "LACNIC",
              "afrinic": "AFRINIC"}
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


class RdapError(BadInput):
    """The RDAP data can not be used."""

    code = "rdap_error"


class BootstrapError(RdapError):
    """The RDAP bootstrap file is malformed."""

    code = "bad_bootstrap"


class NotNetwork(RdapError):
    """The RDAP answer is not an IP network object."""

    code = "not_network"


class NoServer(NotFound):
    """No RDAP server is registered for this address."""

    code = "no_rdap_server"


# --- bootstrap (RFC 9224) ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Bootstrap:
    """A bootstrap file: each service is (entries, base URLs), as published."""

    services: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]
    publication: str = ""


def _check_url(url: Any, where: str) -> str:
    if not isinstance(url, str) or not url:
        raise BootstrapError(f"{where}: a URL must be a non-empty string, not {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BootstrapError(f"{where}: {url!r} is not an http(s) URL with a host")
    if _PERCENT.search(url) or any(c.isspace() for c in url):
        raise BootstrapError(f"{where}: {url!r} has a bad %-escape or a space")
    return url


def parse_bootstrap(data: bytes | str, *, name: str = "bootstrap file") -> Bootstrap:
    """A bootstrap file's services, checked: `BootstrapError` says what is wrong and where."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if not text.strip():
        raise BootstrapError(f"{name} is empty")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise BootstrapError(f"{name} is not JSON: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), list):
        raise BootstrapError(f"{name} has no \"services\" list")
    services = []
    for k, svc in enumerate(doc["services"], 1):
        where = f"{name}, service {k}"
        if (not isinstance(svc, list) or len(svc) != 2 or not isinstance(svc[0], list)
                or not isinstance(svc[1], list)):
            raise BootstrapError(f"{where}: not an [entries, URLs] pair: {json.dumps(svc)[:80]}")
        entries, urls = svc
        if not entries or not all(isinstance(e, str) and e for e in entries):
            raise BootstrapError(f"{where}: entries must be non-empty strings")
        if not urls:
            raise BootstrapError(f"{where}: no URLs")
        services.append((tuple(entries), tuple(_check_url(u, where) for u in urls)))
    publication = doc.get("publication")
    return Bootstrap(tuple(services), publication if isinstance(publication, str) else "")


def base_url(url: str) -> str:
    """A base URL ending in `/` (RFC 9224 requires it; files in the wild omit it)."""
    return url if url.endswith("/") else url + "/"


@dataclass(frozen=True, slots=True)
class IpBootstrap:
    """The IP services of one or more bootstrap files, most specific prefix first."""

    entries: tuple[tuple[IPNetwork, tuple[str, ...]], ...]

    @classmethod
    def of(cls, *files: Bootstrap) -> IpBootstrap:
        out: list[tuple[IPNetwork, tuple[str, ...]]] = []
        for boot in files:
            for entries, urls in boot.services:
                # https first: RFC 9224 says clients should prefer it
                ordered = tuple(base_url(u) for u in sorted(urls, key=lambda u: not u.startswith("https:")))
                for entry in entries:
                    try:
                        net = ipaddress.ip_network(entry, strict=False)
                    except ValueError as e:
                        raise BootstrapError(f"bootstrap entry {entry!r} is not an IP prefix") from e
                    out.append((net, ordered))
        out.sort(key=lambda item: -item[0].prefixlen)
        return cls(tuple(out))

    def match(self, ip: str) -> tuple[IPNetwork, tuple[str, ...]]:
        """The most specific bootstrap entry covering `ip` and its base URLs."""
        addr = ipaddress.ip_address(ip)
        for net, urls in self.entries:
            if net.version == addr.version and addr in net:
                return net, urls
        raise NoServer(f"no RDAP server is registered for {ip}")

    def server_for(self, ip: str) -> str:
        return self.match(ip)[1][0]


def query_url(base: str, ip: str) -> str:
    """The RFC 9082 IP query under a base URL."""
    return f"{base_url(base)}ip/{ipaddress.ip_address(ip)}"


# --- answers (RFC 9083) -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Network:
    """An IP network as its registry describes it."""

    start: str
    end: str
    cidrs: tuple[str, ...]
    name: str = ""
    handle: str = ""
    registry: str = ""

    @property
    def cidr(self) -> str:
        return ", ".join(self.cidrs)

    @property
    def size(self) -> int:
        return int(ipaddress.ip_address(self.end)) - int(ipaddress.ip_address(self.start))

    def contains(self, ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        start, end = ipaddress.ip_address(self.start), ipaddress.ip_address(self.end)
        return addr.version == start.version and int(start) <= int(addr) <= int(end)


@dataclass(frozen=True, slots=True)
class Answer:
    """One RDAP answer for an IP: its network, abuse addresses, server and referrals."""

    network: Network
    emails: tuple[str, ...]
    server: str = ""
    referrals: tuple[str, ...] = ()


def parse_address(text: Any) -> IPAddress:
    """An address as registries write it: `074.125.000.000`, `62.239.237.0/32`, v6 forms."""
    if not isinstance(text, str) or not text.strip():
        raise NotNetwork(f"not an address: {text!r}")
    s = text.strip().split("/", 1)[0]
    if "." in s and ":" not in s:
        parts = s.split(".")
        if len(parts) == 4 and all(p.isdigit() for p in parts):
            s = ".".join(str(int(p)) for p in parts)
    try:
        return ipaddress.ip_address(s)
    except ValueError as e:
        raise NotNetwork(f"not an address: {text!r}") from e


def _cidr0(obj: Mapping[str, Any]) -> list[IPNetwork]:
    out = []
    for c in obj.get("cidr0_cidrs") or []:
        if isinstance(c, dict):
            prefix = c.get("v4prefix") or c.get("v6prefix")
            try:
                out.append(ipaddress.ip_network(f"{prefix}/{int(str(c.get('length')))}", strict=False))
            except (TypeError, ValueError):
                continue
    return out


def registry_of(*hosts_or_urls: str) -> str:
    for h in hosts_or_urls:
        host = (urlsplit(h).hostname if "//" in h else h) or ""
        for key, name in REGISTRIES.items():
            if key in host.lower().split("."):
                return name
    for h in hosts_or_urls:
        host = (urlsplit(h).hostname if "//" in h else h) or ""
        if host:
            return host
    return ""


def parse_network(obj: Mapping[str, Any], *, server: str = "") -> Network:
    """The network of an `ip network` answer (`NotNetwork` for anything else)."""
    kind = obj.get("objectClassName")
    if kind not in (None, "ip network") or ("startAddress" not in obj and "cidr0_cidrs" not in obj):
        raise NotNetwork(f"the answer is a {kind or 'object without addresses'}, not an ip network")
    cidrs = _cidr0(obj)
    if "startAddress" in obj:
        start = parse_address(obj.get("startAddress"))
        end = parse_address(obj.get("endAddress", obj.get("startAddress")))
        if start.version != end.version or int(start) > int(end):
            raise NotNetwork(f"bad range {obj.get('startAddress')} - {obj.get('endAddress')}")
        cidrs = list(ipaddress.summarize_address_range(start, end))
    elif cidrs:
        start, end = cidrs[0].network_address, cidrs[-1].broadcast_address
    else:
        raise NotNetwork("the answer has neither startAddress nor cidr0_cidrs")
    name = obj.get("name")
    handle = obj.get("handle")
    port43 = obj.get("port43")
    return Network(
        start=str(start), end=str(end), cidrs=tuple(str(c) for c in cidrs),
        name=name if isinstance(name, str) else "", handle=handle if isinstance(handle, str) else "",
        registry=registry_of(*(x for x in (port43, server) if isinstance(x, str) and x)),
    )


def _walk(obj: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every entity below `obj`, depth first in document order (bounded)."""
    count = 0

    def rec(node: Mapping[str, Any], depth: int) -> Iterator[Mapping[str, Any]]:
        nonlocal count
        if depth > MAX_ENTITY_DEPTH:
            return
        children = node.get("entities")
        if not isinstance(children, list):
            return
        for child in children:
            if not isinstance(child, dict) or count >= MAX_ENTITIES:
                continue
            count += 1
            yield child
            yield from rec(child, depth + 1)

    yield from rec(obj, 0)


def vcard_emails(entity: Mapping[str, Any]) -> list[str]:
    """The e-mail addresses of an entity's jCard (RFC 7095), domain lower-cased."""
    card = entity.get("vcardArray")
    if not isinstance(card, list) or len(card) < 2 or not isinstance(card[1], list):
        return []
    out = []
    for prop in card[1]:
        if isinstance(prop, list) and len(prop) >= 4 and prop[0] == "email" and isinstance(prop[3], str):
            addr = prop[3].strip()
            if _EMAIL.match(addr):
                local, _, domain = addr.rpartition("@")
                out.append(f"{local}@{domain.lower()}")
    return out


def abuse_emails(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """The e-mails of every entity with the `abuse` role below `obj`, once each, in order."""
    out: dict[str, str] = {}
    for entity in _walk(obj):
        roles = entity.get("roles")
        if isinstance(roles, list) and ABUSE_ROLE in roles:
            for addr in vcard_emails(entity):
                out.setdefault(addr.lower(), addr)
    return tuple(out.values())


def referrals(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """Links to a more specific registry's RDAP answer (`related`/`down`, RDAP media type)."""
    out = []
    for link in obj.get("links") or []:
        if (isinstance(link, dict) and link.get("rel") in REFERRAL_RELS
                and link.get("type") == RDAP_MEDIA_TYPE and isinstance(link.get("href"), str)
                and "/ip/" in link["href"]):
            out.append(link["href"])
    return tuple(out)


def parse_ip_answer(obj: Any, *, server: str = "") -> Answer:
    """An IP query's answer: its network, abuse addresses and referrals."""
    if not isinstance(obj, dict):
        raise NotNetwork("the answer is not a JSON object")
    return Answer(parse_network(obj, server=server), abuse_emails(obj), server, referrals(obj))


def most_specific(answers: Sequence[Answer]) -> Answer:
    """The answer to use among a referral chain: the smallest network with abuse addresses,
    else the smallest network."""
    if not answers:
        raise ValueError("no answers")
    with_contacts = [a for a in answers if a.emails]
    return min(with_contacts or answers, key=lambda a: a.network.size)
