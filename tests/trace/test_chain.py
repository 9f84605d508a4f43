"""Whole chains: SpamAssassin's chain messages, the chain test by mailhost names, MSA,
webmail originating IPs, forgery flags."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from mailrep.trace import TrustConfig, trace_message
from mailrep.trace.trust import DEFAULT_ORIGINATING_HEADERS

NOW = datetime(2010, 10, 12, tzinfo=UTC)


def rcvd(helo: str, ip: str, by: str, *, date: str = "Mon, 11 Oct 2010 14:00:00 +0000", rdns: str | None = None, proto: str = "ESMTP") -> str:
    rdns = helo if rdns is None else rdns
    return f"Received: from {helo} ({rdns} [{ip}]) by {by} (Postfix) with {proto} id AB12CD34; {date}\n"


def msg(*received: str, extra: str = "") -> bytes:
    return ("".join(received) + extra + "Subject: chain\n\nbody\n").encode()


def codes(t) -> list[str]:
    return [f.code for f in t.flags]


# ---- SpamAssassin's whole-message cases ---------------------------------------------------


def test_sa_dnsbl_chain(corpus):
    cases = json.loads((corpus / "trust" / "sa_chain_cases.json").read_text())["cases"]
    case = next(c for c in cases if c["name"] == "dnsbl.t chain")
    raw = (corpus / "trust" / case["message"]).read_bytes()
    oracle = case["sa_4_0_1_oracle"]
    for config in (
        TrustConfig.from_sa(trusted_networks=case["config"]["trusted_networks"]),
        TrustConfig.from_mailhosts("10.0.0.0/8|150.51.53.1"),
        # the same relays named: dmz.example.com hands over to internal.example.com
        TrustConfig.from_mailhosts("dmz.example.com"),
    ):
        t = trace_message(raw, config=config)
        assert [h.ip for h in t.hops if h.trusted] == oracle["relays_trusted"]
        assert [h.ip for h in t.hops if not h.trusted] == oracle["relays_untrusted"]
        assert t.source_ip == oracle["last_external_ip"]
        assert set(case["test_asserts"]["dnsbl_queried_ips"]) <= {h.ip for h in t.hops}
        assert "chain_break" not in codes(t)


@pytest.mark.parametrize(
    ("headers", "present", "absent"),
    [
        (("X-Yahoo-Post-IP", "X-Apparently-From", "X-Originating-IP", "X-SenderIP"), ["198.51.100.1"], ["198.51.100.2"]),
        (("X-Yahoo-Post-IP", "X-Apparently-From", "X-Originating-IP", "X-SenderIP", "X-Testing-Ip"), ["198.51.100.1", "198.51.100.2"], []),
        ((), [], ["198.51.100.1", "198.51.100.2"]),
    ],
)
def test_sa_originating_ip_headers(corpus, headers, present, absent):
    raw = (corpus / "trust" / "sa_chain" / "orig_ip_hdr.eml").read_bytes()
    t = trace_message(raw, config=TrustConfig(originating_headers=headers))
    external = [h.ip for h in t.hops if not h.internal]
    assert all(ip in external for ip in present)
    assert not any(ip in external for ip in absent)
    assert t.source_ip == "64.142.3.173"  # the Received chain is untrusted: webmail IPs come after


def test_originating_ip_is_the_source_behind_trusted_webmail():
    raw = msg(
        rcvd("mx.example.net", "10.1.1.1", "inbox.example.net"),
        rcvd("webmail.example.net", "203.0.113.9", "mx.example.net"),
        extra="X-Originating-IP: [2001:db8:1::7]\n",
    )
    t = trace_message(raw, config=TrustConfig.from_mailhosts("10.0.0.0/8 203.0.113.0/24"))
    assert t.source_ip == "2001:db8:1::7"
    assert "X-Originating-IP" in t.source_reason
    assert t.to_dict()["hops"][-1]["header"] == "X-Originating-IP"
    # the first address counts, garbage does not
    t = trace_message(msg(extra="X-Originating-IP: none here, 999.1.1.1\n"))
    assert t.source_ip is None and t.hops == []


# ---- the chain test by mailhost names -------------------------------------------------------


def test_chain_follows_named_mailhosts_through_internal_handoffs():
    raw = msg(
        rcvd("mx2.example.org", "198.51.100.20", "inbox.example.org"),
        rcvd("filter", "203.0.113.77", "localhost"),  # content filter hand-off, local name
        rcvd("localhost", "127.0.0.1", "mx2.example.org"),
        rcvd("evil.example.com", "203.0.113.66", "mx2.example.org"),
    )
    t = trace_message(raw, config=TrustConfig.from_mailhosts("mx2.example.org"))
    assert t.source_ip == "203.0.113.66"
    assert [h.trusted for h in t.hops] == [True, True, True, False]
    assert "internal hand-off" in t.hops[1].why
    assert "chain_break" not in codes(t)


def test_chain_break_ends_trust():
    raw = msg(
        rcvd("mx2.example.org", "198.51.100.20", "inbox.example.org"),
        rcvd("liar.example.com", "203.0.113.5", "relay.elsewhere.example"),
        rcvd("evil.example.com", "203.0.113.66", "mx2.example.org"),
    )
    t = trace_message(raw, config=TrustConfig.from_mailhosts("mx2.example.org"))
    assert t.source_ip == "203.0.113.5"
    assert "chain_break" in codes(t)
    assert "chain test failed" in t.hops[1].why
    # by networks there is no chain test: the same message traces by IP
    t = trace_message(raw, config=TrustConfig.from_mailhosts("198.51.100.0/24"))
    assert t.source_ip == "203.0.113.5" and "chain_break" not in codes(t)


@pytest.mark.parametrize(
    ("by", "ok"),
    [("mx2.example.org", True), ("MX2.EXAMPLE.ORG.", True), ("[198.51.100.20]", True),
     ("198.51.100.20", True), ("other.example.org", False), ("198.51.100.21", False)],
)
def test_chain_accepts_the_senders_names_and_ip(by, ok):
    raw = msg(
        rcvd("mx2.example.org", "198.51.100.20", "inbox.example.org"),
        rcvd("evil.example.com", "203.0.113.66", by),
    )
    t = trace_message(raw, config=TrustConfig.from_mailhosts("mx2.example.org"))
    assert t.source_ip == "203.0.113.66"
    assert ("chain_break" not in codes(t)) == ok


def test_helo_alone_does_not_reach_past_a_broken_chain():
    """A spammer who HELOs as a mailhost is caught by the chain test when nothing below agrees."""
    raw = msg(rcvd("mx2.example.org", "203.0.113.66", "inbox.example.org", rdns="unknown"),
              rcvd("x.example.com", "192.0.2.44", "elsewhere.example.com"))
    t = trace_message(raw, config=TrustConfig.from_mailhosts("mx2.example.org"))
    assert t.source_ip == "192.0.2.44"
    assert "chain_break" in codes(t)


# ---- MSA, authentication, hop counts --------------------------------------------------------


def test_msa_and_auth():
    raw = msg(
        rcvd("smtp.example.org", "192.0.2.10", "mx.example.org"),
        rcvd("laptop", "203.0.113.50", "smtp.example.org", proto="ESMTPSA"),
        rcvd("nat", "198.51.100.99", "laptop"),
    )
    # the authenticated hop is trusted; what it says about its own sender is not checked further
    assert trace_message(raw, config=TrustConfig.from_sa(trusted_networks=["192.0.2.0/24"])).source_ip == "198.51.100.99"
    t = trace_message(raw, config=TrustConfig.from_sa(trusted_networks=["192.0.2.0/24"], msa_networks=["192.0.2.10"]))
    assert t.source_ip is None and all(h.trusted for h in t.hops) and t.hops[0].msa
    t = trace_message(raw)
    assert t.source_ip == "192.0.2.10"  # inference: public, not authenticated


def test_trusted_received_counts_every_header():
    raw = msg("Received: garbage\n", rcvd("a", "192.0.2.1", "b"), rcvd("c", "192.0.2.2", "a"))
    assert trace_message(raw, config=TrustConfig(trusted_received=2)).source_ip == "192.0.2.2"
    assert trace_message(raw, config=TrustConfig(trusted_received=1)).source_ip == "192.0.2.1"
    assert trace_message(raw, config=TrustConfig(trusted_received=5)).source_ip is None


def test_no_relays_and_all_trusted():
    t = trace_message(msg())
    assert t.source_ip is None and "no Received" in t.source_reason
    t = trace_message(msg(rcvd("a", "10.0.0.1", "b")))
    assert t.source_ip is None and "every relay is trusted" in t.source_reason


# ---- forgery flags --------------------------------------------------------------------------


def test_reserved_ips_in_the_untrusted_part_are_flagged():
    raw = msg(
        rcvd("mx", "10.0.0.1", "inbox"),
        rcvd("spammer", "203.0.113.9", "mx"),  # TEST-NET-3 is reserved
        rcvd("forged", "192.168.7.7", "spammer"),
        rcvd("bogon", "240.1.2.3", "forged"),
        rcvd("real", "8.8.8.8", "bogon"),
    )
    t = trace_message(raw)
    reserved = [f.detail for f in t.flags if f.code == "reserved_ip"]
    private = [f.detail for f in t.flags if f.code == "private_ip"]
    assert len(reserved) == 2
    assert "the source" in reserved[0] and "203.0.113.9" in reserved[0]
    assert "hop 4" in reserved[1] and "240.1.2.3" in reserved[1]
    assert len(private) == 1 and "192.168.7.7" in private[0]
    # private addresses above the source (trusted) are never flagged
    assert not any("10.0.0.1" in d for d in reserved + private)


def test_legitimate_public_chain_has_no_address_flags():
    t = trace_message(msg(rcvd("mx", "10.0.0.1", "inbox"), rcvd("out.example.net", "8.8.8.8", "mx"), rcvd("client", "8.8.4.4", "out.example.net")))
    assert not {"reserved_ip", "private_ip"} & set(codes(t))


def test_dates_out_of_order_and_in_the_future():
    raw = msg(
        rcvd("a", "10.0.0.1", "inbox", date="Mon, 11 Oct 2010 14:00:00 +0000"),
        rcvd("b", "8.8.8.8", "a", date="Mon, 11 Oct 2010 14:30:00 +0000"),  # within the skew
        rcvd("c", "8.8.4.4", "b", date="Mon, 11 Oct 2010 18:00:00 +0000"),  # hours after the newer hop
        rcvd("d", "1.1.1.1", "c", date="Tue, 12 Oct 2010 09:00:00 +0000"),  # after NOW + skew
    )
    t = trace_message(raw, now=NOW)
    order = [f.detail for f in t.flags if f.code == "date_order"]
    future = [f.detail for f in t.flags if f.code == "date_future"]
    assert len(order) == 2 and order[0].startswith("hop 3")
    assert len(future) == 1 and future[0].startswith("hop 4")
    assert "date_future" not in codes(trace_message(raw))  # no clock, no future check


def test_unparseable_received_is_flagged():
    t = trace_message(msg("Received: from garbage\n", rcvd("a", "8.8.8.8", "b")))
    assert "unparseable_received" in codes(t)
    assert t.source_ip == "8.8.8.8"


def test_ipv6_everywhere():
    raw = msg(
        rcvd("mx", "IPv6:fe80::1", "inbox"),
        rcvd("out.example.net", "IPv6:2001:DB8:0:0::25", "mx"),
    )
    t = trace_message(raw)
    assert t.source_ip == "2001:db8::25"
    t = trace_message(raw, config=TrustConfig.from_mailhosts("fe80::/10 2001:db8::/48"))
    assert t.source_ip is None


def test_default_originating_headers_match_spamassassin_update_list():
    assert "X-Originating-IP" in DEFAULT_ORIGINATING_HEADERS
    assert len(set(h.lower() for h in DEFAULT_ORIGINATING_HEADERS)) == len(DEFAULT_ORIGINATING_HEADERS)


def test_mailhosts_trust_private_relays_sa_networks_do_not():
    raw = msg(
        rcvd("filter.corp", "10.0.0.9", "inbox.example.org"),
        rcvd("mx2.example.org", "fd00:1::25", "filter.corp"),
        rcvd("evil.example.com", "203.0.113.66", "mx2.example.org"),
    )
    t = trace_message(raw, config=TrustConfig.from_mailhosts("mx2.example.org"))
    assert t.source_ip == "203.0.113.66"
    assert "private address" in t.hops[0].why
    assert "mailhost" in t.hops[1].why  # matched by name before the ULA rule
    t = trace_message(raw, config=TrustConfig.from_mailhosts("192.0.2.0/24"))
    assert t.source_ip == "203.0.113.66"  # 10.0.0.9 private, fd00:1::25 unique-local
    # SpamAssassin semantics: configured trusted_networks replace inference entirely
    assert trace_message(raw, config=TrustConfig.from_sa(trusted_networks=["192.0.2.0/24"])).source_ip == "10.0.0.9"
    assert trace_message(raw).source_ip == "fd00:1::25"  # SA's IP_PRIVATE has no fc00::/7


def test_chain_accepts_a_short_name_and_does_not_skip_past_it():
    """`by mx2` is mx2.example.org naming itself: the hop it wrote is read, not skipped as an
    internal hand-off (which would let a forged `by mx2.example.org` header below win)."""
    raw = msg(
        rcvd("mx2.example.org", "198.51.100.20", "inbox.example.org"),
        rcvd("real.example.net", "203.0.113.66", "mx2"),
        rcvd("forged.example.com", "192.0.2.99", "mx2.example.org"),
    )
    t = trace_message(raw, config=TrustConfig.from_mailhosts("mx2.example.org"))
    assert t.source_ip == "203.0.113.66"
    assert "chain_break" not in codes(t)
