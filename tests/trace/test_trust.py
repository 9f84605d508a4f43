"""Trust path: SpamAssassin's 32 trust_path.t cases, rspamd's external_relay cases, mailhost
syntax, network sets."""

from __future__ import annotations

import ipaddress
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailrep.trace import TrustConfig, trace_message
from mailrep.trace.trust import (
    BadNetwork,
    NetSet,
    is_reserved,
    is_sa_private,
    name_matches,
    parse_network,
)


def _sa_cases(corpus):
    return json.loads((corpus / "trust" / "sa_trust_cases.json").read_text())["cases"]


def test_sa_trust_path_cases(corpus):
    """All 32 cases of SpamAssassin's t/trust_path.t: trusted/untrusted lists, intl and msa."""
    failures = []
    cases = _sa_cases(corpus)
    assert len(cases) == 32
    for case in cases:
        cfg = case["config"]
        config = TrustConfig.from_sa(
            trusted_networks=cfg.get("trusted_networks"), internal_networks=cfg.get("internal_networks"),
            msa_networks=cfg.get("msa_networks"),
        )
        t = trace_message(case["headers"] + "\nSubject: trust case\n\nbody\n", config=config)
        got_t = [(str(ipaddress.ip_address(h.ip)), int(h.internal), int(h.msa)) for h in t.hops if h.trusted]
        got_u = [str(ipaddress.ip_address(h.ip)) for h in t.hops if not h.trusted]
        want_t = [(str(ipaddress.ip_address(r["ip"])), int(r["intl"]), int(r["msa"])) for r in case["expected_trusted"]]
        want_u = [str(ipaddress.ip_address(r["ip"])) for r in case["expected_untrusted"]]
        if (got_t, got_u) != (want_t, want_u):
            failures.append(f"#{case['n']} {case['comment']!r}: got {got_t} / {got_u}, want {want_t} / {want_u}")
        want_source = want_u[0] if want_u else None
        if t.source_ip != want_source:
            failures.append(f"#{case['n']}: source {t.source_ip}, want {want_source}")
    assert not failures, "\n".join(failures)


def _rspamd_config(case):
    """Each rspamd strategy expressed as our TrustConfig."""
    strategy, sc = case["strategy"], case["strategy_config"]
    if strategy == "authenticated":
        return TrustConfig()  # inference: authenticated relays are trusted
    if strategy == "count":
        return TrustConfig(trusted_received=sc["count"] - 1)
    if strategy == "hostname_map":
        return TrustConfig.from_mailhosts(" ".join(sc["hostname_map"]))
    if strategy == "ip_map":
        return TrustConfig.from_mailhosts("|".join(sc["ip_map"]))
    if strategy == "local":
        return TrustConfig()
    raise AssertionError(strategy)


def test_rspamd_external_relay_cases(corpus):
    d = corpus / "trust" / "rspamd_external_relay"
    cases = json.loads((d / "rspamd_external_relay_cases.json").read_text())["cases"]
    assert len(cases) == 5
    failures = []
    for case in cases:
        raw = (d / "messages" / case["message"].rsplit("/", 1)[-1]).read_bytes()
        t = trace_message(raw, config=_rspamd_config(case))
        want = case["expected"]
        src = t.source
        # rspamd's hostname is the Received from_hostname (rDNS, else HELO), and the test's
        # HELO is set to that same from_hostname
        name = (src.relay.rdns or src.relay.helo) if src else None
        if (t.source_ip, name) != (want["ip"], want["hostname"]) or want["helo"] != want["hostname"]:
            failures.append(f"{case['name']}: got {t.source_ip} {name}, want {want}")
    assert not failures, "\n".join(failures)


