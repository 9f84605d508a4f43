"""outbound.rdap over every RDAP answer and bootstrap file of the corpus.

The expectations below were read off the JSON by hand: which entity carries the `abuse` role
(top-level, nested in the registrant, or one entity with several roles), its vCard e-mails,
and the start/end addresses as the registry wrote them.
"""

from __future__ import annotations

import json

import pytest

from mailrep.outbound.rdap import (
    Answer,
    BootstrapError,
    IpBootstrap,
    Network,
    NoServer,
    NotNetwork,
    abuse_emails,
    most_specific,
    parse_bootstrap,
    parse_ip_answer,
    query_url,
)

BT = ("zzdnsr@bt.com", "steve.a.marshall@bt.com", "lee.bailey-hague@bt.com")

# file -> (CIDRs, registry, abuse e-mails); () where the answer has no abuse role at all
IP_ANSWERS = {
    # RIPE: top-level abuse entity BTCR3-RIPE with three e-mails; start written as .../32
    "ipwhois/ip_62.239.237.1.json": (("62.239.237.0/24",), "RIPE NCC", BT),
    "ipwhois/ip_2a00_2381_ffff__1.json": (("2a00:2381:ffff::/64",), "RIPE NCC", BT),
    # APNIC: IRT object with role abuse (the same address twice); DB50-AP's abuse@bora.net is
    # a technical/administrative contact and must not be used
    "ipwhois/ip_210.107.73.73.json": (("210.107.0.0/17",), "APNIC", ("hostmaster@nic.or.kr",)),
    # APNIC/JPNIC: only technical and administrative contacts
    "ipwhois/ip_2001_240_10c_1__ca20_9d1d.json": (("2001:240::/32",), "APNIC", ()),
    # AFRINIC 2016: entities carry no roles at all; the range is not one CIDR
    "ipwhois/ip_196.11.240.215.json": (
        ("196.11.239.0/24", "196.11.240.0/22", "196.11.244.0/23", "196.11.246.0/24"), "AFRINIC", ()),
    "ipwhois/ip_2001_43f8_7b0__.json": (("2001:43f8:7b0::/48",), "AFRINIC", ()),
    # LACNIC: one entity with roles administrative, technical, abuse (domain lower-cased)
    "ipwhois/ip_200.57.141.161.json": (("200.57.141.161/32",), "LACNIC", ("operacion.redes@triara.com",)),
    "ipwhois/ip_2801_10_c000__.json": (("2801:10:c000::/128",), "LACNIC", ("sistemas.red@uco.edu.co",)),
    # ARIN: abuse nested in the registrant GOGL; addresses written 074.125.000.000
    "ipwhois/ip_74.125.225.229.json": (("74.125.0.0/16",), "ARIN", ("arin-contact@google.com",)),
    "ipwhois/ip_2001_4860_4860__8888.json": (("2001:4860::/32",), "ARIN", ("arin-contact@google.com",)),
    # whoisit: APNIC IRT abuse entity, cidr0_cidrs
    "whoisit/data_rdap_response_ip_v4.json": (("1.1.1.0/24",), "APNIC", ("helpdesk@apnic.net",)),
    "whoisit/data_rdap_response_cidr_v4.json": (("1.1.1.0/24",), "APNIC", ("helpdesk@apnic.net",)),
    # RIPE: abuse e-mail with the vCard parameter type=abuse, twice
    "whoisit/data_rdap_response_ip_v4_2.json": (("130.59.0.0/16",), "RIPE NCC", ("abuse@switch.ch",)),
    # ARIN: ABUSE5250-ARIN nested in the registrant, and the top-level ZG39-ARIN that also
    # carries the abuse role: both are abuse contacts, in document order
    "whoisit/data_rdap_response_ip_v6.json": (
        ("2001:4860::/32",), "ARIN", ("network-abuse@google.com", "arin-contact@google.com")),
    "whoisit/data_rdap_response_cidr_v6.json": (
        ("2001:4860::/32",), "ARIN", ("network-abuse@google.com", "arin-contact@google.com")),
}

# answers that are not IP networks: the abuse search still works on them
OTHER_ANSWERS = {
    "whoisit/data_rdap_response_asn.json": ("abuse@cloudflare.com",),
    "whoisit/data_rdap_response_entity.json": ("support@govital.net",),
    "ipwhois/entity.json": (),  # the entity itself has no roles and no sub-entities
}


def _load(corpus, rel):
    return json.loads((corpus / "rdap" / rel).read_text())


def test_the_table_covers_every_answer_in_the_corpus(corpus):
    files = {str(p.relative_to(corpus / "rdap")) for p in (corpus / "rdap").glob("*/*.json")
             if p.parent.name != "bootstrap" and p.name != "data_bootstrap.json"}
    assert files == set(IP_ANSWERS) | set(OTHER_ANSWERS)


@pytest.mark.parametrize("rel", sorted(IP_ANSWERS))
def test_ip_answer_resolves_to_the_expected_abuse_addresses(corpus, rel):
    cidrs, registry, emails = IP_ANSWERS[rel]
    answer = parse_ip_answer(_load(corpus, rel))
    assert answer.network.cidrs == cidrs
    assert answer.network.registry == registry
    assert answer.emails == emails


@pytest.mark.parametrize("rel", sorted(OTHER_ANSWERS))
def test_other_answers_are_not_networks_but_their_abuse_contacts_are_found(corpus, rel):
    obj = _load(corpus, rel)
    with pytest.raises(NotNetwork):
        parse_ip_answer(obj)
    assert abuse_emails(obj) == OTHER_ANSWERS[rel]


