"""IP addresses and networks as every door reads them: one parser, one canonical text form.

    parse_ip("192.0.2.1")             -> IPv4Address('192.0.2.1')
    parse_ip("::ffff:192.0.2.1")      -> IPv4Address('192.0.2.1')   (v4-mapped is IPv4)
    canonical_ip(" 2001:DB8::1 ")     -> '2001:db8::1'
    parse_key("192.0.2.0/24")         -> IPv4Network('192.0.2.0/24') (host bits must be zero)
    canonical("192.0.2.7/32")         -> '192.0.2.7'
    parse_literal("[IPv6:fe80::1%eth0]") -> IPv6Address('fe80::1')  (as mail headers write it)
    ipv6_text(0xffff_c000_0201)       -> '192.0.2.1'   (an IPv6 address as an integer)
    client_network("192.0.2.7")       -> '192.0.2.0/24' (rate limits count per client network)

The rules, the same for HTTP, SMTP, the CLI and the store: surrounding white space is
ignored; an IPv4-mapped IPv6 address `::ffff:a.b.c.d` is the IPv4 address a.b.c.d (and a
network inside ::ffff:0:0/96 the IPv4 network); IPv6 zone ids (`fe80::1%eth0`), NUL bytes and
anything else `ipaddress` refuses are `BadIP`. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
import socket

from mailrep.errors import BadInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


class BadIP(BadInput):
    """That is not an IPv4 or IPv6 address."""

    code = "bad_ip"


class BadNetwork(BadIP):
    """That is not an IPv4 or IPv6 network."""

    code = "bad_network"


def _clean(text: str, what: str) -> str:
    t = str(text).strip()
    if "\0" in t or "%" in t:
        raise (BadNetwork if what == "network" else BadIP)(
            f"{str(text)[:60]!r} is not an IPv4 or IPv6 {what} (zone ids and NUL bytes are not)")
    return t


def parse_ip(text: str) -> IPAddress:
    """An address from text; IPv4-mapped IPv6 becomes IPv4. `BadIP` when it is not one."""
    t = _clean(text, "address")
    try:
        ip = ipaddress.ip_address(t)
    except ValueError:
        raise BadIP(f"{str(text)[:60]!r} is not an IPv4 or IPv6 address") from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def parse_literal(text: str) -> IPAddress | None:
    """An address as mail headers write it (`[192.0.2.1]`, `IPv6:2001:db8::1`, `fe80::1%eth0`):
    brackets, the `IPv6:` prefix and a zone id are dropped, then `parse_ip`'s rule. None when
    it is not an address (trace reads hostile headers: no exception)."""
    t = text.strip()
    if t.startswith("[") and t.endswith("]"):
        t = t[1:-1]
    if t[:5].lower() == "ipv6:":
        t = t[5:]
    try:
        return parse_ip(t.split("%", 1)[0])
    except BadIP:
        return None


def ipv6_text(value: int) -> str:
    """The canonical text of the IPv6 address `value` (0..2**128-1); v4-mapped gives IPv4."""
    if value >> 32 == 0xFFFF:
        return socket.inet_ntoa((value & 0xFFFFFFFF).to_bytes(4, "big"))
    return str(ipaddress.IPv6Address(value))


def canonical_ip(text: str) -> str:
    """The canonical text of an address: '192.0.2.1', '2001:db8::1'."""
    if ":" not in text:
        try:  # a strict dotted quad (no spaces, no leading zeros) is already canonical
            socket.inet_pton(socket.AF_INET, text)
            return text
        except (OSError, ValueError):  # ValueError: a NUL byte, refused below
            pass
    return str(parse_ip(text))


def parse_network(text: str, *, strict: bool = True) -> IPNetwork:
    """A network in CIDR form (a bare address is its /32 or /128); with `strict`, host bits
    must be zero. A network inside ::ffff:0:0/96 becomes the IPv4 network. `BadNetwork`."""
    t = _clean(text, "network")
    try:
        net = ipaddress.ip_network(t, strict=strict)
    except ValueError:
        raise BadNetwork(f"{str(text)[:60]!r} is not an IPv4 or IPv6 network") from None
    if isinstance(net, ipaddress.IPv6Network) and net.prefixlen >= 96 and net.subnet_of(_MAPPED):
        mapped = net.network_address.ipv4_mapped
        assert mapped is not None
        return ipaddress.IPv4Network((mapped, net.prefixlen - 96))
    return net


def parse_key(text: str) -> IPAddress | IPNetwork:
    """A listing key: an address, or a network in CIDR form (host bits must be zero); a
    network of one address is that address."""
    text = str(text).strip()
    if "/" not in text:
        return parse_ip(text)
    net = parse_network(text)
    if net.num_addresses == 1:
        return net.network_address
    return net


def canonical(text: str) -> str:
    """The stored form of a listing key: '192.0.2.1', '2001:db8::1', '192.0.2.0/24'."""
    if "/" not in text:
        return canonical_ip(text)
    return str(parse_key(text))


def ipv4_int(text: str) -> int:
    """A dotted quad as an integer, by `inet_pton` (no `ipaddress` object): the fast path for
    recomputing many stored keys. BadIP when `text` is not exactly a dotted quad."""
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError) as e:  # ValueError: a NUL byte
        raise BadIP(f"{text[:60]!r} is not an IPv4 or IPv6 address") from e


def parse_hostport(spec: str, default_port: int, *, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """A listening or peer address: 'host:port', 'host/port' (rbldnsd's -b), '[v6]:port',
    '[v6]/port', 'v6/port', 'host', ':port' -> (host, port); BadInput on a bad port."""
    s = spec.strip()
    if s.startswith("["):
        host, _, rest = s[1:].partition("]")
        port_s = rest.lstrip(":/")
    elif "/" in s:
        host, _, port_s = s.rpartition("/")
    elif s.count(":") == 1:
        host, _, port_s = s.partition(":")
    else:
        host, port_s = s, ""
    try:
        port = int(port_s) if port_s else default_port
    except ValueError:
        raise BadInput(f"bad address {spec!r}: the port must be a number") from None
    if not 0 <= port <= 65535:
        raise BadInput(f"bad address {spec!r}: port out of range")
    return host or default_host, port
def client_network(host: str, *, v4_prefix: int = 24, v6_prefix: int = 56) -> str:
    """The network a rate limit counts `host` in: its /24 (IPv4) or /56 (IPv6), v4-mapped as
    IPv4. A host that is not an address (a test client's name, a Unix socket) is itself."""
    try:
        ip = parse_ip(host)
    except BadIP:
        return host
    prefix = v4_prefix if ip.version == 4 else v6_prefix
    return str(ipaddress.ip_network((ip, prefix), strict=False))