def test_hostname_map_needs_the_names():
    """Without the names, the same message's source is the first public unauthenticated relay."""
    raw = (
        b"Received: from a.example.org ([4.31.198.44]) by lame.example.net with ESMTP id 1; Tue, 7 May 2019 14:01:04 -0700\n"
        b"Received: from mail.example.com ([192.0.2.1]) by a.example.org with ESMTP id 2; Tue, 7 May 2019 14:01:03 -0700\n\n"
    )
    assert trace_message(raw, config=TrustConfig.from_mailhosts("10.0.0.0/8")).source_ip == "4.31.198.44"
    assert trace_message(raw, config=TrustConfig.from_mailhosts("a.example.org")).source_ip == "192.0.2.1"
    assert trace_message(raw, config=TrustConfig.from_mailhosts(".example.org")).source_ip == "192.0.2.1"
    assert trace_message(raw, config=TrustConfig.from_mailhosts("*.example.org")).source_ip == "192.0.2.1"
    assert trace_message(raw, config=TrustConfig.from_mailhosts("4.31.198.0/24")).source_ip == "192.0.2.1"


@pytest.mark.parametrize(
    ("text", "net"),
    [
        ("10.", "10.0.0.0/8"), ("127/8", "127.0.0.0/8"), ("1.2/16", "1.2.0.0/16"), ("1.2.3", "1.2.3.0/24"),
        ("1.2.2.1", "1.2.2.1/32"), ("192.0.2.0/24", "192.0.2.0/24"), ("192.0.2.7/24", "192.0.2.0/24"),
        ("DEAD:BEEF:0000:0102:0304:0506:0708:0000/108", "dead:beef:0:102:304:506:700:0/108"),
        ("[2001:db8::1]", "2001:db8::1/128"), ("IPv6:2001:db8::/32", "2001:db8::/32"),
    ],
)
def test_parse_network(text, net):
    assert str(parse_network(text)) == net


@pytest.mark.parametrize("text", ["", "mx.example.com", "1.2.3.4/33", "300.1.1.1", "::g", "1..2"])
def test_parse_network_rejects(text):
    with pytest.raises(BadNetwork):
        parse_network(text)


@pytest.mark.parametrize(
    ("spec", "nets", "names"),
    [
        ("192.0.2.0/24 mx.example.com", ["192.0.2.0/24"], ("mx.example.com",)),
        ("192.0.2.1|*.Example.COM|.example.net", ["192.0.2.1/32"], (".example.com", ".example.net")),
        ("2001:db8::/32,  mx1.example.org.", ["2001:db8::/32"], ("mx1.example.org",)),
    ],
)
def test_mailhosts_syntax(spec, nets, names):
    c = TrustConfig.from_mailhosts(spec)
    assert c.trusted_networks is not None
    assert [str(n) for n, _ in c.trusted_networks.entries][2:] == nets  # after implicit 127/8, ::1
    assert c.mailhost_names == names
    assert not c.infers


@pytest.mark.parametrize("spec", ["", "  | ", "bad_host!", "-x.example.com", "a..b"])
def test_mailhosts_rejects(spec):
    with pytest.raises(BadNetwork):
        TrustConfig.from_mailhosts(spec)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("mx.example.com", "mx.example.com"), ("MX.Example.com.", "mx.example.com"),
        ("a.b.example.net", ".example.net"), ("example.net", None), ("notexample.net", None),
        ("", None), ("mx.example.com.evil.org", None),
    ],
)
def test_name_matches(name, match):
    assert name_matches(name, ("mx.example.com", ".example.net")) == match


def test_netset_first_match_wins():
    assert NetSet.parse(["1.2/16", "!1.2/16"]).contains("1.2.3.4")
    assert not NetSet.parse(["!1/8", "1/8"]).contains("1.1.1.1")
    assert NetSet.parse(["!1.2/16"], implicit=True).contains("127.0.0.1")  # 127/8 always first
    assert NetSet.parse([], implicit=True).contains("::1")
    assert NetSet.parse(["10/8"]).contains("::ffff:10.1.2.3")  # IPv4-mapped IPv6
    assert not NetSet.parse(["10/8"]).contains("not an ip")


@given(st.ip_addresses(), st.integers(0, 128), st.integers(0, 2**128 - 1))
def test_netset_agrees_with_ipaddress(ip, bits, noise):
    bits = min(bits, ip.max_prefixlen)
    net = ipaddress.ip_network(f"{ip}/{bits}", strict=False)
    s = NetSet.parse([str(net)])
    assert s.contains(str(ip)) or (ip.version == 6 and ip.ipv4_mapped is not None)
    # flip some of the low (host) bits, or bits anywhere
    other = ipaddress.ip_address(int(ip) ^ (noise % (1 << ip.max_prefixlen)))
    if (other.version == 6 and other.ipv4_mapped is not None) or (ip.version == 6 and ip.ipv4_mapped is not None):
        return  # mapped addresses are compared as IPv4
    assert s.contains(str(other)) == (other in net)