def test_network_contains_and_names():
    answer = parse_ip_answer({"objectClassName": "ip network", "startAddress": "192.0.2.0",
                              "endAddress": "192.0.2.255", "name": "TEST-NET", "port43": "whois.ripe.net"})
    assert answer.network.contains("192.0.2.77") and not answer.network.contains("192.0.3.1")
    assert not answer.network.contains("2001:db8::1")
    assert (answer.network.name, answer.network.registry, answer.network.cidr) == ("TEST-NET", "RIPE NCC", "192.0.2.0/24")


def test_most_specific_prefers_the_smallest_network_with_contacts():
    big = Answer(Network("10.0.0.0", "10.255.255.255", ("10.0.0.0/8",)), ("a@big.example",))
    small = Answer(Network("10.1.0.0", "10.1.0.255", ("10.1.0.0/24",)), ("a@small.example",))
    bare = Answer(Network("10.1.0.0", "10.1.0.15", ("10.1.0.0/28",)), ())
    assert most_specific([big, small, bare]) is small
    assert most_specific([bare]) is bare


def test_referrals_are_rdap_links_to_ip_answers():
    obj = {"objectClassName": "ip network", "startAddress": "192.0.2.0", "endAddress": "192.0.2.255",
           "links": [{"rel": "self", "href": "https://a.example/ip/192.0.2.0", "type": "application/rdap+json"},
                     {"rel": "related", "href": "https://b.example/rdap/ip/192.0.2.0/24", "type": "application/rdap+json"},
                     {"rel": "related", "href": "https://netox.example/search", "type": "text/html"}]}
    assert parse_ip_answer(obj).referrals == ("https://b.example/rdap/ip/192.0.2.0/24",)


def test_hostile_entity_nesting_is_bounded():
    obj: dict = {"entities": []}
    node = obj
    for _ in range(10_000):
        child: dict = {"roles": ["abuse"], "vcardArray": ["vcard", [["email", {}, "text", "x@deep.example"]]], "entities": []}
        node["entities"].append(child)
        node = child
    assert abuse_emails(obj) == ("x@deep.example",)


# --- bootstrap --------------------------------------------------------------------------------

# corpus IP -> the registry's base URL in the 2015 IANA snapshot (ARIN's lacks the trailing /)
SERVERS = {
    "62.239.237.1": "https://rdap.db.ripe.net/",
    "2a00:2381:ffff::1": "https://rdap.db.ripe.net/",
    "210.107.73.73": "https://rdap.apnic.net/",
    "2001:240:10c:1::ca20:9d1d": "https://rdap.apnic.net/",
    "196.11.240.215": "https://rdap.afrinic.net/rdap/",
    "2001:43f8:7b0::": "https://rdap.afrinic.net/rdap/",
    "200.57.141.161": "https://rdap.lacnic.net/rdap/",
    "2801:10:c000::": "https://rdap.lacnic.net/rdap/",
    "74.125.225.229": "https://rdap.arin.net/registry/",
    "2001:4860:4860::8888": "https://rdap.arin.net/registry/",
}


@pytest.fixture(scope="module")
def iana(corpus):
    files = [parse_bootstrap((corpus / "rdap" / "bootstrap" / f).read_bytes()) for f in ("ipv4.json", "ipv6.json")]
    return IpBootstrap.of(*files)


@pytest.mark.parametrize("ip", sorted(SERVERS))
def test_bootstrap_finds_each_registry(iana, ip):
    assert iana.server_for(ip) == SERVERS[ip]


def test_query_url_and_unregistered_space(iana):
    assert query_url("https://rdap.arin.net/registry", "74.125.0.1") == "https://rdap.arin.net/registry/ip/74.125.0.1"
    with pytest.raises(NoServer):
        iana.server_for("10.0.0.1")


def test_whoisit_snapshot_members_are_bootstrap_files(corpus):
    snap = json.loads((corpus / "rdap" / "whoisit" / "data_bootstrap.json").read_text())
    boot = IpBootstrap.of(parse_bootstrap(json.dumps(snap["ipv4"])), parse_bootstrap(json.dumps(snap["ipv6"])))
    assert boot.server_for("1.1.1.1") == "https://rdap.apnic.net/"


MALFORMED = {
    "dns_empty.json": "is empty",
    "dns_syntax_error.json": "is not JSON",
    "dns_bad_services.json": "service 4: not an [entries, URLs] pair: []",
    "dns_bad_url.json": "service 3: 'http://example.org/%%' has a bad %-escape",
}


def test_every_malformed_bootstrap_file_is_listed(corpus):
    assert {p.name for p in (corpus / "rdap" / "bootstrap" / "malformed").iterdir()} == set(MALFORMED)


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_bootstrap_files_give_a_clear_error(corpus, name):
    path = corpus / "rdap" / "bootstrap" / "malformed" / name
    with pytest.raises(BootstrapError) as e:
        parse_bootstrap(path.read_bytes(), name=name)
    assert str(e.value).startswith(name)
    assert MALFORMED[name] in str(e.value)


def test_bootstrap_entries_that_are_not_prefixes_fail_for_ip_use(corpus):
    dns = parse_bootstrap((corpus / "rdap" / "bootstrap" / "dns.json").read_bytes())
    with pytest.raises(BootstrapError, match="not an IP prefix"):
        IpBootstrap.of(dns)