@pytest.mark.parametrize(
    ("ip", "private", "reserved"),
    [
        ("10.1.1.1", True, True), ("127.0.0.1", True, True), ("172.31.0.1", True, True),
        ("172.32.0.1", False, False), ("100.64.0.1", True, True), ("192.0.2.1", False, True),
        ("8.8.8.8", False, False), ("fe80::1", True, True), ("::1", True, True),
        ("fc00::1", False, True), ("2001:db8::1", False, True), ("2a00:1450::1", False, False),
        ("::ffff:192.168.1.1", True, True), ("224.0.0.1", False, True), ("0.0.0.0", False, True),
    ],
)
def test_private_and_reserved(ip, private, reserved):
    assert is_sa_private(ip) == private
    assert is_reserved(ip) == reserved


def test_from_section():
    c = TrustConfig.from_section({"mailhosts": ["192.0.2.0/24", "mx.example.com"]})
    assert c.mailhost_names == ("mx.example.com",)
    c = TrustConfig.from_section({"trusted_networks": "10/8", "msa_networks": ["10.1.1.1"], "originating_headers": []})
    assert c.trusted_networks is not None and c.trusted_networks.contains("10.2.2.2")
    assert c.msa_networks.contains("10.1.1.1") and c.originating_headers == ()
    assert TrustConfig.from_section({}).infers
    with pytest.raises(BadNetwork):
        TrustConfig.from_section({"trusted_networks": ["nonsense/99"]})


def test_section_refuses_mailhosts_with_sa_networks():
    from mailrep.errors import BadInput

    with pytest.raises(BadInput, match="not both"):
        TrustConfig.from_section({"mailhosts": ["mx.example.com"], "trusted_networks": ["10/8"]})
    with pytest.raises(BadInput):
        TrustConfig.from_section({"trusted_received": -1})


# ---- properties of the walk -----------------------------------------------------------------

_IPS = st.sampled_from(["10.0.0.1", "127.0.0.1", "192.168.1.1", "8.8.8.8", "1.1.1.1", "1.2.3.4",
                        "2001:db8::1", "fe80::1", "::1", "203.0.113.5", "100.64.0.1", "172.16.0.1"])


@st.composite
def _hops(draw):
    from mailrep.trace import Hop, Relay

    n = draw(st.integers(0, 8))
    hops = []
    for i in range(n):
        relay = Relay(ip=draw(_IPS), rdns="", helo="", by="", ident="", envfrom="", id="",
                      auth=draw(st.sampled_from(["", "", "", "ESMTPA"])), date=None, raw="")
        hops.append(Hop(relay=relay, position=i))
    return hops


def _fresh(hops):
    from mailrep.trace import Hop

    return [Hop(relay=h.relay, position=h.position) for h in hops]


@given(_hops())
def test_walk_inference_is_a_prefix_of_private_or_authenticated(hops):
    from mailrep.trace.chain import walk

    source, _ = walk(hops, TrustConfig())
    ok = [is_sa_private(h.ip) or bool(h.relay.auth) for h in hops]
    expected = next((i for i, good in enumerate(ok) if not good), None)
    assert source == expected
    assert [h.trusted for h in hops] == [expected is None or i < expected for i in range(len(hops))]
    assert all(h.why for h in hops)


@given(_hops(), st.lists(_IPS, max_size=4), _IPS)
def test_walk_trusting_more_never_moves_the_source_up(hops, nets, extra):
    from mailrep.trace.chain import walk

    def depth(networks):
        source, _ = walk(_fresh(hops), TrustConfig.from_sa(trusted_networks=networks))
        return len(hops) if source is None else source

    assert depth([*nets, extra]) >= depth(nets)
    # mailhosts networks trust at least what the same SpamAssassin trusted_networks trust
    source, _ = walk(_fresh(hops), TrustConfig.from_mailhosts([*nets, extra]))
    assert (len(hops) if source is None else source) >= depth([*nets, extra])
